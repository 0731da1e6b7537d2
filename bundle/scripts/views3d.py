"""Surfaces that turn in the browser: Plotly 3D views for the report pages, offline.

Each view is one Plotly figure of triangle meshes coloured by the signed deviation from the normal shape (red = tissue
missing, blue = extra, the colours of the overlays and PLY files). Plotly's script is embedded once per page and
nothing is fetched when the page opens. Meshes for display are taken every second voxel (``DISPLAY_STEP``), which keeps
a page of a few dozen subjects to a few megabytes; the files written for Slicer keep full resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .deviation import Surface
from .meshes import DEVIATION_LIMIT_MM

DISPLAY_STEP = 2
COLOURSCALE = "RdBu"  # low (negative, missing tissue) red, high (extra tissue) blue


@dataclass
class View:
    """One 3D view: a title, meshes (surface, per-vertex values or None for a plain colour) and a caption."""

    title: str
    meshes: Sequence[tuple[Surface, np.ndarray | None, str]]
    caption: str = ""


def _trace(surface: Surface, values, name: str, show_scale: bool):
    import plotly.graph_objects as go

    x, y, z = surface.vertices.T
    i, j, k = np.asarray(surface.faces).T
    common = {"x": x, "y": y, "z": z, "i": i, "j": j, "k": k, "name": name, "flatshading": False}
    if values is None:
        return go.Mesh3d(**common, color="lightgrey", opacity=0.25, hoverinfo="name")
    return go.Mesh3d(
        **common,
        intensity=np.asarray(values, dtype=np.float32),
        colorscale=COLOURSCALE,
        cmin=-DEVIATION_LIMIT_MM,
        cmax=DEVIATION_LIMIT_MM,
        showscale=show_scale,
        colorbar={"title": {"text": "mm"}, "len": 0.6},
        hovertemplate="%{intensity:.2f} mm<extra>" + name + "</extra>",
    )


def figure(view: View):
    import plotly.graph_objects as go

    traces = [_trace(s, v, n, index == 0) for index, (s, v, n) in enumerate(view.meshes)]
    fig = go.Figure(traces)
    axis = {"title": "", "showbackground": False}
    fig.update_layout(
        title={"text": view.title, "font": {"size": 13}},
        scene={
            "aspectmode": "data",
            "xaxis": axis,
            "yaxis": axis,
            "zaxis": axis,
            "camera": {"eye": {"x": 1.9, "y": 1.9, "z": 0.5}},
        },
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        height=420,
        showlegend=False,
    )
    return fig


def views_html(views: Sequence[View]) -> str:
    """HTML fragments of the views, Plotly's script embedded with the first (a page holds it once)."""
    parts = []
    for index, view in enumerate(views):
        body = figure(view).to_html(full_html=False, include_plotlyjs=index == 0, config={"displaylogo": False})
        caption = f"<figcaption>{view.caption}</figcaption>" if view.caption else ""
        parts.append(f"<figure class='view3d'>{body}{caption}</figure>")
    return "".join(parts)
