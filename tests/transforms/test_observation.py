"""Partial observations: each mode keeps exactly the intended voxels, and nothing unobserved is taken for background."""

from __future__ import annotations

import ast

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import TINY_TRAINING, bundle_config, parsing_error, scoring_chain
from monai.data import MetaTensor

from scripts.data.geometry import transfer_observed, world_to_voxel
from scripts.engines.decoding import decode_dense
from scripts.engines.fitting import LatentFitter
from scripts.transforms.observation import ObservationError, Observed

RNG = np.random.default_rng(0)


def _item(array: np.ndarray, affine=None) -> dict:
    """An item as the chain has it before ``Observed``: the model-grid image and the input copy, here one grid."""
    affine = torch.eye(4, dtype=torch.float64) if affine is None else torch.as_tensor(affine, dtype=torch.float64)
    meta = {"filename_or_obj": "subject.nii.gz"}
    image = MetaTensor(torch.as_tensor(array, dtype=torch.uint8)[None], affine=affine, meta=dict(meta))
    return {"image": image, "label": image.clone()}


def _blob(shape=(12, 14, 16)) -> np.ndarray:
    return (RNG.random(shape) < 0.6).astype(np.uint8)


def test_full_observation_changes_nothing():
    item = _item(_blob())
    out = Observed("full")(dict(item, observed_slices={"2": [1]}))
    assert "observed" not in out and "label_observed" not in out and "observed_slices" not in out
    assert torch.equal(out["image"], item["image"])


def test_parallel_keeps_every_step_th_slice():
    array = _blob()
    out = Observed("parallel", step=3, axis=1)(_item(array))
    expected = np.zeros(array.shape, dtype=bool)
    expected[:, ::3] = True
    np.testing.assert_array_equal(out["observed"], expected)
    np.testing.assert_array_equal(out["image"][0].numpy(), array * expected)
    np.testing.assert_array_equal(out["label"][0].numpy(), array * expected)  # the input holds only what was seen
    np.testing.assert_array_equal(out["label_observed"][0].numpy(), expected)


def test_orthogonal_planes_lie_at_the_offsets_from_the_centre_of_mass():
    array = np.zeros((20, 22, 24), dtype=np.uint8)
    array[4:13, 6:15, 8:21] = 1  # centre of mass at voxel (8, 10, 14)
    affine = np.diag([2.0, 1.0, 1.0, 1.0])
    out = Observed("orthogonal", offsets_mm=[-4.0, 0.0, 4.0])(_item(array, affine))
    expected = np.zeros(array.shape, dtype=bool)
    expected[[6, 8, 10]] = True  # 4 mm is 2 voxels of 2 mm along the first axis
    expected[:, [6, 10, 14]] = True
    expected[:, :, [10, 14, 18]] = True
    np.testing.assert_array_equal(out["observed"], expected)
    np.testing.assert_array_equal(out["image"][0].numpy(), array * expected)


def test_thick_slabs_hold_their_average():
    array = np.zeros((6, 6, 12), dtype=np.uint8)
    array[1:5, 1:5, 0:3] = 1  # slab 0 (slices 0-3): 3 of 4 slices filled, so it reads as filled
    array[2:4, 2:4, 4:5] = 1  # slab 1 (slices 4-7): 1 of 4 filled, so empty
    array[:, :, 8] = 1  # slab 2 (slices 8-11): 3 of 4 filled
    array[:, :, 10:12] = 1
    out = Observed("thick", step=4, axis=2, thickness_mm=2.0)(_item(array, np.diag([1.0, 1.0, 0.5, 1.0])))
    assert out["observed"].all()  # 2 mm is 4 slices of 0.5 mm: slabs side by side
    image = out["image"][0].numpy()
    assert image[1:5, 1:5, 0:4].all() and image[:, :, 0:4].sum() == 16 * 4
    assert not image[:, :, 4:8].any()
    gap = Observed("thick", step=8, axis=2, thickness_mm=2.0)(_item(array, np.diag([1.0, 1.0, 0.5, 1.0])))
    np.testing.assert_array_equal(gap["observed"][0, 0], np.arange(12) % 8 < 4)
    assert not gap["image"][0, :, :, 4:8].any() and gap["image"][0, :, :, 8:12].all()  # slab 1 is slices 8-11


