"""A progression run's page, ``progression.html`` beside ``progression.csv``: the pairs and every change map in 3D.

Like the inference summary page it is self-contained (Plotly embedded once, nothing fetched) and shows one viewer with
a button per pair: the first visit's surface coloured by its signed change to the second visit, in the deviation
meshes' colours (red where the muscle lost tissue, blue where it gained; full colour at 3 mm).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data.files import atomic_path
from ..scoring.deviation import Surface
from .summary_page import PAGE_STYLE, table_cell
from .views3d import View, views_html

COLUMNS = ("subject", "first", "second", "changed", "{score}", "{score}_z", "first_decision", "second_decision",
           "change_inward_mm", "alignment_deg")  # fmt: skip


def pair_view(row: dict, surface: Surface, change: np.ndarray, change_score: str) -> View:
    """One pair's change map (best taken at ``views3d.DISPLAY_STEP``) as a 3D view, titled by the decision and
    captioned by the deciding change."""
    z = row.get(f"{change_score}_z")
    caption = f"{change_score} {row.get(change_score, float('nan')):.3g}" + (
        f" ({z:.2f} test-retest SDs)" if isinstance(z, (int, float)) else ""
    )
    title = f"{row['subject']}: {'changed' if row.get('changed') else 'no change'}"
    return View(html.escape(title), [(surface, change, "change (mm)")], html.escape(caption))


def reliability_html(reliability: dict[str, dict[str, float]]) -> str:
    """The scores' test-retest table from the change calibration's stable pairs; nothing when it has none."""
    if not reliability:
        return ""
    names = ("icc_3_1", "within_subject_sd", "mdc95", "pairs")
    head = "<tr><th>score</th>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    body = "".join(
        f"<tr><td>{html.escape(score)}</td>"
        + "".join(f"<td>{table_cell(row.get(n, ''))}</td>" for n in names)
        + "</tr>"
        for score, row in reliability.items()
    )
    return (
        "<h2>Test-retest reliability</h2><p>On the stable pairs that calibrate the change: a score's change smaller "
        f"than its MDC95 lies within the test-retest noise.</p><table>{head}{body}</table>"
    )


def write_progression_page(path: str | Path, rows: Sequence[dict], views: Sequence[View], document: dict) -> Path:
    """Write the page: what decided at which level, the pairs' table, the scores' test-retest reliability (when the
    calibration has it), and the change maps of ``views`` (those of the first pairs when there are fewer views than
    pairs)."""
    intro = (
        f"{len(rows)} pair(s), {sum(bool(r.get('changed')) for r in rows)} changed beyond the test-retest noise of "
        f"{document['change_score']} at the {document['level']:.0%} level ({document['stable_pairs']} stable pairs "
        "calibrate it)."
    )
    if len(rows) > len(views):
        intro += f" 3D views of {len(views)} of the {len(rows)} pairs; each pair's map is also in its meshes and PNG."
    columns = [c.format(score=document["change_score"]) for c in COLUMNS]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    table = "".join("<tr>" + "".join(f"<td>{table_cell(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Progression</title><style>{PAGE_STYLE}</style></head>"
        f"<body><h1>Two visits</h1><p>{html.escape(intro)}</p><table><tr>{head}</tr>{table}</table>"
        f"{reliability_html(document.get('reliability', {}))}"
        "<h2>Change maps</h2><p>Choose a pair: the first visit's surface, coloured by its signed distance to the "
        "second visit's (red: the muscle moved inward, blue: outward, full colour at 3 mm). Drag to turn, scroll to "
        f"zoom.</p>{views_html(views)}</body></html>"
    )
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(page)
    return Path(path)
