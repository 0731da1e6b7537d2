"""Partial observations: which voxels of a labelmap were seen, so that fitting and scoring use only those.

Clinically a muscle is often segmented on a handful of planes, not on every slice. ``Observed`` runs on the model
grid (after resampling) and keeps the mask only where it was observed, in one of these modes:

- ``full``: everything (the default);
- ``parallel``: every ``step``-th slice along ``axis``;
- ``orthogonal``: planes normal to each of the three axes, at ``offsets_mm`` from the centre of mass of the mask;
- ``thick``: slabs ``thickness_mm`` thick centred on every ``step``-th slice along ``axis``, each holding the slab's
  average (thresholded at one half), as a thick acquisition would show it;
- ``given``: the slices a user segmented, per subject, as ``observed_slices`` ``{axis: [indices]}`` in the voxel
  indices of the input file (where everything else is empty). Values come from the input by nearest lookup, so no
  unsegmented voxel of the file is ever read as background.

The first three simulate an acquisition from a full mask; ``given`` is a real one. The observed region is written
on the model grid (``observed``, for the point sampler) and on the input's grid (``label_observed``, for scoring),
where the input (``label``) is also reduced to what was observed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Transform

from ..data.geometry import transfer_observed, voxel_spacing
from ..errors import InputError
from .loading import source_name

MODES = ("full", "parallel", "orthogonal", "thick", "given")
SLICES_KEY = "observed_slices"  # a subject's segmented slices in ``given`` mode: {axis: [voxel indices]}


class ObservationError(InputError):
    """An observation that cannot be made: the message names the setting (and the file, once there is one)."""


def parse_slices(spec, name: str = SLICES_KEY) -> dict[int, list[int]]:
    """``{"2": [3, 9]}`` (as JSON writes it) to ``{2: [3, 9]}``, refusing anything else in one line."""
    if not isinstance(spec, Mapping) or not spec:
        raise ObservationError(f"{name}: expected {{axis: [slice indices]}} with at least one axis, got {spec!r}")
    slices = {}
    for axis, indices in spec.items():
        if str(axis) not in ("0", "1", "2"):
            raise ObservationError(f"{name}: axis {axis!r} is not 0, 1 or 2")
        values = [indices] if isinstance(indices, (int, np.integer)) else indices
        if not isinstance(values, Sequence) or not values or not all(float(i).is_integer() for i in values):
            raise ObservationError(f"{name}: axis {axis} needs a non-empty list of integer slice indices")
        slices[int(axis)] = sorted({int(i) for i in values})
    return slices


def on_slices(shape: Sequence[int], slices: Mapping[int, Sequence[int]]) -> np.ndarray:
    """The voxels of a grid of ``shape`` that lie on the listed slices, ``{axis: [indices]}``."""
    observed = np.zeros(tuple(shape), dtype=bool)
    for axis, indices in slices.items():
        index: list = [slice(None)] * 3
        index[axis] = list(indices)
        observed[tuple(index)] = True
    return observed


class Observed(Transform):
    """Dictionary transform reducing ``image`` (model grid) and ``label`` (input grid) to the observed voxels.

    Args:
        mode: one of ``MODES`` (see the module docstring).
        step: slices from one observed slice (``parallel``) or slab start (``thick``) to the next, at least 1.
        axis: the voxel axis (0, 1 or 2) along which ``parallel`` and ``thick`` count slices.
        offsets_mm: distances in mm of the ``orthogonal`` planes from the mask's centre of mass.
        thickness_mm: slab thickness in mm (``thick``), at most ``step`` slices.
        image_key, label_key: the mask on the model grid, and the input on its own grid (optional; ``given`` needs it).
        observed_key, label_observed_key: where the observed region is written, on each of those grids.

    Raises:
        ObservationError: an invalid setting; when called, a plane or slice outside the image, slabs thicker than
            ``step``, ``given`` without the labelmap or its slices, or no muscle voxel in the observed region.
    """

    def __init__(
        self,
        mode: str = "full",
        step: int = 4,
        axis: int = 2,
        offsets_mm: Sequence[float] = (0.0,),
        thickness_mm: float = 4.0,
        image_key: str = "image",
        label_key: str = "label",
        observed_key: str = "observed",
        label_observed_key: str = "label_observed",
    ) -> None:
        if mode not in MODES:
            raise ObservationError(f"observation: {mode!r} is not one of {', '.join(MODES)}")
        if mode in ("parallel", "thick") and (not float(step).is_integer() or int(step) < 1):
            raise ObservationError(f"observation_step: {step!r} must be a whole number of slices, at least 1")
        if mode in ("parallel", "thick") and str(axis) not in ("0", "1", "2"):
            raise ObservationError(f"observation_axis: {axis!r} is not 0, 1 or 2")
        offsets = [float(o) for o in np.atleast_1d(np.asarray(offsets_mm if offsets_mm is not None else []))]
        if mode == "orthogonal" and (not offsets or not np.all(np.isfinite(offsets))):
            raise ObservationError(
                f"observation_offsets_mm: {offsets_mm!r} gives no plane; orthogonal needs one or more"
            )
        if mode == "thick" and not (np.isfinite(thickness_mm) and thickness_mm > 0):
            raise ObservationError(f"observation_thickness_mm: {thickness_mm!r} must be a positive number of mm")
        self.mode, self.step, self.axis = mode, int(step), int(axis)
        self.offsets_mm, self.thickness_mm = offsets, float(thickness_mm)
        self.image_key, self.label_key = image_key, label_key
        self.observed_key, self.label_observed_key = observed_key, label_observed_key

    def region(self, mask: np.ndarray, affine, name: str) -> np.ndarray:
        """Observed voxels of the model grid for a simulated acquisition of ``mask``."""
        length = mask.shape[self.axis]
        if self.mode == "parallel":
            return on_slices(mask.shape, {self.axis: range(0, length, self.step)})
        if self.mode == "thick":
            slab = self.slabs(length, voxel_spacing(affine)[self.axis], name)
            return on_slices(mask.shape, {self.axis: np.flatnonzero(slab >= 0)})
        return on_slices(mask.shape, self.planes(mask, affine, name))

    def planes(self, mask: np.ndarray, affine, name: str) -> dict[int, list[int]]:
        """The orthogonal planes: along each axis, the slice at each offset from the centre of mass of ``mask``."""
        centre, spacing = np.argwhere(mask).mean(axis=0), voxel_spacing(affine)
        planes: dict[int, list[int]] = {}
        for axis in range(3):
            for offset in self.offsets_mm:
                plane = int(np.rint(centre[axis] + offset / spacing[axis]))
                if not 0 <= plane < mask.shape[axis]:
                    raise ObservationError(
                        f"{name}: observation_offsets_mm {offset:g} puts a plane outside the image along axis "
                        f"{axis} (slice {plane} of {mask.shape[axis]})"
                    )
                planes.setdefault(axis, []).append(plane)
        return planes

    def slabs(self, length: int, spacing_mm: float, name: str) -> np.ndarray:
        """Slab number of each slice along the axis (-1 between slabs): slabs start every ``step`` slices."""
        thickness = max(1, int(round(self.thickness_mm / spacing_mm)))
        if thickness > self.step:
            raise ObservationError(
                f"{name}: observation_thickness_mm {self.thickness_mm:g} ({thickness} slices of {spacing_mm:g} mm) "
                f"exceeds the slab spacing of observation_step {self.step} slices"
            )
        positions = np.arange(length)
        return np.where(positions % self.step < thickness, positions // self.step, -1)

    def slab_average(self, mask: np.ndarray, affine, name: str) -> np.ndarray:
        """Each slab replaced by its mean along the axis, thresholded at one half; nothing between slabs."""
        moved = np.moveaxis(mask, self.axis, 0).astype(np.float32)
        slab = self.slabs(len(moved), voxel_spacing(affine)[self.axis], name)
        out = np.zeros(moved.shape, dtype=bool)
        for number in np.unique(slab[slab >= 0]):
            out[slab == number] = moved[slab == number].mean(axis=0) >= 0.5
        return np.moveaxis(out, 0, self.axis)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        spec = d.pop(SLICES_KEY, None)
        if self.mode == "full":
            return d
        image = d[self.image_key]
        name = source_name(d.get(self.label_key, image))
        mask = np.asarray(torch.as_tensor(image)[0].cpu(), dtype=bool)
        label = d.get(self.label_key)
        if self.mode == "given":
            if label is None:
                raise ObservationError(f"{name}: observation 'given' needs the input labelmap; it is for scoring only")
            if spec is None:
                raise ObservationError(f"{name}: observation 'given' needs the subject's {SLICES_KEY}")
            observed_input = self.given_region(parse_slices(spec, f"{name}: {SLICES_KEY}"), label, name)
            values = np.asarray(torch.as_tensor(label)[0].cpu(), dtype=bool)
            observed, mask = transfer_observed(observed_input, values, label.affine, mask.shape, image.affine)
        else:
            observed = self.region(mask, image.affine, name)
            mask = self.slab_average(mask, image.affine, name) if self.mode == "thick" else mask & observed
        if not mask.any():
            raise ObservationError(f"{name}: no muscle voxel lies in the observed region ({self.mode})")
        d[self.image_key] = MetaTensor(torch.from_numpy(mask.astype(np.uint8))[None], meta=dict(image.meta))
        d[self.observed_key] = observed
        if label is not None and self.mode != "given":
            observed_input, values = transfer_observed(observed, mask, image.affine, label.shape[1:], label.affine)
            if self.mode != "thick":  # what the input itself holds where it was seen; a slab holds its average
                values = np.asarray(torch.as_tensor(label)[0].cpu(), dtype=bool)
            d[self.label_key] = MetaTensor(
                torch.from_numpy((values & observed_input).astype(np.uint8))[None], meta=dict(label.meta)
            )
        if label is not None:
            d[self.label_observed_key] = MetaTensor(
                torch.from_numpy(observed_input.astype(np.uint8))[None], meta=dict(label.meta)
            )
        return d

    def given_region(self, slices: dict[int, list[int]], label, name: str) -> np.ndarray:
        shape = label.shape[1:]
        for axis, indices in slices.items():
            outside = [i for i in indices if not 0 <= i < shape[axis]]
            if outside:
                raise ObservationError(
                    f"{name}: {SLICES_KEY} axis {axis} lists slice(s) {outside} outside the image "
                    f"(0..{shape[axis] - 1})"
                )
        return on_slices(shape, slices)
