"""An inference run's summary page, ``report.html`` beside ``scores.csv``: the scores and every subject in 3D.

The page is self-contained (Plotly embedded once, no network). Each subject's surface is coloured by its signed
deviation from the reconstructed normal shape, with the normal shape as a faint envelope. Subjects are read back from
the labelmaps the run wrote (the reconstruction, and the anomaly map that says where the input differs from it), one
at a time; beyond ``max_views`` subjects, or ``max_rows`` table rows, the page says so and points to scores.csv.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..data.files import atomic_path
from ..data.geometry import crop_around
from ..layout import SubjectFiles, summary_page
from ..scoring.deviation import mask_surface, vertex_deviation
from ..transforms.outputs import scored_input
from .views3d import DISPLAY_STEP, ENVELOPE_STEP, View, views_html

COLUMNS = ("id", "group", "decision", "out_of_distribution", "dice", "latent_distance", "combined", "combined_z")
PAGE_STYLE = (  # the report pages' look: this page and progression.html
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}table{border-collapse:collapse;"
    "font-size:0.85em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
)


def subject_view(files: SubjectFiles, row: dict, decision_score: str) -> View | None:
    """The subject's surface and normal shape, from the labelmaps written for it (None if they are missing)."""
    from monai.transforms import LoadImage

    paths = [files.labelmap(row["id"], kind, row["image"]) for kind in ("recon", "anomaly_map")]
    if not all(p.is_file() for p in paths):
        return None
    load = LoadImage(image_only=True, ensure_channel_first=False)
    recon_image, anomaly = (load(str(p)) for p in paths)
    recon, mask = np.asarray(recon_image) > 0, scored_input(recon_image, anomaly)
    # the box around both shapes (a voxel wider than the distance transforms need): the same surfaces, far fewer voxels
    (mask, recon), affine = crop_around(
        [mask, recon], recon_image.affine.numpy(), margin=2, align=math.lcm(DISPLAY_STEP, ENVELOPE_STEP)
    )
    surface, deviation = vertex_deviation(mask, recon, affine, step=DISPLAY_STEP)
    meshes = [(surface, deviation, "input surface")]
    if recon.any():
        meshes.append((mask_surface(recon, affine, step=ENVELOPE_STEP), None, "normal shape"))
    z = row.get(f"{decision_score}_z")
    caption = f"Dice {row['dice']:.3f}" + (f", {decision_score} z {z:.2f}" if isinstance(z, (int, float)) else "")
    title = f"{row['id']}: {row.get('decision', 'n/a')}"
    if row.get("out_of_distribution"):
        title += " (outside what the model knows: " + str(row.get("ood_reasons", "")) + ")"
    return View(html.escape(title), meshes, html.escape(caption))


def table_cell(value) -> str:
    """A value as a page's table shows it: numbers to four figures, text escaped."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def write_summary_page(
    output_dir: str | Path,
    rows: Iterable[dict],
    document: dict,
    output_ext: str = ".nii.gz",
    max_views: int = 40,
    max_rows: int = 500,
) -> Path:
    files = SubjectFiles(output_dir, output_ext)
    decision = document.get("decision_score", "combined")
    table, views, count = [], [], 0
    for row in rows:
        count += 1
        if len(table) < max_rows:
            table.append("<tr>" + "".join(f"<td>{table_cell(row.get(c, ''))}</td>" for c in COLUMNS) + "</tr>")
        if len(views) < max_views:
            view = subject_view(files, row, decision)
            if view is not None:
                views.append(view)
    notes = []
    if count > max_rows:
        notes.append(f"The table shows the first {max_rows} of {count} subjects; scores.csv holds them all.")
    if count > len(views):
        notes.append(f"3D views of the first {len(views)} of {count} subjects (at most {max_views}).")
    calibration = document.get("calibration") or {}
    level = calibration.get("level")
    intro = (
        f"{count} subject(s) scored, {document['summary'].get('abnormal', 0)} called abnormal by {decision}"
        + (
            f" at the {level:.0%} level against {calibration.get('reference_subjects')} healthy subjects"
            if level
            else ""
        )
        + (
            ". The calibration does not hold: fit settings were changed."
            if not document.get("calibration_holds")
            else "."
        )
    )
    unknown = document["summary"].get("out_of_distribution", 0)
    if unknown:
        notes.insert(
            0,
            f"{unknown} subject(s) lie outside what the model knows (size, fit or latent distance beyond its healthy "
            "calibration subjects, column out_of_distribution, reasons in ood_reasons): their decisions rest on "
            "extrapolation.",
        )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Inference summary</title><style>{PAGE_STYLE}</style>"
        f"</head><body><h1>Inference summary</h1><p>{html.escape(intro)}</p>"
        + "".join(f"<p><i>{html.escape(n)}</i></p>" for n in notes)
        + f"<table><tr>{head}</tr>{''.join(table)}</table><h2>Surfaces</h2><p>Choose a subject: its surface is "
        "coloured by its signed distance to the reconstructed normal shape (red: tissue missing, blue: extra tissue, "
        "full colour at 3 mm); the grey envelope is the normal shape. Drag to turn, scroll to zoom.</p>"
        f"{views_html(views)}</body></html>"
    )
    path = Path(summary_page(output_dir))
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
