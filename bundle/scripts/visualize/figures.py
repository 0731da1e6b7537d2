"""Figures: per-subject overlays of input and reconstruction, and group summaries (boxplots, ROC, LDA).

Every figure is written atomically as PNG. Figures are built with matplotlib's object-oriented API (``Figure``, no
pyplot), so drawing needs no GUI and selects no global backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from nibabel import orientations

from ..data.files import atomic_path
from ..data.geometry import as_numpy_affine, voxel_spacing

HEALTHY_COLOURS = ("tab:green", "tab:blue", "tab:cyan", "tab:olive", "tab:gray")
ABNORMAL_COLOURS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink")


def group_colours(order: Sequence[str], healthy: set[str]) -> dict[str, str]:
    """A colour per group: greens and blues for healthy groups, reds and oranges for the others."""
    colours, counts = {}, {True: 0, False: 0}
    for group in order:
        palette = HEALTHY_COLOURS if group in healthy else ABNORMAL_COLOURS
        colours[group] = palette[counts[group in healthy] % len(palette)]
        counts[group in healthy] += 1
    return colours


def save(fig, path: str | Path, tight: bool = True) -> Path:
    """Write ``fig`` as PNG; ``tight`` trims the margins to the drawn content (one more layout pass: figures drawn per
    subject lay themselves out once instead)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight" if tight else None)
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
    fig = Figure(figsize=(12, 4.5))  # a fixed layout: measuring text to fit it cost as much as drawing, per subject
    axes = fig.subplots(1, 3, gridspec_kw={"left": 0.05, "right": 0.99, "bottom": 0.16, "top": 0.86, "wspace": 0.22})
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
    return save(fig, path, tight=False)


def group_boxplot(
    values: Mapping[str, Sequence[float]], ylabel: str, title: str, path: str | Path, line=None, colours=None
) -> Path:
    """Boxplot per group with the individual subjects as points; ``line`` draws a horizontal threshold."""
    groups = list(values)
    fig = Figure(figsize=(1.6 + 1.4 * len(groups), 4.5))
    ax = fig.subplots()
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
            color=(colours or {}).get(group, "tab:gray"),
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
    fig = Figure(figsize=(5.5, 5))
    ax = fig.subplots()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return save(fig, path)


def lda_scatter(projected: np.ndarray, groups: Sequence[str], title: str, path: str | Path, colours=None) -> Path:
    """Codes projected on the first (one or two) discriminant axes, coloured by group."""
    groups = np.asarray(groups)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    second = projected[:, 1] if projected.shape[1] > 1 else np.random.default_rng(0).uniform(-0.5, 0.5, len(groups))
    for group in dict.fromkeys(groups):
        chosen = groups == group
        ax.scatter(
            projected[chosen, 0],
            second[chosen],
            label=group,
            s=24,
            alpha=0.8,
            color=(colours or {}).get(str(group), None),
        )
    ax.set(xlabel="LD1", ylabel="LD2" if projected.shape[1] > 1 else "(jitter)", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    return save(fig, path)


def training_curves(train: Mapping[str, Sequence[tuple[int, float]]], val, path: str | Path) -> Path:
    """Training loss parts (log scale) and Dice per epoch; ``train``/``val``: metric -> [(epoch, value), ...]."""
    fig = Figure(figsize=(11, 4))
    loss_ax, val_ax = fig.subplots(1, 2)
    for name in ("train_bce", "train_dice_loss", "train_code_reg"):
        if train.get(name):
            epochs, values = zip(*train[name], strict=True)
            loss_ax.semilogy(epochs, values, label=name)
    loss_ax.set(xlabel="epoch", title="training loss parts")
    for name in ("train_point_dice", "val_mean_dice"):
        series = train.get(name) or val.get(name)
        if series:
            epochs, values = zip(*series, strict=True)
            val_ax.plot(epochs, values, marker="o" if name.startswith("val") else None, label=name)
    val_ax.set(xlabel="epoch", ylabel="Dice", title="training (points) and validation (volumes) Dice")
    for ax in (loss_ax, val_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    return save(fig, path)


def shape_strip(
    volumes: Sequence[np.ndarray], spacing: float, titles: Sequence[str], path: str | Path, reference_index: int = 0
) -> Path:
    """The same three sections (axial at mid-length, sagittal and coronal through the centre) of each decoded shape,
    one column per shape, with the reference shape's outline on every panel for comparison."""
    occupied = [np.argwhere(v) for v in volumes if v.any()]
    if occupied:  # every panel shows the part of the box the shapes occupy, with a margin
        points = np.concatenate(occupied)
        low, high = np.maximum(points.min(axis=0) - 4, 0), points.max(axis=0) + 5
        volumes = [v[low[0] : high[0], low[1] : high[1], low[2] : high[2]] for v in volumes]
    reference = volumes[reference_index]
    centre = (
        np.round(np.argwhere(reference).mean(axis=0)).astype(int) if reference.any() else np.array(reference.shape) // 2
    )
    fig = Figure(figsize=(2.6 * len(volumes), 8.5))
    axes = fig.subplots(3, len(volumes), squeeze=False, height_ratios=[1, 2, 2])
    for column, (volume, title) in enumerate(zip(volumes, titles, strict=True)):
        for row, axis in enumerate((2, 0, 1)):
            cut = [slice(None)] * 3
            cut[axis] = int(centre[axis])
            section, outline = volume[tuple(cut)].T, reference[tuple(cut)].T
            ax = axes[row, column]
            extent = (0, section.shape[1] * spacing, 0, section.shape[0] * spacing)
            ax.imshow(section, origin="lower", cmap="Greys", vmin=0, vmax=1.6, extent=extent, interpolation="nearest")
            if outline.any() and not outline.all():
                ax.contour(outline, levels=[0.5], colors="tab:green", linewidths=0.8, origin="lower", extent=extent)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
        axes[0, 0].set_ylabel("axial, mid-length")
        axes[1, 0].set_ylabel("sagittal")
        axes[2, 0].set_ylabel("coronal")
    fig.suptitle(f"decoded shapes (grey) and the outline of {titles[reference_index]} (green)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return save(fig, path)
