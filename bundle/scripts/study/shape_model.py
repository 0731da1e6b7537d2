"""A conventional statistical shape model of signed distances: the classical counterpart of the INR's normal shape.

Every muscle, in any orientation or spacing, is put in its own principal frame (centre of mass and principal axes of
its voxels in world mm, signed as ``deviation.ShapeFrame`` signs them: long axis towards +S, width axis towards +R, so
that the muscles of a cohort, stored in RAS space, end up oriented alike). Its signed distance field (mm, negative
inside) is computed on its own grid, read on one common grid of that frame (``GRID_MM``, ``HALF_EXTENT_MM`` along the
long, width and thickness axes) and clipped to ``+-BAND_MM``: far from the surface every muscle looks the same.

Probabilistic PCA (Tipping & Bishop 1999) of the healthy training fields keeps the components explaining
``VARIANCE`` of their variance; the noise variance is the mean of the discarded eigenvalues of the fields' covariance,
all ``D - q`` of them (those beyond the sample's rank are zero): the maximum-likelihood estimate. A field's restored
shape is the zero level of its projection onto the subspace, mapped back onto the subject's own grid, so that the
bundle's deviation machinery compares it with the input as it compares the INR's reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from monai.transforms import EnsureChannelFirst, LoadImage
from scipy import ndimage

from ..data.geometry import as_numpy_affine, crop_around, voxel_spacing, voxel_to_world
from ..scoring.deviation import ShapeFrame, signed_distance
from ..scoring.sections import section_aspects
from ..transforms.muscle import SelectLabeld

GRID_MM = 2.0
HALF_EXTENT_MM = (130.0, 46.0, 36.0)  # long, width, thickness: the demo's longest muscles and the band around them
BAND_MM = 10.0  # signed distances are clipped to +-BAND_MM
VARIANCE = 0.95  # share of the healthy variance the kept components explain
NOISE_FLOOR = 1e-6  # mm^2: a model of one subject (no variance) still gives finite scores
GRID_SHAPE = tuple(int(round(2 * h / GRID_MM)) + 1 for h in HALF_EXTENT_MM)
SURFACE_BAND_MM = 2.0  # voxels this close to the subject's surface make the residual near the surface


def load_muscle(path: str, label: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A labelmap's muscle as a boolean array and its affine (world mm, RAS)."""
    image = EnsureChannelFirst()(LoadImage(image_only=True)(path))
    mask = SelectLabeld("image", label=label)({"image": image})["image"][0].numpy().astype(bool)
    return mask, as_numpy_affine(image.affine)


def grid_from_voxels(frame: ShapeFrame, affine) -> np.ndarray:
    """The 4x4 map from a subject's voxel indices to (fractional) indices of the common grid in its principal frame."""
    to_frame = np.eye(4)
    to_frame[:3, :3], to_frame[:3, 3] = frame.axes, -frame.axes @ frame.centre
    to_index = np.diag([1.0 / GRID_MM] * 3 + [1.0])
    to_index[:3, 3] = np.asarray(HALF_EXTENT_MM) / GRID_MM
    return to_index @ to_frame @ as_numpy_affine(affine)


@dataclass
class SubjectShape:
    """A muscle cut to the box around it on its own grid (bits packed, so that a whole cohort can be cached, with
    ``BAND_MM`` of background around it) and its principal frame; the aligned field is computed once, when asked."""

    packed: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray
    frame: ShapeFrame

    @classmethod
    def of_mask(cls, mask: np.ndarray, affine) -> SubjectShape:
        affine = as_numpy_affine(affine)
        margin = int(np.ceil(BAND_MM / voxel_spacing(affine).min())) + 2
        padded = affine.copy()
        padded[:3, 3] = voxel_to_world(np.full(3, -float(margin)), affine)
        (box,), box_affine = crop_around([np.pad(np.asarray(mask, dtype=bool), margin)], padded, margin)
        return cls(np.packbits(box), tuple(int(n) for n in box.shape), box_affine, ShapeFrame.of_mask(mask, affine))

    @property
    def mask(self) -> np.ndarray:
        return np.unpackbits(self.packed, count=int(np.prod(self.shape))).reshape(self.shape).astype(bool)

    @cached_property
    def sdf(self) -> np.ndarray:
        """Signed distances (mm, clipped to +-BAND_MM) on the common grid of the muscle's principal frame (float32):
        computed on its own grid, where the surface is finest, and read there trilinearly."""
        own = signed_distance(self.mask, voxel_spacing(self.affine))
        back = np.linalg.inv(grid_from_voxels(self.frame, self.affine))
        field = ndimage.affine_transform(own, back[:3, :3], back[:3, 3], GRID_SHAPE, order=1, mode="nearest")
        return np.clip(field, -BAND_MM, BAND_MM).astype(np.float32)

    @cached_property
    def aspects(self) -> np.ndarray:
        """Section aspects in the muscle's own principal frame (``sections.section_aspects``)."""
        return section_aspects(self.mask, self.affine, self.frame)

    def restore(self, field: np.ndarray) -> np.ndarray:
        """The shape whose aligned field is ``field`` (e.g. a projection of ``sdf``), as a mask on this grid."""
        return field_to_mask(field, self.frame, self.affine, self.shape)


