"""Bad-input files generated at test time."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np


def write_nifti(path: Path, array: np.ndarray, affine=None, dtype=None) -> Path:
    image = nib.Nifti1Image(np.asarray(array, dtype=dtype or array.dtype), np.eye(4) if affine is None else affine)
    nib.save(image, path)
    return path


def write_bad_spacing(path: Path, array: np.ndarray, spacing_y: float) -> Path:
    """A NIfTI whose sform gives voxels ``spacing_y`` mm along y (nibabel refuses to write such an affine itself)."""
    header = nib.Nifti1Header()
    header.set_data_shape(array.shape)
    header.set_data_dtype(array.dtype)
    header["srow_x"], header["srow_y"], header["srow_z"] = [1.0, 0, 0, 0], [0, spacing_y, 0, 0], [0, 0, 1.0, 0]
    header["sform_code"], header["qform_code"] = 1, 0
    image = nib.Nifti1Image(array, None, header=header)
    nib.save(image, path)
    return path


def write_nrrd_spacing(path: Path, array: np.ndarray, spacing) -> Path:
    """An NRRD with the given voxel spacing, written by ITK directly (MONAI's writers derive it from an affine)."""
    import itk

    image = itk.image_from_array(np.ascontiguousarray(array.transpose(2, 1, 0)))
    image.SetSpacing([float(s) for s in spacing])
    itk.imwrite(image, str(path))
    return path


def bad_inputs(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """Broken labelmaps, each with a fragment of the error message it must give."""
    folder.mkdir(parents=True, exist_ok=True)
    ball = np.zeros((12, 12, 12), dtype=np.uint8)
    ball[3:9, 3:9, 3:9] = 1
    truncated = folder / "truncated.nii.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    wrong_ext = folder / "nifti_named.png"
    wrong_ext.write_bytes(good.read_bytes())
    cases = {
        "2d": (write_nifti(folder / "flat.nii.gz", ball[:, :, 5]), "expected a 3D labelmap"),
        "4d": (write_nifti(folder / "series.nii.gz", np.stack([ball, ball], axis=-1)), "expected a 3D labelmap"),
        "empty": (write_nifti(folder / "empty.nii.gz", np.zeros_like(ball)), "is empty"),
        "missing_label": (write_nifti(folder / "other_label.nii.gz", ball * 3), "has no label [1]"),
        "non_integer": (write_nifti(folder / "soft.nii.gz", ball * 0.5, dtype=np.float32), "non-integer"),
        "nan": (write_nifti(folder / "nan.nii.gz", np.where(ball, np.nan, 0.0), dtype=np.float32), "NaN"),
        "zero_spacing": (write_bad_spacing(folder / "zero_spacing.nii.gz", ball, 0.0), "spacing"),
        "absurd_spacing": (write_nrrd_spacing(folder / "absurd_spacing.nrrd", ball, (1.0, 1e4, 1.0)), "spacing"),
        "truncated": (truncated, "cannot be read"),
        "wrong_extension": (wrong_ext, "unsupported image format"),
        "missing_file": (folder / "does_not_exist.nii.gz", "file not found"),
    }
    return cases
