"""Dictionary transforms MONAI lacks for reading shape labelmaps: loading that names the file, and validation.

They sit between MONAI's own ``LoadImaged``/``EnsureChannelFirstd``/``Orientationd``/``Spacingd`` in the configs.
Every error names the file it comes from, so that a user with a folder of segmentations knows which one to fix.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LoadImaged, MapTransform
from nibabel.filebasedimages import ImageFileError

from ..data.geometry import check_spacing
from ..errors import InputError
from ..layout import image_suffix

# What the readers raise for a file that is not a readable image: nibabel's ImageFileError (unknown or damaged format),
# OSError and EOFError (truncated or not gzip), zlib.error, RuntimeError (ITK, and MONAI when no reader suits the
# file), ValueError (inconsistent headers). Anything else is a bug of the bundle or its dependencies: not caught.
READ_ERRORS = (ImageFileError, OSError, EOFError, zlib.error, RuntimeError, ValueError)


class LabelmapError(InputError):
    """A labelmap that cannot be used; the message starts with the file name."""


def source_name(image) -> str:
    """The file an image was loaded from, for error messages."""
    meta = getattr(image, "meta", {}) or {}
    return str(meta.get("filename_or_obj", "<in-memory image>"))


class LoadLabelmapd(LoadImaged):
    """``LoadImaged`` restricted to labelmap formats, turning every reading failure into one clear LabelmapError."""

    def __call__(self, data, reader=None):
        for key in self.key_iterator(dict(data)):
            path = data[key]
            if isinstance(path, (str, os.PathLike)):
                try:
                    image_suffix(path)
                except ValueError as error:
                    raise LabelmapError(str(error)) from None
                if os.path.isdir(path):
                    raise LabelmapError(f"{path}: is a folder, not a labelmap file")
                if not os.path.isfile(path):
                    raise LabelmapError(f"{path}: file not found")
        try:
            return super().__call__(data, reader)
        except READ_ERRORS as error:
            paths = ", ".join(str(data[k]) for k in self.key_iterator(dict(data)))
            reason = " ".join(str(error).split())[:300]
            raise LabelmapError(f"{paths}: cannot be read as an image ({type(error).__name__}: {reason})") from None


class CheckLabelmapd(MapTransform):
    """Reject what is not a single-channel 3D labelmap of finite integer values with a plausible geometry.

    Runs right after ``EnsureChannelFirstd``. ``max_voxels`` guards memory against absurdly large volumes.

    Args:
        keys, allow_missing_keys: the labelmap(s) to check, and whether one may be absent.
        max_voxels: the most voxels a labelmap may have.

    Raises:
        LabelmapError: when called, not one 3D channel of at least 2 voxels per axis, more than ``max_voxels``,
            non-finite or non-integer values, or an implausible spacing.
    """

    def __init__(self, keys: KeysCollection, max_voxels: int = 512**3, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.max_voxels = max_voxels

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            name = source_name(image)
            if image.ndim != 4 or image.shape[0] != 1:
                spatial = tuple(image.shape[1:]) if image.ndim > 1 else tuple(image.shape)
                raise LabelmapError(
                    f"{name}: expected a 3D labelmap, got an image of {image.ndim - 1} spatial dimension(s) "
                    f"and {image.shape[0]} channel(s), shape {spatial}"
                )
            if image.numel() > self.max_voxels:
                raise LabelmapError(f"{name}: {image.numel()} voxels exceed the limit of {self.max_voxels}")
            if min(image.shape[1:]) < 2:
                raise LabelmapError(f"{name}: a 3D labelmap needs at least 2 voxels along every axis")
            values = image.as_tensor() if isinstance(image, MetaTensor) else torch.as_tensor(image)
            if values.is_floating_point():
                if not torch.isfinite(values).all():
                    raise LabelmapError(f"{name}: contains NaN or infinite values; a labelmap holds integer labels")
                if not torch.equal(values, values.round()):
                    raise LabelmapError(f"{name}: contains non-integer values; a labelmap holds integer labels")
            if isinstance(image, MetaTensor):
                try:
                    check_spacing(image.affine, name)
                except ValueError as error:
                    raise LabelmapError(str(error)) from None
        return d
