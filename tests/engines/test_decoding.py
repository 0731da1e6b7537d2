"""Decoding onto an input's own grid: coarse-to-fine equals dense, with far fewer queries, in every geometry."""

from __future__ import annotations

import itk
import nibabel as nib
import numpy as np
import pytest
import torch
from monai.transforms import CopyItemsd, EnsureChannelFirstd

from scripts.data.files import write_labelmap
from scripts.engines.decoding import coarse_steps, decode_coarse_to_fine, decode_dense
from scripts.synthetic import phantoms
from scripts.synthetic.labelmaps import reorient
from scripts.transforms.loading import LoadLabelmapd
from scripts.transforms.muscle import CentreOnMassd, SelectLabeld

SCALE = 0.02


def _phantom_field(shape, centre):
    return lambda points: phantoms.inside(shape, points.astype(np.float64) / SCALE + centre)


@pytest.mark.parametrize("group, spacing", [("Y", (1.0, 1.0, 1.0)), ("OS", (0.5, 0.5, 2.0)), ("OS", (0.7, 0.7, 0.7))])
def test_coarse_to_fine_equals_dense_with_fewer_queries(group, spacing):
    shape = phantoms.sample_shape(group, np.random.default_rng(11))
    grid, affine = phantoms.world_grid(shape, spacing)
    centre = np.array([3.0, -2.0, 1.0])
    field = _phantom_field(shape, centre)
    dense, dense_queries = decode_dense(field, grid.shape[:3], affine, centre, SCALE, chunk_size=50000)
    fine, fine_queries = decode_coarse_to_fine(field, grid.shape[:3], affine, centre, SCALE, chunk_size=50000)
    np.testing.assert_array_equal(dense, phantoms.inside(shape, grid))
    dice = 2 * (dense & fine).sum() / (dense.sum() + fine.sum())
    assert dice >= 0.999
    assert fine_queries < 0.2 * dense_queries


def test_coarse_steps_follow_the_spacing():
    assert coarse_steps(np.diag([1.0, 1.0, 1.0, 1.0]), 4.0).tolist() == [4, 4, 4]
    assert coarse_steps(np.diag([0.5, 0.5, 2.0, 1.0]), 4.0).tolist() == [8, 8, 2]
    assert coarse_steps(np.diag([5.0, 5.0, 5.0, 1.0]), 4.0).tolist() == [1, 1, 1]


@pytest.mark.parametrize("suffix, axcodes", [(".nii.gz", "RAS"), (".nii.gz", "PIR"), (".nrrd", "LPS"), (".mha", "ASR")])
def test_decoded_labelmap_has_the_input_header(tmp_path, suffix, axcodes):
    """Decode a field onto the grid of the file it came from and write it: same shape, affine and orientation."""
    shape = phantoms.sample_shape("Y", np.random.default_rng(2))
    grid, affine = phantoms.world_grid(shape, (1.5, 1.2, 2.5))
    stored, stored_affine = reorient(phantoms.inside(shape, grid).astype(np.uint8), affine, axcodes)
    source = write_labelmap(stored, stored_affine, tmp_path / f"input{suffix}")

    item = LoadLabelmapd("image", image_only=True)({"image": str(source)})
    item = SelectLabeld("image")(EnsureChannelFirstd("image")(item))
    item = CentreOnMassd("image")(CopyItemsd("image", names="mask")(item))
    reference = item["mask"]
    field = _phantom_field(shape, item["centre"].astype(np.float64))
    decoded, _ = decode_coarse_to_fine(field, reference.shape[1:], reference.affine, item["centre"], SCALE)
    written = write_labelmap(decoded, reference.affine, tmp_path / f"output{suffix}")

    if suffix == ".nii.gz":
        before, after = nib.load(source), nib.load(written)
        assert before.shape == after.shape and nib.aff2axcodes(after.affine) == tuple(axcodes)
        np.testing.assert_allclose(after.affine, before.affine, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(after.dataobj), np.asarray(before.dataobj))
    else:
        before, after = itk.imread(str(source)), itk.imread(str(written))
        assert tuple(before.GetLargestPossibleRegion().GetSize()) == tuple(after.GetLargestPossibleRegion().GetSize())
        np.testing.assert_allclose(np.array(after.GetSpacing()), np.array(before.GetSpacing()), atol=1e-6)
        np.testing.assert_allclose(np.array(after.GetOrigin()), np.array(before.GetOrigin()), atol=1e-5)
        np.testing.assert_allclose(np.array(after.GetDirection()), np.array(before.GetDirection()), atol=1e-6)
        np.testing.assert_array_equal(itk.array_view_from_image(after), itk.array_view_from_image(before))
    assert torch.as_tensor(reference).sum() == int(decoded.sum())
