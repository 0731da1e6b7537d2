"""Writing a cohort: determinism, geometry of the files, multi-label output and valid cross-validation folds."""

from __future__ import annotations

import filecmp
import json

import nibabel as nib
import numpy as np
import pytest
from conftest import TINY_SPACING, load_datalist, run_bundle_cli

from scripts.synthetic.cohort import generate_cohort


def test_datalist_and_folds_are_valid(tiny_cohort):
    datalist = load_datalist(tiny_cohort)
    subjects = {s["id"]: s for s in datalist["subjects"]}
    assert len(subjects) == 12 and datalist["num_folds"] == 3 == len(datalist["folds"])
    healthy = {i for i, s in subjects.items() if s["healthy"]}
    sarcopenic = set(subjects) - healthy
    assert {subjects[i]["group"] for i in sarcopenic} == {"OS"}
    tested = []
    for split in datalist["folds"]:
        train, val, test = (set(split[k]) for k in ("train", "val", "test"))
        assert train and val and test
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val <= healthy  # only healthy subjects are ever trained or validated on
        assert sarcopenic <= test  # sarcopenic subjects are always tested
        tested += sorted(test & healthy)
    assert sorted(tested) == sorted(healthy)  # every healthy subject is tested exactly once
    for s in subjects.values():
        assert (tiny_cohort / s["image"]).exists()


def test_generation_is_deterministic(tmp_path, tiny_cohort):
    again = generate_cohort(
        tmp_path, n_young=4, n_older=4, n_sarcopenic=4, spacing=TINY_SPACING, num_folds=3, progress=False
    ).parent
    assert (again / "datalist.json").read_text() == (tiny_cohort / "datalist.json").read_text()
    assert (again / "ground_truth.csv").read_text() == (tiny_cohort / "ground_truth.csv").read_text()
    for image in sorted((tiny_cohort / "images").iterdir()):
        a = nib.load(image)
        b = nib.load(again / "images" / image.name)
        assert np.array_equal(a.get_fdata(), b.get_fdata()) and np.allclose(a.affine, b.affine)
    other = generate_cohort(
        tmp_path / "other",
        n_young=4,
        n_older=4,
        n_sarcopenic=4,
        spacing=TINY_SPACING,
        num_folds=3,
        seed=1,
        progress=False,
    ).parent
    assert not filecmp.cmp(other / "images" / "Y_000.nii.gz", tiny_cohort / "images" / "Y_000.nii.gz", shallow=False)


def test_nifti_geometry_matches_the_requested_spacing(tiny_cohort):
    image = nib.load(tiny_cohort / "images" / "Y_000.nii.gz")
    assert nib.aff2axcodes(image.affine) == ("R", "A", "S")
    assert np.allclose(image.header.get_zooms(), TINY_SPACING)
    data = np.asarray(image.dataobj)
    assert data.dtype == np.uint8 and set(np.unique(data)) == {0, 1}
    # the grid is centred on the muscle: the world origin lies inside the volume's extent
    corners = nib.affines.apply_affine(image.affine, [[0, 0, 0], np.array(data.shape) - 1])
    assert np.all(corners[0] < 0) and np.all(corners[1] > 0)


@pytest.mark.parametrize("image_format", ["nrrd", "mha"])
def test_itk_formats_anisotropic_reoriented_and_multilabel(tmp_path, image_format):
    import itk

    generate_cohort(
        tmp_path,
        n_young=3,
        n_older=2,
        n_sarcopenic=1,
        spacing=(0.8, 0.8, 3.0),
        image_format=image_format,
        multilabel=True,
        muscle_label=2,
        axcodes="LPS",
        num_folds=3,
        progress=False,
    )
    datalist = json.loads((tmp_path / "datalist.json").read_text())
    assert datalist["label"] == 2
    path = tmp_path / datalist["subjects"][0]["image"]
    assert path.suffix == f".{image_format}"
    image = itk.imread(str(path))
    assert np.allclose(np.array(image.GetSpacing()), (0.8, 0.8, 3.0))
    # stored as LPS: ITK's direction (in LPS world) is then the identity
    assert np.allclose(np.array(image.GetDirection()), np.eye(3))
    labels = set(np.unique(itk.array_view_from_image(image)))
    assert labels == {0, 1, 2, 3}

    # the same subject as NIfTI RAS has the same muscle voxels in the same world positions
    generate_cohort(
        tmp_path / "ras",
        n_young=3,
        n_older=2,
        n_sarcopenic=1,
        spacing=(0.8, 0.8, 3.0),
        multilabel=True,
        muscle_label=2,
        num_folds=3,
        progress=False,
    )
    ras = nib.load(tmp_path / "ras" / "images" / path.name.replace(path.suffix, ".nii.gz"))
    lps_voxels = np.argwhere(itk.array_from_image(image).transpose(2, 1, 0) == 2)
    lps_world = np.array([image.TransformIndexToPhysicalPoint([int(i) for i in v]) for v in lps_voxels[::50]])
    ras_from_lps = lps_world * np.array([-1, -1, 1])
    ras_index = np.rint(nib.affines.apply_affine(np.linalg.inv(ras.affine), ras_from_lps)).astype(int)
    assert np.all(np.asarray(ras.dataobj)[tuple(ras_index.T)] == 2)


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="image_format"):
        generate_cohort(tmp_path, image_format="png")
    with pytest.raises(ValueError, match="folds"):
        generate_cohort(tmp_path, n_young=1, n_older=1, num_folds=5)
    assert not any(tmp_path.iterdir())


