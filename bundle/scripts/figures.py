"""Figures: per-subject overlays of input and reconstruction, and group summaries (boxplots, ROC, LDA).

Every figure is written atomically as PNG with the non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from nibabel import orientations

from .files import atomic_path
from .geometry import as_numpy_affine, voxel_spacing

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GROUP_COLOURS = {"Y": "tab:green", "OH": "tab:blue", "OS": "tab:red"}


def save(fig, path: str | Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def _canonical(volume: np.ndarray, affine) -> tuple[np.ndarray, np.ndarray]:
    """Reorder a volume to RAS-like axes for display, with the matching voxel spacing."""
    affine = as_numpy_affine(affine)
    transform = orientations.ornt_transform(orientations.io_orientation(affine), orientations.axcodes2ornt("RAS"))
    spacing = voxel_spacing(affine)[transform[:, 0].argsort()]
    return orientations.apply_orientation(volume, transform), spacing


def overlay(label: np.ndarray, recon: np.ndarray, affine, title: str, path: str | Path) -> Path:
    """Axial, coronal and sagittal slices through the input's centre of mass: input filled, reconstruction outlined,
    disagreements coloured (red: expected but missing, blue: extra)."""
    label, spacing = _canonical(np.asarray(label, dtype=bool), affine)
    recon, _ = _canonical(np.asarray(recon, dtype=bool), affine)
    centre = np.round(np.argwhere(label).mean(axis=0)).astype(int) if label.any() else np.array(label.shape) // 2
    views = [("axial", 2, (0, 1)), ("coronal", 1, (0, 2)), ("sagittal", 0, (1, 2))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.5))
    for ax, (name, axis, (row_axis, col_axis)) in zip(axes, views, strict=True):
        cut = [slice(None)] * 3
        cut[axis] = int(centre[axis])
        observed, expected = label[tuple(cut)].T, recon[tuple(cut)].T
        rgb = np.ones(observed.shape + (3,))
        rgb[observed & expected] = (0.75, 0.75, 0.75)
        rgb[expected & ~observed] = (0.9, 0.2, 0.2)
        rgb[observed & ~expected] = (0.2, 0.4, 0.9)
        extent = (0, observed.shape[1] * spacing[row_axis], 0, observed.shape[0] * spacing[col_axis])
        ax.imshow(rgb, origin="lower", extent=extent, interpolation="nearest")
        if expected.any() and not expected.all():
            ax.contour(expected, levels=[0.5], colors="k", linewidths=0.8, origin="lower", extent=extent)
        ax.set(title=name, xlabel="mm", ylabel="mm")
    fig.suptitle(title)
    fig.text(
        0.5,
        0.01,
        "grey: agree   red: expected (reconstruction) but missing   blue: extra   line: reconstruction",
        ha="center",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    return save(fig, path)


def group_boxplot(values: Mapping[str, Sequence[float]], ylabel: str, title: str, path: str | Path, line=None):
    """Boxplot per group with the individual subjects as points; ``line`` draws a horizontal threshold."""
    groups = list(values)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(groups), 4.5))
    ax.boxplot([np.asarray(values[g], dtype=float) for g in groups], showfliers=False)
    ax.set_xticks(range(1, len(groups) + 1), groups)
    rng = np.random.default_rng(0)
    for i, group in enumerate(groups, start=1):
        points = np.asarray(values[group], dtype=float)
        ax.scatter(
            i + rng.uniform(-0.12, 0.12, len(points)),
            points,
            s=14,
            alpha=0.7,
            color=GROUP_COLOURS.get(group, "tab:gray"),
            zorder=3,
        )
    if line is not None:
        ax.axhline(line[1], color="k", linestyle="--", linewidth=1, label=line[0])
        ax.legend(loc="best")
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], title: str, path: str | Path) -> Path:
    """``curves``: name -> (false positive rates, true positive rates, AUC)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, path)


def lda_scatter(projected: np.ndarray, groups: Sequence[str], title: str, path: str | Path) -> Path:
    """Codes projected on the first (one or two) discriminant axes, coloured by group."""
    groups = np.asarray(groups)
    fig, ax = plt.subplots(figsize=(6, 5))
    second = projected[:, 1] if projected.shape[1] > 1 else np.random.default_rng(0).uniform(-0.5, 0.5, len(groups))
    for group in dict.fromkeys(groups):
        chosen = groups == group
        ax.scatter(
            projected[chosen, 0],
            second[chosen],
            label=group,
            s=24,
            alpha=0.8,
            color=GROUP_COLOURS.get(str(group), None),
        )
    ax.set(xlabel="LD1", ylabel="LD2" if projected.shape[1] > 1 else "(jitter)", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)
