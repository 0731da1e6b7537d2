"""What an acquisition sees of a muscle: slices, orthogonal planes or thick slabs of a labelmap's grid.

``transforms.observation.Observed`` applies it to a subject; the modes are described there. ``observed_slices``
(``SLICES_KEY``) holds the slices a user segmented, per subject, in ``given`` mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .geometry import voxel_spacing

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


class Acquisition:
    """Which voxels an acquisition sees, in one of ``MODES`` (see ``transforms.observation``): slices, planes or slabs
    of a grid, checked against the grid they are taken from.

    Args:
        mode: one of ``MODES``.
        step: slices from one observed slice (``parallel``) or slab start (``thick``) to the next, at least 1.
        axis: the voxel axis (0, 1 or 2) along which ``parallel`` and ``thick`` count slices.
        offsets_mm: distances in mm of the ``orthogonal`` planes from the mask's centre of mass.
        thickness_mm: slab thickness in mm (``thick``), at most ``step`` slices.

    Raises:
        ObservationError: an invalid setting; when used, a plane or slice outside the grid, or slabs thicker than
            ``step``.
    """

    def __init__(
        self,
        mode: str = "full",
        step: int = 4,
        axis: int = 2,
        offsets_mm: Sequence[float] = (0.0,),
        thickness_mm: float = 4.0,
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

    def given_region(self, slices: dict[int, list[int]], label, name: str) -> np.ndarray:
        """The segmented slices a user listed, on the input's own grid, refused if outside it."""
        shape = label.shape[1:]
        for axis, indices in slices.items():
            outside = [i for i in indices if not 0 <= i < shape[axis]]
            if outside:
                raise ObservationError(
                    f"{name}: {SLICES_KEY} axis {axis} lists slice(s) {outside} outside the image "
                    f"(0..{shape[axis] - 1})"
                )
        return on_slices(shape, slices)
