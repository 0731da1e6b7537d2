"""The classical twin of fitting a partial observation: a signed-distance shape model fitted to observed voxels only.

The INR fits a code (and a shift) to the voxels that were seen, under its healthy prior, and decodes the whole muscle.
The twin does the same with the linear decoder of a conventional shape model: probabilistic PCA (``shape_model``) of
the healthy training muscles' signed distance fields, each in the frame the INR sees them in (the input reoriented to
RAS, centred on the muscle's centre of mass, no rotation: a partial observation has no reliable principal axes). A
new subject's coefficients ``s`` (in healthy standard deviations) and shift ``t`` (mm) minimise, over its observed
voxels only, the binary cross-entropy of the occupancy ``sigmoid(-field / temperature_mm)`` plus
``prior_weight * |s|^2`` (the Gaussian prior of PPCA), starting from the mean shape at the observed centre of mass.

Scores: ``ssm_observed_distance`` (``|s|``, the twin of the latent distance) and ``ssm_observed_recon`` (1 - Dice of
the restored shape with the observation on the observed voxels, the twin of ``recon_score``); the restored shape on
the input's grid is what the INR's reconstruction is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ..data.geometry import as_numpy_affine, voxel_to_world
from ..scoring.change import centre_of_mass_mm
from ..scoring.deviation import ShapeFrame
from ..scoring.metrics import mask_dice
from .shape_model import BAND_MM, GRID_MM, GRID_SHAPE, HALF_EXTENT_MM, ShapeModel, SubjectShape, field_to_mask

NEAR_VOXELS = 3  # voxels of the observed boundary's band, where half of the fitted points are drawn
# Rows: long, width and thickness axes of the common grid, as RAS directions (S, R, A): the frame of a muscle lying
# along S, as the INR's inputs do once reoriented.
INPUT_AXES = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def input_frame(centre: np.ndarray) -> ShapeFrame:
    """The frame the INR sees a muscle in: its axes are the input's RAS axes, its origin ``centre`` (world mm)."""
    return ShapeFrame(np.asarray(centre, dtype=np.float64), INPUT_AXES, (-HALF_EXTENT_MM[0], HALF_EXTENT_MM[0]))


def in_input_frame(mask: np.ndarray, affine) -> SubjectShape:
    """A full healthy muscle for the twin's shape model, in the input's frame at its centre of mass."""
    subject = SubjectShape.of_mask(mask, affine)
    return SubjectShape(subject.packed, subject.shape, subject.affine, input_frame(subject.frame.centre))


@dataclass
class ObservedFit:
    """One subject's fit: ``coefficients`` (healthy SDs), ``shift_mm``, the ``restored`` muscle on the input's grid."""

    coefficients: np.ndarray
    shift_mm: np.ndarray
    restored: np.ndarray
    observed_dice: float

    def scores(self) -> dict[str, float]:
        return {
            "ssm_observed_distance": float(np.linalg.norm(self.coefficients)),
            "ssm_observed_recon": 1.0 - self.observed_dice,
            "ssm_observed_shift_mm": float(np.linalg.norm(self.shift_mm)),
        }


