"""What of a labelmap is the muscle: label selection, islands and the centre of mass, each error naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from scripts.transforms.loading import LabelmapError
from scripts.transforms.muscle import CentreOnMassd, Islandsd, SelectLabeld


def _image(array, affine=None, name="mem.nii.gz"):
    return MetaTensor(
        torch.as_tensor(array)[None], affine=torch.eye(4) if affine is None else affine, meta={"filename_or_obj": name}
    )


def test_select_label_binarises_and_merges_labels():
    array = np.zeros((6, 6, 6))
    array[1:3, 1:3, 1:3] = 2
    array[3:5, 3:5, 3:5] = 5
    out = SelectLabeld("image", label=2)({"image": _image(array)})["image"]
    assert out.dtype == torch.uint8 and int(out.sum()) == 8 and out.meta["filename_or_obj"] == "mem.nii.gz"
    both = SelectLabeld("image", label=[2, 5])({"image": _image(array)})["image"]
    assert int(both.sum()) == 16
    with pytest.raises(LabelmapError, match=r"mem.nii.gz: the labelmap has no label \[3\]; values present: 0, 2, 5"):
        SelectLabeld("image", label=3)({"image": _image(array)})


def test_centre_of_mass_is_in_world_millimetres():
    array = np.zeros((10, 10, 10))
    array[2, 4:7, 8] = 1  # centre at voxel (2, 5, 8)
    affine = torch.tensor([[2.0, 0, 0, 10], [0, 1.0, 0, -5], [0, 0, 3.0, 1], [0, 0, 0, 1]], dtype=torch.float64)
    centre = CentreOnMassd("image")({"image": _image(array, affine)})["centre"]
    np.testing.assert_allclose(centre, [14.0, 0.0, 25.0], atol=1e-5)


def test_islands_are_reported_and_removed_and_specks_refused():
    array = np.zeros((30, 30, 30), dtype=np.uint8)
    array[5:25, 5:25, 5:25] = 1  # 8 ml at 1 mm
    array[27:29, 27:29, 27:29] = 1  # an island of 8 voxels
    out = Islandsd("image", remove=True, min_volume_ml=1.0)({"image": _image(array)})
    assert out["islands"] == 1 and out["island_volume_ml"] == pytest.approx(0.008)
    assert int(out["image"].sum()) == 8000 and out["image"].meta["filename_or_obj"] == "mem.nii.gz"
    kept = Islandsd("image", remove=False)({"image": _image(array)})
    assert kept["islands"] == 1 and int(kept["image"].sum()) == 8008
    speck = np.zeros((30, 30, 30), dtype=np.uint8)
    speck[3, 3, 3] = 1
    with pytest.raises(
        LabelmapError, match=r"mem.nii.gz: the muscle is 0.001 ml \(1 voxels\), below the minimum of 1 ml"
    ):
        Islandsd("image", min_volume_ml=1.0)({"image": _image(speck)})