def field_to_mask(field: np.ndarray, frame: ShapeFrame, affine, shape: tuple[int, ...]) -> np.ndarray:
    """The shape whose field on the common grid of ``frame`` is ``field``, as a mask on a grid of ``shape`` and
    ``affine`` (read trilinearly; outside the common grid is outside the shape)."""
    forward = grid_from_voxels(frame, affine)
    values = ndimage.affine_transform(
        np.asarray(field, dtype=np.float32), forward[:3, :3], forward[:3, 3], tuple(shape), order=1, cval=BAND_MM
    )
    return values < 0


class ShapeModel:
    """Probabilistic PCA of flattened aligned fields: ``mean``, ``components`` ``[q, D]`` (orthonormal rows),
    ``eigenvalues`` ``[q]`` and the isotropic ``noise_variance`` of the rest."""

    def __init__(self, variance: float = VARIANCE) -> None:
        self.variance = variance

    def fit(self, fields: np.ndarray, gram: np.ndarray | None = None) -> ShapeModel:
        """Fit on ``fields`` ``[n, ...]``; ``gram``: their inner products after any common shift, ``(X - s)(X - s)^T``,
        computed once for many subsets (leave-one-out refits then cost ``O(nD)``, not ``O(n^2 D)``)."""
        data = np.asarray(fields, dtype=np.float32).reshape(len(fields), -1)
        count, self.dimension = data.shape
        self.mean = data.mean(axis=0, dtype=np.float64).astype(np.float32)
        centred = data - self.mean
        if gram is None:
            gram = centred.astype(np.float64) @ centred.T.astype(np.float64)
        else:
            centring = np.eye(count) - 1.0 / count
            gram = centring @ np.asarray(gram, dtype=np.float64) @ centring
        values, vectors = np.linalg.eigh(gram)
        values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
        eigen = values / max(count - 1, 1)
        total = float(eigen.sum())
        kept = int(np.searchsorted(np.cumsum(eigen) / total, self.variance - 1e-12) + 1) if total > 0 else 0
        kept = min(kept, count - 1)
        components = (centred.T @ vectors[:, :kept].astype(np.float32)) / np.sqrt(values[:kept])
        self.components = components.T.astype(np.float32)
        self.eigenvalues = eigen[:kept]
        discarded = max(total - float(self.eigenvalues.sum()), 0.0)
        self.noise_variance = max(discarded / max(self.dimension - kept, 1), NOISE_FLOOR)
        return self

    @property
    def kept(self) -> int:
        return len(self.eigenvalues)

    def _centred(self, fields: np.ndarray) -> np.ndarray:
        return np.asarray(fields, dtype=np.float32).reshape(len(fields), -1) - self.mean

    def coefficients(self, fields: np.ndarray) -> np.ndarray:
        """Coordinates ``[n, q]`` of fields in the principal subspace."""
        return (self._centred(fields) @ self.components.T).astype(np.float64)

    def reconstruct(self, fields: np.ndarray) -> np.ndarray:
        """The fields' orthogonal projections onto the subspace, shaped like the fields."""
        fields = np.asarray(fields)
        return (self.mean + self.coefficients(fields).astype(np.float32) @ self.components).reshape(fields.shape)

    def score(self, fields: np.ndarray) -> dict[str, np.ndarray]:
        """Per field: ``mahalanobis`` of its coefficients, ``residual`` (squared norm outside the subspace over the
        noise variance), ``nll`` (PPCA negative log-likelihood, both together) and ``surface_rms_mm`` (RMS of the
        residual where the field is within ``SURFACE_BAND_MM`` of the surface)."""
        centred = self._centred(fields)
        coefficients = (centred @ self.components.T).astype(np.float64)
        rest = centred - coefficients.astype(np.float32) @ self.components
        squared = (rest.astype(np.float64) ** 2).sum(axis=1)
        mahalanobis = (coefficients**2 / self.eigenvalues).sum(axis=1)
        log_det = float(np.log(self.eigenvalues).sum()) + (self.dimension - self.kept) * np.log(self.noise_variance)
        nll = 0.5 * (self.dimension * np.log(2 * np.pi) + log_det + mahalanobis + squared / self.noise_variance)
        near = np.abs(centred + self.mean) < SURFACE_BAND_MM
        surface = np.sqrt((rest**2 * near).sum(axis=1) / np.maximum(near.sum(axis=1), 1))
        return {
            "mahalanobis": np.sqrt(mahalanobis),
            "residual": squared / self.noise_variance,
            "nll": nll,
            "surface_rms_mm": surface.astype(np.float64),
        }