class ObservedShapeFit:
    """Fits ``model`` (PPCA of fields in ``input_frame``) to the observed voxels of new subjects.

    Args:
        model: the healthy shape model, fitted on ``in_input_frame`` fields.
        temperature_mm: signed distance over which the occupancy goes from 0.27 to 0.73.
        prior_weight: weight of ``|s|^2`` against the mean cross-entropy. Both defaults were chosen on a tuning seed
            by the healthy Dice against the full mask (``bench/partial_twin.py``).
        max_points: observed voxels used per fit (a random subset, drawn with ``seed``, where there are more).
        iterations: L-BFGS iterations.
    """

    def __init__(
        self,
        model: ShapeModel,
        temperature_mm: float = 0.25,
        prior_weight: float = 1e-4,
        max_points: int = 40000,
        iterations: int = 100,
        seed: int = 0,
    ) -> None:
        basis = model.components * np.sqrt(model.eigenvalues)[:, None].astype(np.float32)
        stacked = np.concatenate([model.mean[None] - BAND_MM, basis]).reshape(-1, *GRID_SHAPE)
        self.basis = torch.from_numpy(np.ascontiguousarray(stacked))[None]  # [1, 1 + q, *GRID_SHAPE]; zero outside
        self.model, self.temperature_mm, self.prior_weight = model, temperature_mm, prior_weight
        self.max_points, self.iterations, self.seed = max_points, iterations, seed

    def _field(self, local: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
        """The model's field (mm) at points given in the frame's coordinates (mm): outside the grid, the band (the
        mean is stored less the band, so that grid_sample's zeros outside read as the band)."""
        index = local / GRID_MM + torch.tensor(HALF_EXTENT_MM, dtype=local.dtype) / GRID_MM
        size = torch.tensor(GRID_SHAPE, dtype=local.dtype) - 1
        grid = (2 * index / size - 1).flip(-1).reshape(1, 1, 1, -1, 3)  # grid_sample reads (x, y, z) as (k, j, i)
        sampled = torch.nn.functional.grid_sample(self.basis, grid, align_corners=True).reshape(self.basis.shape[1], -1)
        weights = torch.cat([torch.ones(1, dtype=coefficients.dtype), coefficients])
        return weights @ sampled + BAND_MM

    def _points(self, observed: np.ndarray, region: np.ndarray) -> np.ndarray:
        """Observed voxels to fit: half of them within ``NEAR_VOXELS`` of the observed boundary (where the shape is
        decided), the rest anywhere in the region, at most ``max_points`` in all."""
        rng = np.random.default_rng(self.seed)
        boundary = ndimage.binary_dilation(observed, iterations=NEAR_VOXELS)
        boundary &= ~ndimage.binary_erosion(observed, iterations=NEAR_VOXELS)
        near, anywhere = np.argwhere(boundary & region), np.argwhere(region)
        picked = []
        for voxels, count in ((near, self.max_points // 2), (anywhere, self.max_points - self.max_points // 2)):
            picked.append(voxels if len(voxels) <= count else voxels[rng.choice(len(voxels), count, replace=False)])
        return np.concatenate(picked)

    def fit(self, observed: np.ndarray, region: np.ndarray, affine) -> ObservedFit:
        """Fit to ``observed`` (the muscle, bool) on ``region`` (the voxels seen) of a grid with ``affine``."""
        affine = as_numpy_affine(affine)
        voxels = self._points(observed, region)
        inside = observed[tuple(voxels.T)]
        if not inside.any():
            raise ValueError("no muscle voxel in the observed region")
        world = voxel_to_world(voxels.astype(np.float64), affine)
        centre = centre_of_mass_mm(observed & region, affine)
        local = torch.from_numpy(((world - centre) @ INPUT_AXES.T).astype(np.float32))
        target = torch.from_numpy(inside.astype(np.float32))
        coefficients = torch.zeros(self.model.kept, requires_grad=True)
        shift = torch.zeros(3, requires_grad=True)
        optimiser = torch.optim.LBFGS([coefficients, shift], max_iter=self.iterations, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimiser.zero_grad()
            logits = -self._field(local - shift, coefficients) / self.temperature_mm
            value = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            value = value + self.prior_weight * (coefficients**2).sum()
            value.backward()
            return value

        optimiser.step(loss)
        coefficients_found = coefficients.detach().numpy().astype(np.float64)
        shift_mm = shift.detach().numpy().astype(np.float64) @ INPUT_AXES  # frame axes back to world (RAS) mm
        field = self.model.mean + (coefficients_found * np.sqrt(self.model.eigenvalues)).astype(np.float32) @ (
            self.model.components
        )
        restored = field_to_mask(field.reshape(GRID_SHAPE), input_frame(centre + shift_mm), affine, observed.shape)
        return ObservedFit(coefficients_found, shift_mm, restored, mask_dice(restored & region, observed & region))
