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

from ..data.acquisition import MODES, SLICES_KEY, Acquisition, ObservationError, parse_slices
from ..data.geometry import transfer_observed
from .loading import source_name

__all__ = ["MODES", "SLICES_KEY", "ObservationError", "Observed"]


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
        self.acquisition = Acquisition(mode, step, axis, offsets_mm, thickness_mm)
        self.image_key, self.label_key = image_key, label_key
        self.observed_key, self.label_observed_key = observed_key, label_observed_key

    @property
    def mode(self) -> str:
        return self.acquisition.mode

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
            observed_input = self.acquisition.given_region(parse_slices(spec, f"{name}: {SLICES_KEY}"), label, name)
            values = np.asarray(torch.as_tensor(label)[0].cpu(), dtype=bool)
            observed, mask = transfer_observed(observed_input, values, label.affine, mask.shape, image.affine)
        else:
            observed = self.acquisition.region(mask, image.affine, name)
            mask = self.acquisition.slab_average(mask, image.affine, name) if self.mode == "thick" else mask & observed
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
