"""Write a synthetic muscle cohort: labelmaps, a MONAI-style datalist with cross-validation folds, ground truth.

Layout of ``output_dir``::

    images/<id>.<format>   one labelmap per subject
    datalist.json          {"subjects": [...], "folds": [{"train": ids, "val": ids, "test": ids}, ...], ...}
    ground_truth.csv       group, fold, volume, mid-section extent, every generating parameter, rater's offset

Folds: healthy subjects (Y, OH) are spread over ``num_folds`` folds, stratified by group. In fold k the healthy
subjects of fold k and *all* sarcopenic subjects are tested, the healthy subjects of fold k+1 validate (checkpoint
choice and score calibration), and the remaining healthy subjects train.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.files import write_csv, write_json, write_labelmap
from ..layout import WRITE_SUFFIX, cohort_datalist
from ..runtime import interactive
from . import phantoms
from .diseases import check_disease, check_strength
from .labelmaps import make_labelmap, reorient
from .realism import SegmentationRealism

logger = logging.getLogger(__name__)

DEMO_COUNTS = {"Y": 24, "OH": 24, "OS": 16}


def assign_folds(ids_by_group: dict[str, list[str]], num_folds: int, seed: int) -> dict[str, int]:
    """Fold of each healthy subject, balanced within each healthy group; sarcopenic subjects get none."""
    rng = np.random.default_rng([seed, 7919])
    folds: dict[str, int] = {}
    offset = 0
    for group in phantoms.HEALTHY_GROUPS:
        ids = list(ids_by_group.get(group, []))
        for rank, index in enumerate(rng.permutation(len(ids))):
            folds[ids[index]] = (rank + offset) % num_folds
        offset += len(ids)
    return folds


def fold_splits(subjects: list[dict], num_folds: int) -> list[dict[str, list[str]]]:
    """Train/val/test subject ids of every fold (see the module docstring for the rule)."""
    splits = []
    for k in range(num_folds):
        healthy = [s for s in subjects if s["healthy"]]
        test = [s["id"] for s in healthy if s["fold"] == k] + [s["id"] for s in subjects if not s["healthy"]]
        val = [s["id"] for s in healthy if s["fold"] == (k + 1) % num_folds]
        train = [s["id"] for s in healthy if s["fold"] not in (k, (k + 1) % num_folds)]
        splits.append({"train": train, "val": val, "test": test})
    return splits


def generate_cohort(
    output_dir: str | os.PathLike,
    n_young: int = DEMO_COUNTS["Y"],
    n_older: int = DEMO_COUNTS["OH"],
    n_sarcopenic: int = DEMO_COUNTS["OS"],
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    image_format: str = "nii.gz",
    seed: int = 0,
    strength: float = 1.0,
    margin_mm: float = 8.0,
    max_rotation_deg: float = 4.0,
    multilabel: bool = False,
    muscle_label: int = 1,
    axcodes: str = "RAS",
    num_folds: int = 5,
    contour_jitter: float = 0.0,
    fov_cut: float = 0.0,
    slice_thickness_mm: float = 0.0,
    progress: bool = True,
    disease: str = "flattening",
    healthy_model: str = "spindle",
    rater_bias_mm: float = 0.0,
    rater_smoothing_mm: float = 0.0,
) -> Path:
    """Generate the cohort and return the path of its datalist. Deterministic for a given ``seed``.

    A subject's shape depends only on ``seed``, its group and its index, so growing a group keeps earlier subjects,
    and the segmentation artefacts (``contour_jitter``, ``fov_cut``, ``slice_thickness_mm``, ``rater_bias_mm``,
    ``rater_smoothing_mm``, see ``realism``) are drawn from a stream of their own: the same seed gives the same
    muscles with and without them. ``healthy_model`` (``healthy``) draws every subject; ``disease`` (``diseases``)
    then changes the OS subjects, so that a seed gives the same healthy subjects whatever the disease.
    """
    realism = SegmentationRealism(contour_jitter, fov_cut, slice_thickness_mm, rater_bias_mm, rater_smoothing_mm)
    check_disease(disease)
    check_strength(strength)
    phantoms.check_healthy_model(healthy_model)
    suffix = "." + image_format.lstrip(".")
    if WRITE_SUFFIX.get(suffix) != suffix:
        raise ValueError(f"image_format must be one of nii.gz, nii, nrrd, mha; got {image_format!r}")
    if not 1 <= muscle_label <= 255:
        raise ValueError(f"muscle_label must be in 1..255, got {muscle_label}")
    counts = {"Y": n_young, "OH": n_older, "OS": n_sarcopenic}
    healthy_total = n_young + n_older
    if num_folds < 3 or healthy_total < num_folds:
        raise ValueError(f"{healthy_total} healthy subjects cannot fill {num_folds} folds of train/val/test")
    out = Path(output_dir)
    ids_by_group = {g: [f"{g}_{i:03d}" for i in range(n)] for g, n in counts.items()}
    folds = assign_folds(ids_by_group, num_folds, seed)

    subjects, truth = [], []
    jobs = [(g, i) for g in phantoms.GROUPS for i in range(counts[g])]
    for group, index in tqdm(jobs, desc="phantoms", disable=not (progress and interactive())):
        rng = np.random.default_rng([seed, phantoms.GROUPS.index(group), index])
        shape = phantoms.sample_shape(group, rng, strength, max_rotation_deg, disease, healthy_model)
        artefacts = np.random.default_rng([seed, phantoms.GROUPS.index(group), index, 1])
        offset = realism.rater_offset(artefacts)
        labelmap, muscle, affine = make_labelmap(
            shape, spacing, margin_mm, multilabel, muscle_label, realism, artefacts, offset
        )
        width, thickness = phantoms.mid_section_extent(muscle, affine)
        subject_id = ids_by_group[group][index]
        stored, stored_affine = reorient(labelmap, affine, axcodes)
        image = f"images/{subject_id}{suffix}"
        write_labelmap(stored, stored_affine, out / image)
        healthy = group in phantoms.HEALTHY_GROUPS
        fold = folds.get(subject_id)
        subjects.append({"id": subject_id, "image": image, "group": group, "healthy": healthy, "fold": fold})
        params = {k: v for k, v in shape.to_dict().items() if k not in ("perturbation", "rotation_deg", "displacement")}
        rotation = dict(zip(("rotation_x_deg", "rotation_y_deg", "rotation_z_deg"), shape.rotation_deg, strict=True))
        truth.append(
            {
                "id": subject_id,
                "group": group,
                "healthy": int(healthy),
                "fold": "" if fold is None else fold,
                "volume_ml": float(muscle.sum() * abs(np.linalg.det(affine[:3, :3])) / 1000.0),
                "mid_width_mm": width,
                "mid_thickness_mm": thickness,
                "mid_aspect": thickness / width,
                **params,
                **rotation,
                "rater_offset_mm": offset,
            }
        )
    datalist = {
        "name": "synthetic rectus femoris cohort",
        "description": "Synthetic muscle labelmaps: young healthy (Y), older healthy (OH), older sarcopenic (OS).",
        "generator": {
            "seed": seed,
            "spacing": list(spacing),
            "format": suffix,
            "strength": strength,
            "disease": disease,
            "healthy_model": healthy_model,
            "margin_mm": margin_mm,
            "max_rotation_deg": max_rotation_deg,
            "multilabel": multilabel,
            "axcodes": axcodes,
            **realism.to_dict(),
        },
        "label": muscle_label,
        "num_folds": num_folds,
        "subjects": subjects,
        "folds": fold_splits(subjects, num_folds),
    }
    write_csv(truth, out / "ground_truth.csv")
    path = write_json(datalist, cohort_datalist(out))
    logger.info("wrote %d subjects to %s", len(subjects), out)
    return path


def ensure_demo_cohort(dataset_dir: str | os.PathLike, **kwargs) -> Path:
    """Generate the default demo cohort into ``dataset_dir`` unless its datalist already exists.

    Args:
        dataset_dir: the cohort folder; nothing is written when its ``datalist.json`` exists.
        kwargs: ``generate_cohort``'s options (group sizes, seed, format...); its defaults make the demo cohort.

    Returns:
        The path of the cohort's datalist.

    Raises:
        ValueError: options ``generate_cohort`` refuses (format, label, too few healthy subjects for the folds).
    """
    datalist = Path(cohort_datalist(dataset_dir))
    if datalist.exists():
        return datalist
    logger.info("generating the demo cohort in %s", dataset_dir)
    return generate_cohort(dataset_dir, **kwargs)
