"""A pair's change map as a PNG: the first visit's surface seen from the front and from the side, each vertex coloured
by its signed change to the second visit (blue inward, red outward), for a report or a quick look without a 3D viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..scoring.deviation import Surface
from .figures import save

LIMIT_MM = 3.0  # the colour scale's ends: changes beyond saturate


def change_figure(surface: Surface, change: np.ndarray, title: str, path: str | Path) -> Path:
    """Two orthogonal views of the surface (RAS: the coronal x-z and the sagittal y-z plane), nearest vertices drawn
    last, coloured by ``change`` (mm)."""
    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    vertices = np.asarray(surface.vertices)
    for ax, (horizontal, depth, name) in zip(axes, ((0, 1, "front (x-z)"), (1, 0, "side (y-z)")), strict=True):
        order = np.argsort(-vertices[:, depth])  # the viewer's side last: it is what one sees
        drawn = ax.scatter(
            vertices[order, horizontal], vertices[order, 2], c=change[order], s=4, cmap="RdBu_r",
            vmin=-LIMIT_MM, vmax=LIMIT_MM, linewidths=0,
        )  # fmt: skip
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("mm")
    fig.colorbar(drawn, ax=axes, shrink=0.8, label="change (mm), negative inward")
    fig.suptitle(title, fontsize=10)
    return save(fig, path, tight=False)
