"""Baselines scored on the same folds as the shape model, so that its value (or lack of it) is visible.

1. Muscle volume alone (less muscle = more abnormal), calibrated on the fold's healthy training subjects.
2. A classical statistical shape model: PCA of the training masks, aligned on their centre of mass and resampled
   onto one common grid; a subject is scored by its reconstruction error from the PCA subspace (1 - Dice) and by
   the Mahalanobis distance of its PCA coefficients.
3. A descriptor that knows the anomaly, as an upper reference rather than a competitor: the flatness of the
   muscle's cross-section (minus the ratio of its smallest to its middle principal spread; sarcopenic muscles are
   flatter), which no unsupervised method is told to look for.
"""

from __future__ import annotations

import numpy as np
from monai.transforms import EnsureChannelFirst, LoadImage
from sklearn.decomposition import PCA

from ..data.geometry import lookup_nearest, voxel_to_world, world_to_voxel
from ..transforms.muscle import SelectLabeld

BASELINE_LABELS = {
    "volume_score": "volume (baseline)",
    "ssm_recon_score": "voxel-PCA SSM error (baseline)",
    "ssm_mahalanobis": "voxel-PCA SSM Mahalanobis (baseline)",
    "flatness_score": "flatness (knows the anomaly)",
}
KNOWS_THE_ANOMALY = ("flatness_score",)
ALIGNED_GRID_MM = 2.0
ALIGNED_HALF_EXTENT_MM = (48.0, 36.0, 120.0)


def aligned_mask(path: str, label: int = 1) -> tuple[np.ndarray, float, float]:
    """A labelmap's muscle resampled (nearest) on a common grid centred on its centre of mass, its volume (ml) and
    its flatness (smallest over middle principal spread of the voxels in world space)."""
    image = EnsureChannelFirst()(LoadImage(image_only=True)(path))
    mask = SelectLabeld("image", label=label)({"image": image})["image"][0].numpy().astype(bool)
    affine = image.affine.numpy()
    world = voxel_to_world(np.argwhere(mask).astype(np.float64), affine)
    centre = world.mean(axis=0)
    spreads = np.sqrt(np.linalg.eigvalsh(np.cov((world - centre).T)))
    axes = [np.arange(-h, h + 1e-6, ALIGNED_GRID_MM) for h in ALIGNED_HALF_EXTENT_MM]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1) + centre
    volume_ml = float(mask.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000.0)
    aligned = lookup_nearest(mask, world_to_voxel(grid, affine)).astype(bool)
    return aligned, volume_ml, float(spreads[0] / spreads[1])


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


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
        error = np.array([1 - _dice(r, d > 0.5) for r, d in zip(reconstructed, data, strict=True)])
        mahalanobis = np.sqrt(((coefficients / self.coefficient_std) ** 2).sum(axis=1))
        return {"ssm_recon_score": error, "ssm_mahalanobis": mahalanobis}


def score_fold(
    train_items: list[dict], test_items: list[dict], label: int = 1, aligned: dict | None = None
) -> list[dict]:
    """Baseline scores of a fold's test subjects (one dict per subject, in order). ``aligned``: the ``aligned_mask``
    of every file already read, by path, shared between folds (each subject is in several) and filled here."""
    aligned = {} if aligned is None else aligned
    for item in train_items + test_items:
        if item["image"] not in aligned:
            aligned[item["image"]] = aligned_mask(item["image"], label)
    train = [aligned[item["image"]] for item in train_items]
    test = [aligned[item["image"]] for item in test_items]
    model = VoxelPCAShapeModel().fit(np.stack([m for m, _, _ in train]))
    ssm = model.score(np.stack([m for m, _, _ in test]))
    volumes = np.array([v for _, v, _ in train])
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
            }
        )
    return rows