def test_given_slices_are_read_from_the_input_grid_only():
    """The input holds only the segmented slices; the model grid (twice as fine) sees them and nothing else."""
    label = np.zeros((10, 10, 8), dtype=np.uint8)
    label[2:8, 2:8, [2, 5]] = 1
    label_affine = torch.as_tensor(np.diag([2.0, 2.0, 2.0, 1.0]))
    model_affine = torch.as_tensor(np.diag([1.0, 1.0, 1.0, 1.0]))
    image = MetaTensor(torch.ones((1, 20, 20, 16), dtype=torch.uint8), affine=model_affine)  # resampled: all muscle
    item = {"image": image, "label": MetaTensor(torch.as_tensor(label)[None], affine=label_affine)}
    out = Observed("given")(dict(item, observed_slices={"2": [2, 5]}))
    seen = out["label_observed"][0].numpy().astype(bool)
    assert seen[:, :, [2, 5]].all() and seen.sum() == 2 * 100
    observed = out["observed"]
    assert set(np.flatnonzero(observed.any(axis=(0, 1)))) == {3, 4, 9, 10}  # nearest to input slices 2 and 5
    model = out["image"][0].numpy().astype(bool)
    assert not model[~observed].any()  # no muscle where nothing was seen, whatever the resampled image said
    assert model[observed].sum() == 4 * 12 * 12  # 4 planes x the 12 x 12 voxels under input voxels 2-7


@pytest.mark.parametrize("target_mm", [0.5, 2.5])
def test_a_plane_one_voxel_thick_survives_a_finer_or_a_coarser_grid(target_mm):
    observed = np.zeros((20, 20, 20), dtype=bool)
    observed[:, :, 7] = True  # z = 7 mm on a 1 mm grid
    values = observed.copy()
    values[:5] = False
    shape = [int(20 / target_mm)] * 3
    seen, held = transfer_observed(observed, values, np.eye(4), shape, np.diag([target_mm] * 3 + [1.0]))
    planes = np.flatnonzero(seen.any(axis=(0, 1))) * target_mm
    assert len(planes) >= 1 and np.all(np.abs(planes - 7.0) <= target_mm / 2 + 0.5), planes
    within = int(19.4 / target_mm) + 1  # the target voxels whose centre lies within the source grid
    assert seen[:within, :within, int(round(7.0 / target_mm))].all()  # the whole plane, not a few voxels of it
    x = np.arange(within) * target_mm
    np.testing.assert_array_equal(held[:within, 0, int(round(7.0 / target_mm))], x >= 4.5)  # values follow voxels


@pytest.mark.parametrize(
    "settings, item_extra, setting",
    [
        ({"mode": "orthogonal", "offsets_mm": [0.0, 40.0]}, {}, "observation_offsets_mm 40"),
        ({"mode": "orthogonal", "offsets_mm": []}, None, "observation_offsets_mm"),
        ({"mode": "thick", "step": 2, "thickness_mm": 3.0}, {}, "observation_thickness_mm"),
        ({"mode": "parallel", "step": 0}, None, "observation_step"),
        ({"mode": "sideways"}, None, "observation:"),
        ({"mode": "given"}, {"observed_slices": {"2": [3, 99]}}, "observed_slices axis 2 lists slice(s) [99]"),
        ({"mode": "given"}, {"observed_slices": {"4": [3]}}, "axis '4' is not 0, 1 or 2"),
        ({"mode": "given"}, {}, "needs the subject's observed_slices"),
    ],
)
def test_invalid_observations_name_the_setting(settings, item_extra, setting):
    with pytest.raises(ObservationError, match="^[^\n]*$") as error:
        Observed(**settings)(dict(_item(_blob()), **item_extra))
    assert setting in str(error.value)
    if item_extra is not None:  # a per-subject problem names the file as well
        assert "subject.nii.gz" in str(error.value)


@pytest.fixture(scope="module")
def ellipsoid_file(tmp_path_factory) -> tuple:
    """A sphere of radius 10 mm on a 1 mm grid, shifted off the grid's centre, as a file."""
    path = tmp_path_factory.mktemp("sphere") / "sphere.nii.gz"
    index = np.stack(np.meshgrid(*[np.arange(36)] * 3, indexing="ij"), axis=-1)
    sphere = (np.linalg.norm(index - np.array([16.0, 18.0, 19.0]), axis=-1) <= 10.0).astype(np.uint8)
    affine = np.eye(4)
    affine[:3, 3] = [-20.0, 5.0, 30.0]
    nib.save(nib.Nifti1Image(sphere, affine), path)
    return path, sphere, affine


@pytest.mark.parametrize("mode", ["parallel", "orthogonal", "thick"])
def test_fit_points_lie_in_observed_voxels_only(ellipsoid_file, mode):
    path, sphere, affine = ellipsoid_file
    settings = {"observation": mode, "observation_step": 4, "observation_thickness_mm": 2.0, "fit_points": 4096}
    out = scoring_chain(**settings)({"id": "s", "image": str(path)})
    world = out["points"].numpy() / 0.02 + out["centre"]  # the model frame's scale of train.json
    voxels = np.rint(world_to_voxel(world, affine)).astype(int)
    observed = out["label_observed"][0].numpy().astype(bool)  # same grid as the file here
    assert observed[tuple(voxels.T)].all()
    occupancy = out["occupancy"][:, 0].numpy()
    seen = out["label"][0].numpy().astype(bool)
    np.testing.assert_array_equal(occupancy > 0.5, seen[tuple(voxels.T)])
    assert 0.2 < occupancy.mean() < 0.8  # both sides of the observed boundary are sampled


