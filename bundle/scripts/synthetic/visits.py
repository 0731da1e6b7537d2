"""Two visits of one subject: stable pairs (re-posed, re-segmented) and pairs whose disease grows between visits.

The muscle of a pair is drawn once (``healthy_model``, group OH); each visit then gets a pose of its own (a new
rotation within ``max_rotation_deg``), a new position of the voxel grid against the muscle (a sub-voxel shift: other
slice positions), and a new rater (its own contour offset and jitter). A progressing pair carries ``disease`` at a
base strength drawn in ``[0, max_base_strength]`` at the first visit and at the base plus ``step`` at the second, from
one draw of the disease (same site, same side): only its strength changes. Stable pairs are healthy at both visits.

Layout of ``output_dir``: ``images/<subject>_v<k>.<format>``; ``datalist.json`` whose subjects carry ``subject`` and
``visit`` (``scripts.data.visits`` pairs them); ``pairs.csv``, each pair's kind, strengths and changed region;
``truth/<subject>_changed.nii.gz`` for each progressing pair, the voxels the disease's growth changed (no rater, no
re-pose: in the first visit's pose and world space, where a change map on the first visit's surface can be checked).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..data.files import write_csv, write_json, write_labelmap
from ..layout import cohort_datalist
from . import phantoms
from .diseases import apply_disease, check_disease, check_strength
from .healthy import HEALTHY_SHAPES
from .labelmaps import make_labelmap
from .realism import SegmentationRealism
from .shape import MuscleShape

KINDS = ("stable", "progressing")


def _visit_shape(shape: MuscleShape, pose: np.random.Generator, max_rotation_deg: float) -> MuscleShape:
    posed = copy.deepcopy(shape)
    posed.rotation_deg = tuple(float(a) for a in pose.uniform(-max_rotation_deg, max_rotation_deg, size=3))
    return posed


def changed_region(
    first: MuscleShape, second: MuscleShape, spacing, margin_mm: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """Where the disease changed the muscle between the visits, without noise: the voxels inside exactly one of the
    two shapes, both in the first visit's pose, on a grid around the first (its world space is the first visit's)."""
    grid, affine = phantoms.world_grid(first, tuple(float(s) for s in spacing), margin_mm + 4.0)
    return phantoms.inside(first, grid) ^ phantoms.inside(second, grid), affine


def _diseased(shape: MuscleShape, disease: str, strength: float, seed_seq) -> MuscleShape:
    """``shape`` with the disease at ``strength`` (one draw of it per ``seed_seq``); unchanged at strength 0."""
    if strength > 0:
        shape = copy.deepcopy(shape)
        apply_disease(shape, disease, strength, np.random.default_rng(seed_seq))
    return shape


def generate_visit_pairs(
    output_dir: str | Path,
    n_stable: int = 10,
    n_progressing: int = 10,
    step: float = 0.2,
    max_base_strength: float = 0.4,
    disease: str = "flattening",
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    seed: int = 0,
    max_rotation_deg: float = 2.0,
    contour_jitter: float = 0.0,
    rater_bias_mm: float = 0.0,
    healthy_model: str = "spindle",
) -> Path:
    """Write ``n_stable`` + ``n_progressing`` pairs of labelmaps; returns the datalist's path. Deterministic for
    ``seed``; a pair's muscle depends only on ``seed``, its kind and its index."""
    check_disease(disease)
    check_strength(max_base_strength + step)
    if step <= 0:
        raise ValueError(f"step must be positive (the disease's growth between visits), got {step}")
    realism = SegmentationRealism(contour_jitter=contour_jitter, rater_bias_mm=rater_bias_mm)
    out = Path(output_dir)
    subjects, truth = [], []
    for kind, count in zip(KINDS, (n_stable, n_progressing), strict=True):
        for index in range(count):
            streams = np.random.default_rng([seed, 36, KINDS.index(kind), index]).spawn(4)
            muscle = HEALTHY_SHAPES[healthy_model]("OH", streams[0], 0.0)
            base = float(streams[1].uniform(0.0, max_base_strength)) if kind == "progressing" else 0.0
            strengths = (base, base + step) if kind == "progressing" else (0.0, 0.0)
            subject = f"{kind[0].upper()}{index:03d}"
            for visit, (strength, visit_rng) in enumerate(zip(strengths, streams[3].spawn(2), strict=True)):
                posed = _visit_shape(muscle, visit_rng, max_rotation_deg)  # one draw of the disease for both visits
                shape = _diseased(posed, disease, strength, streams[2].bit_generator.seed_seq)
                if visit == 0 and kind == "progressing":  # the truth of where it changed, in the first visit's pose
                    second = _diseased(posed, disease, strengths[1], streams[2].bit_generator.seed_seq)
                    changed, changed_affine = changed_region(shape, second, spacing)
                    write_labelmap(changed.astype(np.uint8), changed_affine, out / f"truth/{subject}_changed.nii.gz")
                shift = visit_rng.uniform(0.0, 1.0, size=3) * np.asarray(spacing, dtype=float)
                offset = realism.rater_offset(visit_rng)
                _, mask, affine = make_labelmap(shape, spacing, 8.0, False, 1, realism, visit_rng, offset, shift)
                image = f"images/{subject}_v{visit}.nii.gz"
                write_labelmap(mask.astype(np.uint8), affine, out / image)
                healthy = strength == 0
                subjects.append(
                    {
                        "id": f"{subject}_v{visit}",
                        "image": image,
                        "subject": subject,
                        "visit": visit,
                        "group": "OH" if healthy else "OS",
                        "healthy": healthy,
                    }
                )
            truth.append(
                {
                    "subject": subject,
                    "kind": kind,
                    "disease": disease if kind == "progressing" else "",
                    "strength_first": strengths[0],
                    "strength_second": strengths[1],
                    "atrophy_position": shape.atrophy_position,
                    "atrophy_angle": shape.atrophy_angle,
                }
            )
    datalist = {
        "name": "synthetic visit pairs",
        "description": "Two visits per subject: stable (re-posed, re-segmented) and progressing pairs.",
        "generator": {
            "seed": seed,
            "step": step,
            "max_base_strength": max_base_strength,
            "disease": disease,
            "spacing": list(spacing),
            "max_rotation_deg": max_rotation_deg,
            **realism.to_dict(),
        },
        "subjects": subjects,
    }
    write_csv(truth, out / "pairs.csv")
    return write_json(datalist, cohort_datalist(out))
