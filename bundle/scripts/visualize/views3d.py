"""Surfaces that turn in the browser: a Plotly 3D viewer for the report pages, offline.

Each view is one Plotly figure of triangle meshes coloured by the signed deviation from the normal shape (red = tissue
missing, blue = extra, the colours of the overlays and PLY files). A page holds one viewer and the list of its views:
choosing a view draws it in the viewer and frees the previous one, because a browser keeps only a dozen or so WebGL
contexts alive and a page of many live 3D plots would lose most of them. Plotly's script is embedded once and nothing
is fetched when the page opens. Meshes for display are taken every second voxel (``DISPLAY_STEP``), which keeps a page
of a few dozen subjects to a few megabytes; the files written for Slicer keep full resolution.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..scoring.deviation import Surface
from .meshes import DEVIATION_LIMIT_MM

DISPLAY_STEP = 2
ENVELOPE_STEP = 3  # the normal shape, drawn faint around the surface, needs fewer triangles
COLOURSCALE = "RdBu"  # low (negative, missing tissue) red, high (extra tissue) blue


@dataclass
class View:
    """One 3D view: a title, meshes (surface, per-vertex values or None for a plain colour) and a caption."""

    title: str
    meshes: Sequence[tuple[Surface, np.ndarray | None, str]]
    caption: str = ""


def _trace(surface: Surface, values, name: str, show_scale: bool):
    import plotly.graph_objects as go

    x, y, z = np.asarray(surface.vertices, dtype=np.float32).T  # sent as compact binary arrays
    faces = np.asarray(surface.faces)
    i, j, k = faces.astype(np.uint16 if len(surface.vertices) < 2**16 else np.int32).T
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
        template="none",  # Plotly's default template would be repeated, large, in every view's data
        title={"text": view.title, "font": {"size": 13}},
        scene={
            "aspectmode": "data",
            "xaxis": axis,
            "yaxis": axis,
            "zaxis": axis,
            "camera": {"eye": {"x": 2.8, "y": 2.8, "z": 0.6}, "up": {"x": 0, "y": 0, "z": 1}},
        },
        margin={"l": 0, "r": 0, "t": 30, "b": 0},
        height=420,
        showlegend=False,
    )
    return fig


VIEWER_SCRIPT = """
function showView(index) {
  var viewer = document.getElementById('viewer3d');
  var figure = JSON.parse(document.getElementById('view3d-' + index).textContent);
  Plotly.purge(viewer);
  Plotly.newPlot(viewer, figure.data, figure.layout, {displaylogo: false, responsive: true});
  document.getElementById('caption3d').textContent = figure.caption;
  document.querySelectorAll('.choose3d').forEach(function (b, i) { b.classList.toggle('active', i === index); });
}
window.addEventListener('load', function () { showView(0); });
"""


def views_html(views: Sequence[View]) -> str:
    """One 3D viewer, a button per view (the first shown when the page opens), and Plotly's script."""
    if not views:
        return ""
    from plotly.offline import get_plotlyjs

    buttons, data = [], []
    for index, view in enumerate(views):
        fig = figure(view)
        fig.update_layout(height=620)
        payload = fig.to_json()[:-1] + ', "caption": ' + json.dumps(html.unescape(view.caption)) + "}"
        payload = payload.replace("</", "<" + chr(92) + "/")  # a "</script>" inside the data would end the block
        data.append(f"<script type='application/json' id='view3d-{index}'>{payload}</script>")
        buttons.append(f"<button class='choose3d' onclick='showView({index})'>{view.title}</button>")
    style = (
        "<style>.choose3d{margin:2px;padding:3px 8px;border:1px solid #bbb;background:#f6f6f6;cursor:pointer}"
        ".choose3d.active{background:#dde8f6;border-color:#5b8bd0}#viewer3d{width:100%;height:620px}</style>"
    )
    return (
        f"{style}<script>{get_plotlyjs()}</script><div>{''.join(buttons)}</div><div id='viewer3d'></div>"
        f"<p id='caption3d'></p>{''.join(data)}<script>{VIEWER_SCRIPT}</script>"
    )