class EllipsoidDecoder(torch.nn.Module):
    """A decoder whose code is the log radii of an axis-aligned ellipsoid (model units): the shape prior made exact,
    so that what is under test is the observation, the sampling and the fit, not a network's training."""

    def __init__(self, sharpness: float = 30.0) -> None:
        super().__init__()
        self.sharpness = torch.nn.Parameter(torch.tensor(sharpness))

    def decode_points(self, codes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        radii = codes.exp()[:, None, :]
        return self.sharpness * (1 - ((points / radii) ** 2).sum(-1, keepdim=True))


def test_a_sphere_fitted_from_three_orthogonal_planes_comes_back_round(ellipsoid_file):
    path, sphere, affine = ellipsoid_file
    out = scoring_chain(observation="orthogonal", fit_points=8192)({"id": "s", "image": str(path)})
    assert out["label_observed"].float().mean() < 0.1  # three planes of a 36^3 grid
    # the healthy shapes are elongated: the prior's mean (where the fit starts) is far from a sphere
    training = torch.log(torch.tensor([[0.12, 0.16, 0.30], [0.14, 0.12, 0.26], [0.10, 0.15, 0.34]]))
    decoder = EllipsoidDecoder()
    fitter = LatentFitter(iterations=150, lr=0.05, prior_weight=1e-4, points_per_iteration=2048)
    code = fitter.fit(decoder, out["points"][None], out["occupancy"][None], training)["code"]

    def field(points: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return (decoder.decode_points(code, torch.from_numpy(points)[None])[0, :, 0] > 0).numpy()

    recon = decode_dense(field, sphere.shape, affine, out["centre"], 0.02)[0].astype(bool)
    dice = 2 * (recon & (sphere > 0)).sum() / (recon.sum() + sphere.sum())
    assert dice > 0.95, dice
    extents = [np.ptp(np.flatnonzero(recon.any(axis=tuple(a for a in range(3) if a != axis)))) + 1 for axis in range(3)]
    assert max(extents) - min(extents) <= 1 and abs(np.mean(extents) - 21) <= 1, extents
    np.testing.assert_allclose(code.exp()[0].detach().numpy() / 0.02, 10.0, rtol=0.08)  # radii of 10 mm


@pytest.fixture(scope="module")
def oblique_ellipsoid_file(tmp_path_factory) -> tuple:
    """An ellipsoid (radii 9, 11, 16 mm) in an anisotropic (0.8 x 0.8 x 2 mm), oblique, LPS-ordered NRRD file."""
    import itk

    spacing = np.array([0.8, 0.8, 2.0])
    angle = np.deg2rad(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0.0, 0.0, 1.0]])
    shape = (40, 44, 24)  # i, j, k
    origin = np.array([-14.0, -20.0, -22.0])
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    world = (index * spacing) @ rotation.T + origin
    centre = (np.array(shape) - 1) / 2 * spacing @ rotation.T + origin
    local = (world - centre) @ rotation  # the ellipsoid's axes follow the grid's
    inside = ((local / np.array([9.0, 11.0, 16.0])) ** 2).sum(-1) <= 1.0
    image = itk.image_from_array(np.ascontiguousarray(inside.astype(np.uint8).transpose(2, 1, 0)))
    image.SetSpacing(spacing.tolist())
    image.SetOrigin(origin.tolist())
    image.SetDirection(itk.matrix_from_array(rotation))
    path = tmp_path_factory.mktemp("oblique") / "oblique.nrrd"
    itk.imwrite(image, str(path))
    return path, inside, shape


