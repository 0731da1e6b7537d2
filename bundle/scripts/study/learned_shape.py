"""What the model has learned "abnormal" to mean: shapes decoded along the direction that leads away from healthy.

From a fold's model and its scored test subjects: the mean healthy shape (the mean of the healthy subjects' fitted
codes, decoded) and the shapes along the line from the healthy mean to the abnormal mean in code space, at several
multiples of the healthy subjects' spread along that line. They are written as meshes (VTK, for Slicer and ParaView),
as a figure strip (the same three sections through each step) and as one 3D view for the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..engines.decoding import decode_coarse_to_fine
from ..networks.ensemble import build_decoder, inside
from ..scoring.deviation import Surface, distance_field, vertex_deviation
from ..settings import ARCHITECTURE, ModelSettings
from ..visualize import figures, meshes
from ..visualize.views3d import View

MULTIPLES = (-2.0, 0.0, 2.0, 4.0, 6.0)
HALF_EXTENT_MM = np.array([60.0, 60.0, 130.0])  # the decoding box around the centre of mass


def decoder_of(model_path: Path) -> tuple[torch.nn.Module, dict]:
    state = load_checkpoint(model_path, map_location="cpu")
    settings = ModelSettings(source=str(model_path))
    settings.load_state_dict(state["settings"])
    decoder = build_decoder(**{k: settings[k] for k in ARCHITECTURE})
    decoder.load_state_dict(state["network_def"])
    return decoder.eval(), settings.values


def decode(decoder: torch.nn.Module, code: np.ndarray, settings: dict) -> tuple[np.ndarray, np.ndarray]:
    """A code decoded on a box of the model's voxel size around the origin: the mask and its affine (RAS)."""
    spacing = float(min(settings["target_spacing"]))
    shape = np.ceil(2 * HALF_EXTENT_MM / spacing).astype(int) + 1
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -HALF_EXTENT_MM
    vector = torch.as_tensor(code, dtype=torch.float32).reshape(1, -1)

    @torch.no_grad()
    def field(points: np.ndarray) -> np.ndarray:
        return inside(decoder.decode_points(vector, torch.from_numpy(points)[None])[0]).numpy()

    mask, _ = decode_coarse_to_fine(field, shape, affine, np.zeros(3), settings["coordinate_scale"])
    return mask.astype(bool), affine


def direction_codes(healthy: np.ndarray, abnormal: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """Codes from the healthy mean towards the abnormal mean, at ``MULTIPLES`` of the healthy spread along it."""
    centre = healthy.mean(axis=0)
    direction = abnormal.mean(axis=0) - centre
    unit = direction / max(float(np.linalg.norm(direction)), 1e-12)
    spread = float(np.std((healthy - centre) @ unit, ddof=1)) if len(healthy) > 1 else 1.0
    labels = ["healthy mean" if m == 0 else f"{m:+g} healthy SD" for m in MULTIPLES]
    return [centre + m * spread * unit for m in MULTIPLES], labels


def axis_codes(model_path: Path) -> tuple[list[np.ndarray], list[str]] | None:
    """Codes along the model's own abnormal axis (learned from labelled cases), from the healthy mean at
    ``MULTIPLES`` of the healthy spread along it; None when the model has no axis."""
    from ..scoring.axis import AbnormalAxis

    axis = AbnormalAxis()
    axis.load_state_dict(load_checkpoint(model_path, map_location="cpu").get("reference") or {})
    if not axis.ready:
        return None
    centre, weights = axis.centre.numpy(), axis.direction.numpy()
    step = axis.healthy_sd * weights / float(weights @ weights)  # one healthy SD along the axis, shortest move
    labels = ["healthy mean" if m == 0 else f"{m:+g} healthy SD" for m in MULTIPLES]
    return [centre + m * step for m in MULTIPLES], labels  # the centre is the healthy codes' mean


def learned_shapes(model_path: Path, healthy: np.ndarray, abnormal: np.ndarray, out: Path) -> View:
    """Write the meshes and the figure strip under ``out``; return the 3D view of the steps, side by side. The steps
    follow the model's abnormal axis when it has one, else the line from the healthy to the abnormal mean code."""
    decoder, settings = decoder_of(model_path)
    along_axis = axis_codes(model_path)
    codes, labels = along_axis or direction_codes(np.asarray(healthy), np.asarray(abnormal))
    decoded = [decode(decoder, code, settings) for code in codes]
    volumes = [mask for mask, _ in decoded]
    healthy_mean, affine = decoded[MULTIPLES.index(0.0)]
    healthy_field = distance_field(healthy_mean, affine)  # every step is compared with the same mean shape
    views, offset = [], 0.0
    for index, (mask, label) in enumerate(zip(volumes, labels, strict=True)):
        if not mask.any():
            continue
        full, deviation = vertex_deviation(mask, None, affine, field=healthy_field)
        meshes.write_vtk(out / f"learned_shape_{index}.vtk", full, {"deviation_from_healthy_mean_mm": deviation})
        surface, deviation = vertex_deviation(mask, None, affine, step=2, field=healthy_field)
        shifted = Surface(surface.vertices + [offset - surface.vertices[:, 0].min(), 0.0, 0.0], surface.faces)
        views.append((shifted, deviation, label))
        offset += float(np.ptp(surface.vertices[:, 0])) + 15.0
    spacing = float(min(settings["target_spacing"]))
    figures.shape_strip(volumes, spacing, labels, out / "learned_shapes.png", MULTIPLES.index(0.0))
    line = "along the model's abnormal axis" if along_axis else "towards the abnormal subjects' mean code"
    caption = (
        f"Shapes decoded from the healthy mean code {line}, at multiples of the healthy spread along it (left to "
        "right: " + ", ".join(labels) + "), coloured by their distance to the mean healthy shape (red: tissue "
        "missing, blue: extra)."
    )
    return View("what the model has learned abnormal to mean", views, caption)
