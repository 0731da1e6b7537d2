"""Meshes for Slicer and ParaView: on the labelmap's boundary in world space, in LPS, readable back, in colour."""

from __future__ import annotations

import json

import itk
import nibabel as nib
import numpy as np
import pytest
from conftest import TINY_TRAINING, cli_overrides, run_bundle_cli
from plyfile import PlyData
from scipy.ndimage import map_coordinates

from scripts.scoring.deviation import Surface, signed_distance
from scripts.visualize.meshes import SPACE_TAG, deviation_colours, read_vtk, write_ply, write_vtk


def _ellipsoid(shape=(40, 34, 30), radii=(14.0, 10.0, 11.0)):
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return (((grid - np.array(shape) / 2) / radii) ** 2).sum(-1) <= 1.0


def _oblique_nrrd(path, mask):
    """An NRRD whose direction is rotated 25 degrees about S and 10 about R, anisotropic, stored in LPS by ITK."""
    a, b = np.deg2rad(25.0), np.deg2rad(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    image = itk.image_from_array(np.ascontiguousarray(mask.astype(np.uint8).transpose(2, 1, 0)))
    image.SetSpacing([1.5, 1.2, 2.0])
    image.SetOrigin([-20.0, 14.0, -30.0])
    image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(rz @ rx)))
    itk.imwrite(image, str(path))


def _ras_affine(path):
    if path.name.endswith(".nii.gz"):
        return nib.load(path).affine
    image = itk.imread(str(path))
    affine = np.eye(4)
    affine[:3, :3] = np.array(image.GetDirection()) * np.array(image.GetSpacing())
    affine[:3, 3] = np.array(image.GetOrigin())
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def test_surface_meshes_lie_on_the_labelmap_in_world_space(tiny_model, tmp_path):
    """Inference writes each input's surface in physical space: back in the file's voxel grid, every vertex lies on
    the boundary of its mask (within half a voxel), for a NIfTI in RAS and an oblique, anisotropic NRRD in LPS."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    mask = _ellipsoid()
    nib.save(nib.Nifti1Image(mask.astype(np.uint8), np.diag([2.0, 2.0, 2.5, 1.0])), folder / "ras.nii.gz")
    _oblique_nrrd(folder / "oblique.nrrd", mask)
    args = {
        "dataset_dir": str(folder),
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "output_dir": str(tmp_path / "out"),
        "coarse_mm": TINY_TRAINING["coarse_mm"],
        "save_overlays": "False",
        "min_volume_ml": "0.1",
    }
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("ras.nii.gz", "oblique.nrrd"):
        stem = name.split(".")[0]
        surface, data = read_vtk(tmp_path / "out" / f"{stem}_surface.vtk")
        assert {"deviation_mm", "normative_z"} <= set(data) and len(data["deviation_mm"]) == len(surface.vertices)
        affine = _ras_affine(folder / name)
        ijk = (np.c_[surface.vertices, np.ones(len(surface.vertices))] @ np.linalg.inv(affine).T)[:, :3]
        distance = map_coordinates(signed_distance(mask, (1.0, 1.0, 1.0)), ijk.T, order=1)
        assert np.abs(distance).max() <= 0.5 + 1e-3, (name, np.abs(distance).max())
        assert (tmp_path / "out" / f"{stem}_surface.ply").is_file()
        assert open(tmp_path / "out" / f"{stem}_surface.vtk", "rb").read(64).split(b"\n")[1].startswith(b"SPACE=LPS")
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert len(scores["subjects"]) == 2


def test_files_round_trip_through_their_readers(tmp_path):
    vertices = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    surface, deviation = Surface(vertices, faces), np.array([-3.0, -1.0, 0.0, 3.0])
    write_vtk(tmp_path / "m.vtk", surface, {"deviation_mm": deviation})
    back, data = read_vtk(tmp_path / "m.vtk")
    np.testing.assert_allclose(back.vertices, vertices)  # RAS again after LPS on disk
    np.testing.assert_array_equal(back.faces, faces)
    np.testing.assert_allclose(data["deviation_mm"], deviation)
    write_ply(tmp_path / "m.ply", surface, deviation)
    ply = PlyData.read(str(tmp_path / "m.ply"))
    assert SPACE_TAG in ply.comments
    np.testing.assert_allclose(ply["vertex"]["x"], -vertices[:, 0])  # LPS in the file
    colours = np.stack([ply["vertex"][c] for c in ("red", "green", "blue")], axis=1)
    assert colours[0, 0] > colours[0, 2] + 50  # missing tissue: red
    assert colours[3, 2] > colours[3, 0] + 50  # extra tissue: blue
    assert colours[2].min() > 200  # no deviation: near white
    np.testing.assert_array_equal(colours, deviation_colours(deviation))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_colours_of_undefined_deviations_are_defined(value):
    assert deviation_colours(np.array([value, 0.0])).shape == (2, 3)
