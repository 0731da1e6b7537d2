"""A pair's change map as a PNG: the first visit's surface seen from the front and from the side, each vertex coloured
by its signed change to the second visit (red inward: tissue lost; blue outward; the deviation meshes' colours), for
a report or a quick look without a 3D viewer.
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
    last, coloured by ``change`` (mm). A display surface (``ChangeMap.lighter``) draws as well as the full one, in a
    fraction of the time."""
    fig = Figure(figsize=(7.0, 5.0))  # a fixed layout: constrained layout took a third of the figure's time
    axes = fig.subplots(1, 2, gridspec_kw={"left": 0.08, "right": 0.86, "bottom": 0.1, "top": 0.88, "wspace": 0.3})
    vertices = np.asarray(surface.vertices)
    for ax, (horizontal, depth, name) in zip(axes, ((0, 1, "front (x-z)"), (1, 0, "side (y-z)")), strict=True):
        order = np.argsort(-vertices[:, depth])  # the viewer's side last: it is what one sees
        drawn = ax.scatter(
            vertices[order, horizontal], vertices[order, 2], c=change[order], s=10, cmap="RdBu",
            vmin=-LIMIT_MM, vmax=LIMIT_MM, linewidths=0,
        )  # fmt: skip
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("mm")
    fig.colorbar(drawn, cax=fig.add_axes((0.89, 0.15, 0.02, 0.65)), label="change (mm), negative inward")
    fig.suptitle(title, fontsize=10)
    return save(fig, path, tight=False)