def test_command_line_writes_a_cohort(tmp_path):
    result = run_bundle_cli(
        "scripts",
        "phantoms",
        "--output_dir",
        str(tmp_path),
        "--n_young",
        "2",
        "--n_older",
        "2",
        "--n_sarcopenic",
        "1",
        "--num_folds",
        "3",
        "--spacing",
        "[3,3,3]",
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "datalist.json") in result.stdout
    assert len(list((tmp_path / "images").glob("*.nii.gz"))) == 5


def test_segmentation_realism_keeps_the_muscles_and_adds_the_artefacts(tmp_path):
    """Same seed, same muscles; jitter changes contours slice by slice, thick slices set the spacing, the field of
    view cuts the ends so that the muscle touches the image's border."""
    common = {"n_young": 2, "n_older": 1, "n_sarcopenic": 1, "num_folds": 3, "spacing": (2.0, 2.0, 2.0)}
    clean = generate_cohort(tmp_path / "clean", progress=False, **common).parent
    noisy = generate_cohort(
        tmp_path / "noisy", contour_jitter=0.05, fov_cut=0.2, slice_thickness_mm=4.0, progress=False, **common
    ).parent
    generator = load_datalist(noisy)["generator"]
    assert generator["contour_jitter"] == 0.05 and generator["fov_cut"] == 0.2 and generator["slice_thickness_mm"] == 4
    touching = 0
    for name in ("Y_000", "Y_001", "OH_000", "OS_000"):
        a, b = nib.load(clean / "images" / f"{name}.nii.gz"), nib.load(noisy / "images" / f"{name}.nii.gz")
        assert np.allclose(b.header.get_zooms(), (2.0, 2.0, 4.0))
        mask_a, mask_b = np.asarray(a.dataobj) > 0, np.asarray(b.dataobj) > 0
        # both lie in the same place in the world: centres of mass within a few mm
        centre_a = nib.affines.apply_affine(a.affine, np.argwhere(mask_a).mean(axis=0))
        centre_b = nib.affines.apply_affine(b.affine, np.argwhere(mask_b).mean(axis=0))
        assert np.linalg.norm(centre_a - centre_b) < 12.0
        volume_a, volume_b = mask_a.sum() * 8.0, mask_b.sum() * 16.0
        assert 0.6 * volume_a < volume_b < 1.15 * volume_a
        touching += bool(mask_b[:, :, 0].any() or mask_b[:, :, -1].any())
        # slice-wise jitter: the cross-sectional area changes more from slice to slice than on the clean muscle
        area_a, area_b = mask_a.sum(axis=(0, 1)).astype(float), mask_b.sum(axis=(0, 1)).astype(float)
        rough_a = np.median(np.abs(np.diff(area_a[area_a > 0], 2)) / area_a.max())
        rough_b = np.median(np.abs(np.diff(area_b[area_b > 0], 2)) / area_b.max())
        assert rough_b > rough_a
    assert touching >= 2  # most muscles are cut by the field of view


def test_segmentation_realism_rejects_absurd_strengths(tmp_path):
    with pytest.raises(ValueError, match="contour_jitter"):
        generate_cohort(tmp_path, contour_jitter=0.9)
    with pytest.raises(ValueError, match="fov_cut"):
        generate_cohort(tmp_path, fov_cut=0.5)
    assert not any(tmp_path.iterdir())
