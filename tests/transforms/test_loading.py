"""The preprocessing transforms, alone and chained as the configs declare them, on every supported format."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import scoring_chain
from pipeline_helpers import bad_inputs

from scripts.synthetic.cohort import generate_cohort
from scripts.transforms.loading import LabelmapError


@pytest.fixture(scope="module")
def formats_cohort(tmp_path_factory):
    """The same three subjects as NIfTI RAS, NRRD LPS anisotropic multi-label, and MetaImage."""
    root = tmp_path_factory.mktemp("formats")
    common = {"n_young": 2, "n_older": 1, "n_sarcopenic": 0, "num_folds": 3, "progress": False}
    generate_cohort(root / "nii", spacing=(2.0, 2.0, 2.0), **common)
    generate_cohort(
        root / "nrrd",
        spacing=(1.0, 1.0, 4.0),
        image_format="nrrd",
        axcodes="LPS",
        multilabel=True,
        muscle_label=2,
        **common,
    )
    generate_cohort(root / "mha", spacing=(2.0, 2.0, 2.0), image_format="mha", axcodes="PIR", **common)
    return root


@pytest.mark.parametrize("fmt, label", [("nii", 1), ("nrrd", 2), ("mha", 1)])
def test_chain_on_every_format_gives_the_same_points(formats_cohort, fmt, label):
    """Whatever the format, orientation, spacing and label, the chain sees the same muscle in the same place."""
    item = {"id": "Y_000", "image": str(formats_cohort / "nii/images/Y_000.nii.gz")}
    reference = scoring_chain(fit_points=2048)(item)
    suffix = {"nii": ".nii.gz", "nrrd": ".nrrd", "mha": ".mha"}[fmt]
    out = scoring_chain(label=label, fit_points=2048)(
        {"id": "Y_000", "image": str(formats_cohort / fmt / "images" / f"Y_000{suffix}")}
    )
    assert "image" not in out  # the resampled volume is dropped once its points are drawn
    # the input copy keeps the input's own grid: shape and affine of the file
    assert tuple(out["label"].shape[1:]) == tuple(out["label"].meta["spatial_shape"])
    np.testing.assert_allclose(out["label"].affine.numpy(), out["label"].meta["original_affine"], atol=1e-6)
    # centres agree to within a voxel of the coarsest input, volumes within resampling error
    assert np.linalg.norm(out["centre"] - reference["centre"]) < 2.0
    assert abs(out["occupancy"].mean() - reference["occupancy"].mean()) < 0.03
    assert out["points"].shape == (2048, 3) and out["occupancy"].shape == (2048, 1)
    assert out["islands"] == 0 and out["island_volume_ml"] == 0.0


def test_sampling_is_balanced_and_centred(formats_cohort):
    out = scoring_chain(fit_points=8192)({"id": "Y_001", "image": str(formats_cohort / "nii/images/Y_001.nii.gz")})
    inside = out["occupancy"].mean().item()
    assert 0.25 < inside < 0.6, inside
    inside_points = out["points"][out["occupancy"][:, 0] > 0]
    assert torch.linalg.norm(inside_points.mean(0)) < 0.05  # centred on the centre of mass (model units)


def test_parallel_observation_samples_only_kept_slices(formats_cohort):
    item = {"id": "Y_000", "image": str(formats_cohort / "nii/images/Y_000.nii.gz")}
    out = scoring_chain(observation="parallel", observation_step=4)(item)
    z_world = out["points"][:, 2].numpy() / 0.02 + out["centre"][2]  # the model frame's scale of train.json
    angle = 2 * np.pi * z_world / 4.0  # every 4th slice of the 1 mm grid: a lattice of planes 4 mm apart
    phase = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) * 4.0 / (2 * np.pi)
    off_plane = (z_world - phase + 2.0) % 4.0 - 2.0
    assert np.abs(off_plane).max() < 0.55  # every point within the kept slice it was drawn in (half a voxel)
    assert 10 < len(np.unique(np.round(z_world - off_plane))) < 60


def test_fit_points_depend_only_on_the_subject(formats_cohort):
    """Deterministic per subject: the same points in any order, so a score does not depend on batch or rank."""
    chain = scoring_chain(fit_points=512)
    items = [{"id": f"Y_00{i}", "image": str(formats_cohort / f"nii/images/Y_00{i}.nii.gz")} for i in (0, 1)]
    forward = [chain(dict(item)) for item in items]
    backward = [chain(dict(item)) for item in reversed(items)][::-1]
    for a, b in zip(forward, backward, strict=True):
        torch.testing.assert_close(a["points"], b["points"])


@pytest.mark.parametrize(
    "case",
    [
        "2d",
        "4d",
        "empty",
        "missing_label",
        "non_integer",
        "nan",
        "zero_spacing",
        "absurd_spacing",
        "truncated",
        "wrong_extension",
        "missing_file",
    ],
)
def test_bad_inputs_give_one_clear_error_naming_the_file(tmp_path, formats_cohort, case):
    path, expected = bad_inputs(tmp_path, formats_cohort / "nii/images/Y_000.nii.gz")[case]
    with pytest.raises(RuntimeError) as raised:
        scoring_chain()({"id": "x", "image": str(path)})
    cause = raised.value
    while not isinstance(cause, LabelmapError) and cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, LabelmapError), raised.value
    assert str(cause).startswith(str(path)) and expected in str(cause), str(cause)


def test_linear_then_threshold_resampling_is_at_least_as_faithful(formats_cohort):
    """The configs resample with linear interpolation then a 0.5 threshold; this checks the choice.

    bench/resampling_fidelity.py on the 1 mm demo cohort (8 subjects) printed round-trip Dice, nearest vs
    linear+threshold: 1.0000 vs 0.9993 at 0.75 mm, 0.9639 vs 0.9690 at 1.5 mm, 0.9463 vs 0.9463 at 2 mm.
    Linear+threshold wins when the spacing ratio is not an integer and loses almost nothing otherwise.
    """
    from bench.resampling_fidelity import round_trip_dice

    paths = sorted((formats_cohort / "nii" / "images").iterdir())[:2]
    for path in paths:
        nearest = round_trip_dice(path, 3.0, "nearest")
        linear = round_trip_dice(path, 3.0, "linear+threshold")
        assert linear > nearest, (path.name, nearest, linear)  # 2 mm -> 3 mm: a non-integer ratio
        assert round_trip_dice(path, 1.5, "linear+threshold") > 0.995  # upsampling costs almost nothing


def test_an_entry_named_like_a_labelmap_is_listed_and_refused(tmp_path):
    from scripts.data.inputs import list_labelmaps

    (tmp_path / "folder.nii.gz").mkdir()
    items = list_labelmaps(tmp_path)
    assert [i["id"] for i in items] == ["folder"]
    from scripts.errors import find_input_error

    with pytest.raises(RuntimeError) as raised:
        scoring_chain()(items[0])
    assert str(find_input_error(raised.value)) == f"{tmp_path / 'folder.nii.gz'}: is a folder, not a labelmap file"


def test_a_bug_while_reading_is_not_reported_as_a_bad_file(tmp_path, monkeypatch):
    """Only reading failures become one-line input errors; anything else keeps its traceback (errors.py's rule)."""
    from monai.transforms import LoadImaged

    from scripts.transforms.loading import LoadLabelmapd

    path = tmp_path / "mask.nii.gz"
    path.write_bytes(b"not an image")
    with pytest.raises(LabelmapError, match="cannot be read as an image"):
        LoadLabelmapd(keys="image")({"image": str(path)})

    def broken(self, data, reader=None):
        raise TypeError("a bug")

    monkeypatch.setattr(LoadImaged, "__call__", broken)
    with pytest.raises(TypeError, match="a bug"):
        LoadLabelmapd(keys="image")({"image": str(path)})
