"""Point sampling: what the decoder sees of a labelmap during training and latent fitting.

Volumes are never fed whole. ``FindSurfaced`` (deterministic, so ``CacheDataset`` keeps its result) lists the
voxels on either side of the boundary once per subject; ``SamplePointsd`` (random) then draws, at each step, points
near that boundary (jittered by about a voxel) and points uniformly in the mask's bounding box, with their occupancy.
The cost per step depends on the number of points, not on the volume size.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable
from scipy import ndimage

from ..data.geometry import lookup_nearest, to_model, voxel_spacing, voxel_to_world
from .loading import LabelmapError, source_name


def boundary_voxels(mask: np.ndarray, observed: np.ndarray | None = None) -> np.ndarray:
    """Indices ``[M, 3]`` of voxels inside or outside the mask that have a 6-neighbour of the other kind.

    With ``observed`` (partial observations), only observed voxels and observed neighbours count: the edge of an
    observed plane is not a boundary of the muscle.
    """
    structure = ndimage.generate_binary_structure(3, 1)
    if observed is None:
        inner = mask & ~ndimage.binary_erosion(mask, structure, border_value=0)
        outer = ndimage.binary_dilation(mask, structure) & ~mask
    else:
        inner = mask & observed & ndimage.binary_dilation(observed & ~mask, structure)
        outer = observed & ~mask & ndimage.binary_dilation(mask & observed, structure)
    return np.argwhere(inner | outer).astype(np.int32)


class FindSurfaced(MapTransform):
    """Store the boundary voxel indices, which ``SamplePointsd`` draws from and takes the bounding box of.

    Under a partial observation (``observed_key``, see ``observation.Observed``) the boundary is the one seen in the
    observed voxels, whose indices are stored too (``observed_key`` + ``_voxels``) for the sampler.

    Args:
        keys, allow_missing_keys: the binary mask(s) on the model grid, and whether one may be absent.
        surface_key: where the boundary voxel indices ``[M, 3]`` are written.
        observed_key: the observed region (``observation.Observed``); absent for a full observation.

    Raises:
        LabelmapError: when called, the mask is empty after resampling.
    """

    def __init__(
        self,
        keys: KeysCollection,
        surface_key: str = "surface",
        observed_key: str = "observed",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        self.surface_key, self.observed_key = surface_key, observed_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            mask = np.asarray(torch.as_tensor(d[key])[0].cpu(), dtype=bool)
            if not mask.any():
                raise LabelmapError(f"{source_name(d[key])}: the mask is empty after resampling")
            observed = d.get(self.observed_key)
            surface = boundary_voxels(mask, observed)
            # an observed region that the muscle fills entirely has no boundary; its voxels are the best there is
            d[self.surface_key] = surface if len(surface) else np.argwhere(mask).astype(np.int32)
            if observed is not None:
                d[self.observed_key + "_voxels"] = np.argwhere(observed).astype(np.int32)
        return d


class SamplePointsd(Randomizable, MapTransform):
    """Draw ``num_points`` points of a binary mask with their occupancy, in the model frame.

    A fraction ``surface_fraction`` lies near the boundary (a boundary voxel plus Gaussian jitter of
    ``jitter_voxels``); the rest is uniform in the mask's bounding box grown by ``box_margin_mm``. Under a partial
    observation (``observed_key``, see ``FindSurfaced``) every point lies in an observed voxel: a jittered point that
    leaves the observed region stays in its boundary voxel, and the uniform points are drawn among the observed voxels
    of the box, so that nothing unobserved is ever taken for background. Writes ``points`` ``[N, 3]`` and ``occupancy``
    ``[N, 1]`` (float32) and leaves the inputs untouched, so cached items can be reused without copying.

    With a ``seed``, each subject's points depend only on the seed and the subject's ``id``, not on which subjects
    were processed before it: a fit, hence a score, is the same in any order, batch or process.

    Args:
        keys, allow_missing_keys: the binary mask(s) on the model grid, and whether one may be absent.
        num_points: points drawn per subject and call; surface_fraction: the share near the boundary (0 to 1).
        jitter_voxels: standard deviation, in voxels, of the boundary points' Gaussian jitter.
        box_margin_mm: how far, in mm, the box of the uniform points extends beyond the boundary voxels.
        coordinate_scale: model units per mm from the centre of mass (the model's frame).
        centre_key, surface_key, observed_key: the centre of mass (world mm), the boundary voxels (``FindSurfaced``;
            computed here when absent) and the observed region (absent: all observed).
        points_key, occupancy_key: where the points ``[N, 3]`` and their occupancies ``[N, 1]`` are written.
        seed, id_key: with a seed, a subject's points depend on it and the id only; None uses the transform's state.

    Raises:
        ValueError: ``num_points`` below 1 or ``surface_fraction`` outside [0, 1].
    """

    def __init__(
        self,
        keys: KeysCollection,
        num_points: int = 4096,
        surface_fraction: float = 0.6,
        jitter_voxels: float = 1.0,
        box_margin_mm: float = 8.0,
        coordinate_scale: float = 0.02,
        centre_key: str = "centre",
        surface_key: str = "surface",
        observed_key: str = "observed",
        points_key: str = "points",
        occupancy_key: str = "occupancy",
        seed: int | None = None,
        id_key: str = "id",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if num_points < 1 or not 0.0 <= surface_fraction <= 1.0:
            raise ValueError(f"invalid sampling: num_points={num_points}, surface_fraction={surface_fraction}")
        self.num_points = num_points
        self.surface_fraction = surface_fraction
        self.jitter_voxels = jitter_voxels
        self.box_margin_mm = box_margin_mm
        self.coordinate_scale = coordinate_scale
        self.centre_key, self.surface_key, self.observed_key = centre_key, surface_key, observed_key
        self.points_key, self.occupancy_key = points_key, occupancy_key
        self.seed, self.id_key = seed, id_key

    def randomize(self, data=None) -> None:  # sampling draws from self.R directly, per call
        pass

    def generator(self, data: Mapping) -> np.random.RandomState:
        """The transform's own random state, or one seeded by the subject when ``seed`` is set."""
        if self.seed is None:
            return self.R
        subject = str(data.get(self.id_key, "")).encode()
        return np.random.RandomState([int(self.seed) % 2**32, zlib.crc32(subject)])

    def sample_indices(
        self, mask: np.ndarray, surface: np.ndarray, spacing: np.ndarray, observed=None, rng=None
    ) -> np.ndarray:
        """Fractional voxel indices ``[N, 3]`` of the sampled points; ``observed`` is ``(volume, voxel indices)``."""
        rng = self.R if rng is None else rng
        n_surface = int(round(self.num_points * self.surface_fraction))
        picked = surface[rng.randint(0, len(surface), size=n_surface)].astype(np.float64)
        near = picked + rng.normal(0.0, self.jitter_voxels, size=picked.shape)
        margin = self.box_margin_mm / spacing  # the boundary voxels bound the mask (plus one voxel)
        low, high = surface.min(axis=0) - margin, surface.max(axis=0) + margin
        if observed is None:
            return np.concatenate([near, rng.uniform(low, high, size=(self.num_points - n_surface, 3))])
        volume, voxels = observed
        left = lookup_nearest(volume, near) == 0
        near[left] = picked[left] + rng.uniform(-0.5, 0.5, size=(int(left.sum()), 3))
        in_box = voxels[np.all((voxels >= low) & (voxels <= high), axis=1)]
        uniform = in_box[rng.randint(0, len(in_box), size=self.num_points - n_surface)]
        return np.concatenate([near, uniform + rng.uniform(-0.5, 0.5, size=uniform.shape)])

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            mask = torch.as_tensor(image)[0].cpu().numpy()  # a view: no copy of the volume per step
            surface = d.get(self.surface_key)
            surface = surface if surface is not None else boundary_voxels(mask.astype(bool))
            affine = image.affine
            rng = self.generator(d)
            voxels = d.get(self.observed_key + "_voxels")
            observed = None if voxels is None else (d[self.observed_key], voxels)
            indices = self.sample_indices(mask, surface, voxel_spacing(affine), observed, rng)
            world = voxel_to_world(indices, affine)
            d[self.points_key] = torch.from_numpy(to_model(world, d[self.centre_key], self.coordinate_scale))
            d[self.occupancy_key] = torch.from_numpy(lookup_nearest(mask, indices).astype(np.float32)[:, None])
        return d
