"""Baselines scored on the same folds as the shape model, so that its value (or lack of it) is visible.

1. Muscle volume alone (less muscle = more abnormal), calibrated on the fold's healthy training subjects.
2. A classical statistical shape model: PCA of the training masks, aligned on their centre of mass and resampled
   onto one common grid; a subject is scored by its reconstruction error from the PCA subspace (1 - Dice) and by
   the Mahalanobis distance of its PCA coefficients.
3. A descriptor that knows the anomaly, as an upper reference rather than a competitor: the flatness of the
   muscle's cross-section (minus the ratio of its smallest to its middle principal spread; sarcopenic muscles are
   flatter), which no unsupervised method is told to look for.
4. What the INR adds over a competent classical pipeline that knows the same things: a probabilistic PCA of signed
   distance fields in each muscle's principal frame (``shape_model``; its own scores ``sdf_*``) and the twins of the
   INR's regional scores (``twins``; ``twin_*``), measured and normed against healthy subjects as the bundle's are,
   with the shape model's restored shape (or none) in place of the network's; given labelled abnormal subjects, the
   abnormal axis of its coefficients (``ssm_axis_score``, as the bundle's axis of INR codes).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from ..data.geometry import lookup_nearest, voxel_to_world, world_to_voxel
from ..scoring.metrics import mask_dice
from .shape_model import SubjectShape, load_muscle
from .twins import TwinScorer, coefficient_axis, ssm_axis_score

BASELINE_LABELS = {
    "volume_score": "volume (baseline)",
    "ssm_recon_score": "voxel-PCA SSM error (baseline)",
    "ssm_mahalanobis": "voxel-PCA SSM Mahalanobis (baseline)",
    "flatness_score": "flatness (knows the anomaly)",
    "sdf_mahalanobis": "SDF-PPCA SSM Mahalanobis (baseline)",
    "sdf_residual": "SDF-PPCA SSM residual (baseline)",
    "sdf_nll": "SDF-PPCA SSM negative log-likelihood (baseline)",
    "sdf_surface_rms_mm": "SDF-PPCA SSM residual near the surface (baseline)",
    "twin_flattening": "flattening vs healthy sections, no restored shape (twin)",
    "twin_ssm_flattening": "flattening vs SSM-restored shape (twin)",
    "twin_ssm_atrophy": "regional atrophy vs SSM-restored shape (twin)",
    "twin_combined": "combined, SSM twins (twin)",
}
KNOWS_THE_ANOMALY = ("flatness_score",)
ALIGNED_GRID_MM = 2.0
ALIGNED_HALF_EXTENT_MM = (48.0, 36.0, 120.0)


class AlignedMask(tuple):
    """``(mask on the common grid, volume in ml, flatness)`` as ``aligned_mask`` has always given it, carrying
    ``subject``: the muscle on its own grid for the signed-distance shape model, so that each file is read once."""

    subject: SubjectShape

    def __new__(cls, values, subject: SubjectShape) -> AlignedMask:
        aligned = super().__new__(cls, values)
        aligned.subject = subject
        return aligned


def aligned_mask(path: str, label: int = 1) -> AlignedMask:
    """A labelmap's muscle resampled (nearest) on a common grid centred on its centre of mass, its volume (ml) and
    its flatness (smallest over middle principal spread of the voxels in world space)."""
    mask, affine = load_muscle(path, label)
    world = voxel_to_world(np.argwhere(mask).astype(np.float64), affine)
    centre = world.mean(axis=0)
    spreads = np.sqrt(np.linalg.eigvalsh(np.cov((world - centre).T)))
    axes = [np.arange(-h, h + 1e-6, ALIGNED_GRID_MM) for h in ALIGNED_HALF_EXTENT_MM]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) + centre
    volume_ml = float(mask.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000.0)
    aligned = lookup_nearest(mask, world_to_voxel(grid, affine)).astype(bool)
    return AlignedMask((aligned, volume_ml, float(spreads[0] / spreads[1])), SubjectShape.of_mask(mask, affine))


class VoxelPCAShapeModel:
    """PCA of flattened aligned masks; keeps the components explaining ``variance`` of the training shapes."""

    def __init__(self, variance: float = 0.95) -> None:
        self.variance = variance

    def fit(self, masks: np.ndarray) -> VoxelPCAShapeModel:
        data = masks.reshape(len(masks), -1).astype(np.float32)
        self.pca = PCA(n_components=self.variance, svd_solver="full").fit(data)
        coefficients = self.pca.transform(data)
        self.coefficient_std = coefficients.std(axis=0, ddof=1)
        return self

    def score(self, masks: np.ndarray) -> dict[str, np.ndarray]:
        data = masks.reshape(len(masks), -1).astype(np.float32)
        coefficients = self.pca.transform(data)
        reconstructed = self.pca.inverse_transform(coefficients) > 0.5
        error = np.array([1 - mask_dice(r, d > 0.5) for r, d in zip(reconstructed, data, strict=True)])
        mahalanobis = np.sqrt(((coefficients / self.coefficient_std) ** 2).sum(axis=1))
        return {"ssm_recon_score": error, "ssm_mahalanobis": mahalanobis}


def score_fold(
    train_items: list[dict],
    test_items: list[dict],
    label: int = 1,
    aligned: dict | None = None,
    abnormal_items: list[dict] | None = None,
) -> list[dict]:
    """Baseline scores of a fold's test subjects (one dict per subject, in order). ``aligned``: the ``aligned_mask``
    of every file already read, by path, shared between folds (each subject is in several) and filled here (with the
    aligned signed distances the shape model computes once per file). ``abnormal_items``: labelled abnormal subjects
    (none of the test subjects), whose shape-model coefficients learn the abnormal axis of ``ssm_axis_score``."""
    aligned = {} if aligned is None else aligned
    for item in train_items + test_items + list(abnormal_items or []):
        if item["image"] not in aligned:
            aligned[item["image"]] = aligned_mask(item["image"], label)
    train = [aligned[item["image"]] for item in train_items]
    test = [aligned[item["image"]] for item in test_items]
    model = VoxelPCAShapeModel().fit(np.stack([m for m, _, _ in train]))
    ssm = model.score(np.stack([m for m, _, _ in test]))
    volumes = np.array([v for _, v, _ in train])
    twins = TwinScorer().fit([a.subject for a in train])
    along = None
    if abnormal_items:
        abnormal = [aligned[item["image"]].subject for item in abnormal_items]
        axis = coefficient_axis(twins.model, [a.subject for a in train], abnormal)
        along = ssm_axis_score(axis, twins.model, [a.subject for a in test])
    rows = []
    for i, (item, (_, volume, flatness)) in enumerate(zip(test_items, test, strict=True)):
        rows.append(
            {
                "id": item["id"],
                "volume_ml": volume,
                "volume_score": -volume,
                "volume_z": float((volumes.mean() - volume) / volumes.std(ddof=1)),
                "ssm_recon_score": float(ssm["ssm_recon_score"][i]),
                "ssm_mahalanobis": float(ssm["ssm_mahalanobis"][i]),
                "ssm_components": int(model.pca.n_components_),
                "flatness_score": -flatness,
                **twins.score(test[i].subject),
                **({} if along is None else {"ssm_axis_score": float(along[i])}),
            }
        )
    return rows