@pytest.mark.parametrize("mode", ["parallel", "orthogonal", "thick", "given"])
def test_every_observation_reconstructs_and_scores_on_the_input_grid(oblique_ellipsoid_file, mode):
    """Fit, decode and score in each mode: the reconstruction, the observed region and the anomaly map all lie on the
    file's own grid; the whole ellipsoid comes back from what was observed; scores are taken where it was seen."""
    from scripts.transforms.outputs import AnomalyMapd
    from scripts.transforms.postprocessing import DecodeLatentd, ScoreSubjectd

    path, inside, shape = oblique_ellipsoid_file
    item = {"id": "oblique", "image": str(path)}
    settings = {"observation": mode, "observation_step": 4, "observation_thickness_mm": 2.0, "fit_points": 8192}
    if mode == "orthogonal":
        settings["observation_offsets_mm"] = [-4.0, 4.0]
    if mode == "given":  # a real acquisition: the file holds every third slice of its own k axis and nothing else
        kept = list(range(1, shape[2], 3))
        sparse = np.zeros_like(inside)
        sparse[:, :, kept] = inside[:, :, kept]
        import itk

        source = itk.imread(str(path))
        written = itk.image_from_array(np.ascontiguousarray(sparse.astype(np.uint8).transpose(2, 1, 0)))
        written.CopyInformation(source)
        path = path.with_name("oblique_given.nrrd")
        itk.imwrite(written, str(path))
        item = {"id": "oblique", "image": str(path), "observed_slices": {"2": kept}}
    out = scoring_chain(**settings)(item)
    label, seen = out["label"], out["label_observed"]
    assert tuple(label.shape[1:]) == shape and tuple(seen.shape[1:]) == shape
    assert 0.0 < seen.float().mean() < 1.0
    training = torch.log(torch.tensor([[0.16, 0.20, 0.30], [0.20, 0.24, 0.34], [0.18, 0.22, 0.28]]))
    decoder = EllipsoidDecoder()
    fitter = LatentFitter(iterations=150, lr=0.05, prior_weight=1e-4, points_per_iteration=2048)
    fit = fitter.fit(decoder, out["points"][None], out["occupancy"][None], training)
    d = dict(out, pred={"code": fit["code"][0].detach()})
    d = DecodeLatentd("pred", decoder, coordinate_scale=0.02, coarse_mm=0.0)(d)
    d = ScoreSubjectd(["label", "recon"])(AnomalyMapd()(d))
    for key in ("recon", "anomaly_map"):
        assert tuple(d[key].shape[1:]) == shape, key
        np.testing.assert_allclose(d[key].affine, label.affine, atol=1e-6)
    assert not d["anomaly_map"][0].numpy()[~seen[0].numpy().astype(bool)].any()  # disagreement only where seen
    recon = d["recon"][0].numpy().astype(bool)
    whole = 2 * (recon & inside).sum() / (recon.sum() + inside.sum())
    assert whole > 0.9, (mode, whole)
    row = d["scores"]
    assert 0.0 < row["observed_fraction"] < 1.0 and row["dice"] > 0.85, row


@pytest.mark.parametrize("oblique", [False, True])
def test_nearest_lookup_between_grids_matches_a_voxel_by_voxel_reference(oblique):
    """Grids with parallel axes (flipped, permuted, anisotropic) take a faster path than oblique ones: both give
    each target voxel the value of its nearest source voxel, and 0 outside the source grid."""
    from scripts.data.geometry import resample_nearest

    volume = (RNG.random((9, 11, 7)) * 250).astype(np.uint8)
    source = np.array([[0.0, 0.0, -2.0, 30.0], [-0.8, 0.0, 0.0, 5.0], [0.0, 1.3, 0.0, -4.0], [0.0, 0.0, 0.0, 1.0]])
    target = np.diag([1.07, 0.93, 1.01, 1.0])
    target[:3, 3] = [15.31, -6.27, -3.13]  # no target voxel halfway between two source voxels
    if oblique:
        angle = np.deg2rad(20.0)
        target[:2, :2] = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ target[:2, :2]
    shape = (16, 18, 14)
    index = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), axis=-1).reshape(-1, 3).astype(np.float64)
    nearest = np.floor(world_to_voxel(index @ target[:3, :3].T + target[:3, 3], source) + 0.5).astype(int)
    inside = np.all((nearest >= 0) & (nearest < volume.shape), axis=1)
    expected = np.zeros(len(index), dtype=np.uint8)
    expected[inside] = volume[tuple(nearest[inside].T)]
    looked = resample_nearest(volume, source, shape, target)
    assert 0 < inside.mean() < 1  # some target voxels fall outside the source grid
    np.testing.assert_array_equal(looked, expected.reshape(shape))


def test_a_plane_outside_the_image_stops_calibration_naming_the_setting_and_the_file(tiny_cohort, tiny_model, tmp_path):
    """Met while calibration caches its validation subjects (the CLI's one line and exit code 1 for such errors:
    test_robustness.py)."""
    args = {key: ast.literal_eval(value) for key, value in TINY_TRAINING.items()}  # as the CLI reads them
    args.update(dataset_dir=str(tiny_cohort), source_ckpt=str(tiny_model / "models" / "model.pt"))
    args.update(ckpt_dir=str(tmp_path / "planes"), output_dir=str(tmp_path / "out"), observation="orthogonal")
    parser = bundle_config("train.json", "calibrate.json", **args, observation_offsets_mm=[0.0, 500.0])
    found = parsing_error(parser, "validate#dataset")
    assert isinstance(found, ObservationError) and "\n" not in str(found), found
    assert "observation_offsets_mm 500 puts a plane outside the image" in str(found) and ".nii.gz" in str(found)
