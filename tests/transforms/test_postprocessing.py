"""Per-subject postprocessing: undo collate padding, anomaly map labels, safe output names and formats."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor, decollate_batch, pad_list_data_collate

from scripts.transforms.outputs import EXTRA, MISSING, AnomalyMapd, SaveLabelmapd
from scripts.transforms.postprocessing import CropToSpatialShaped


def _label(shape, name="in.nii.gz", affine=None):
    affine = torch.diag(torch.tensor([2.0, 1.0, 1.5, 1.0], dtype=torch.float64)) if affine is None else affine
    data = torch.zeros((1, *shape), dtype=torch.uint8)
    data[0, 1:3, 1:3, 1:3] = 1
    return MetaTensor(data, affine=affine, meta={"filename_or_obj": name, "spatial_shape": list(shape)})


def test_end_padding_of_a_batch_is_undone_per_subject():
    shapes = [(4, 5, 6), (7, 3, 6)]
    batch = pad_list_data_collate([{"label": _label(shape)} for shape in shapes], method="end")
    assert batch["label"].shape == (2, 1, 7, 5, 6)
    for item, shape in zip(decollate_batch(batch), shapes, strict=True):
        cropped = CropToSpatialShaped(keys="label")(item)["label"]
        assert torch.equal(cropped.as_tensor(), _label(shape).as_tensor())
        assert torch.equal(cropped.affine, _label(shape).affine)


def test_anomaly_map_marks_missing_and_extra_tissue():
    observed, expected = _label((5, 5, 5)), _label((5, 5, 5))
    expected[0, 3, 1:3, 1:3] = 1  # expected but not observed: missing
    observed[0, 0, 0, 0] = 1  # observed but not expected: extra
    out = AnomalyMapd()({"label": observed, "recon": expected})["anomaly_map"]
    assert out.dtype == torch.uint8 and int((out == MISSING).sum()) == 4 and int((out == EXTRA).sum()) == 1
    assert torch.equal(out.affine, observed.affine)


@pytest.mark.parametrize(
    "ext, source, written",
    [
        (".nii.gz", "in.nrrd", ".nii.gz"),
        ("auto", "in.nrrd", ".nrrd"),
        ("auto", "in.mhd", ".mha"),
        ("auto", "in.nii", ".nii"),
    ],
)
def test_outputs_are_named_from_a_safe_id_in_the_chosen_format(tmp_path, ext, source, written):
    item = {"id": "../../escape me", "recon": _label((4, 4, 4), name=source)}
    SaveLabelmapd(keys="recon", output_dir=str(tmp_path), output_ext=ext)(item)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"escape_me_recon{written}"] and files[0].parent == tmp_path


def test_written_labelmap_keeps_the_geometry(tmp_path):
    affine = torch.tensor([[0.0, -1.5, 0, 10], [2.0, 0, 0, -3], [0, 0, 1.0, 7], [0, 0, 0, 1]], dtype=torch.float64)
    label = _label((4, 5, 6), affine=affine)
    SaveLabelmapd(keys="recon", output_dir=str(tmp_path))({"id": "s1", "recon": label})
    written = nib.load(tmp_path / "s1_recon.nii.gz")
    np.testing.assert_allclose(written.affine, affine.numpy(), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(written.dataobj), label[0].numpy())


class _Ball(torch.nn.Module):
    """A ball of radius 0.2 model units around the origin, whatever the code."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def decode_points(self, codes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return (0.2 - points.norm(dim=-1, keepdim=True)) * 50


def test_a_fitted_translation_moves_the_decoded_shape_by_it():
    from scripts.transforms.postprocessing import DecodeLatentd

    grid = MetaTensor(torch.zeros((1, 40, 40, 40), dtype=torch.uint8), affine=torch.eye(4, dtype=torch.float64))
    centre = torch.tensor([20.0, 20.0, 20.0])
    decode = DecodeLatentd(keys="pred", decoder=_Ball(), coordinate_scale=0.05, coarse_mm=0)
    masses = []
    for shift in ([0.0, 0.0, 0.0], [0.2, 0.0, -0.1]):  # model units: 4 mm and -2 mm at 0.05 per mm
        pred = {"code": torch.zeros(2), "translation": torch.tensor(shift)}
        recon = decode({"pred": pred, "label": grid, "centre": centre})["recon"][0].numpy()
        masses.append(np.argwhere(recon).mean(axis=0))
    np.testing.assert_allclose(masses[1] - masses[0], [-4.0, 0.0, 2.0], atol=0.05)
