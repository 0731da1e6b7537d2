"""Where every file the bundle reads or writes lives: the one place that knows folder and file names.

Configs, workflows, the study and the report ask this module for paths and never assemble them themselves (DeepSDF's
``workspace.py`` plays the same role). A study folder looks like::

    <study>/fold<k>/models/model.pt                  the fold's model (settings, weights, codes, healthy reference)
    <study>/fold<k>/evaluation_fold<k>/scores.csv    its test subjects' scores, one row each (also scores.json)
    <study>/fold<k>/evaluation_fold<k>/<id>_...      per-subject outputs (see SubjectFiles)
    <study>/report/report.html                       the study report, with its tables and figures
    <study>/mlruns.db                                the embedded MLflow store
"""

from __future__ import annotations

import os
import re
from pathlib import Path

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
# Formats written as a single file; a detached MetaImage header (.mhd + .raw) is written as .mha instead.
WRITE_SUFFIX = {".nii.gz": ".nii.gz", ".nii": ".nii", ".nrrd": ".nrrd", ".mha": ".mha", ".mhd": ".mha"}


def image_suffix(path: str | os.PathLike) -> str:
    """The image format suffix of ``path`` (``.nii.gz`` counts as one suffix), or a ValueError naming the file."""
    name = Path(path).name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"{path}: unsupported image format; expected one of {', '.join(IMAGE_SUFFIXES)}")


def image_stem(path: str | os.PathLike) -> str:
    """File name of ``path`` without its image suffix."""
    name = Path(path).name
    return name[: len(name) - len(image_suffix(path))]


def safe_id(text: str, max_length: int = 100) -> str:
    """A subject id usable as a file name: only ``[A-Za-z0-9._-]``, no path separator, no '..', no leading dot."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip("._-")[:max_length]
    if not cleaned:
        raise ValueError(f"subject id {text!r} has no usable characters")
    return cleaned


BUNDLE_ROOT = Path(__file__).resolve().parents[1]  # the bundle's own folder, which holds scripts/
CONFIGS_DIR = "configs"
MODELS_DIR = "models"  # the shipped model: written only by a command asked to write there (--ckpt_dir models)
RUNS_DIR = "runs"  # where training writes by default: one folder per cohort and fold
EVAL_DIR = "eval"  # where the bundle's own runs write by default: training and evaluation, inference/, study/
INFERENCE_DIR = "inference"
STUDY_DIR = "study"
DEMO_COHORT_DIR = "data/demo_cohort"
METADATA_FILE = "metadata.json"
DATALIST_FILE = "datalist.json"
LABELLED_DATALIST_FILE = "labelled_datalist.json"
MODEL_FILE = "model.pt"
ASSEMBLED_FILE = "ensemble_uncalibrated.pt"
FINAL_CHECKPOINT = "model_final.pt"
PERIODIC_CHECKPOINT = "checkpoint_epoch={global_step}.{ext}"
PERIODIC_CHECKPOINT_GLOB = "checkpoint_epoch=*.pt"
SCORES_TABLE = "scores.csv"
SCORES_DOCUMENT = "scores.json"
SUMMARY_PAGE = "report.html"
FIGURES = "figures"
TRACKING_DB = "mlruns.db"
SUBJECT_LABELMAPS = ("recon", "anomaly_map")


def config_file(name: str, bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    """One of the bundle's configs (``train.json``, ``logging.conf``, ``metadata.json``)."""
    return str(Path(bundle_root) / CONFIGS_DIR / name)


def models_dir(bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    return str(Path(bundle_root) / MODELS_DIR)


def training_dir(dataset_dir: str | os.PathLike, fold: int, bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    """Where a training run on ``dataset_dir``'s fold writes by default: ``runs/<cohort folder>-fold<k>``, never the
    shipped model's folder."""
    return str(Path(bundle_root) / RUNS_DIR / f"{safe_id(Path(dataset_dir).resolve().name)}-fold{int(fold)}")


def eval_dir(bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    return str(Path(bundle_root) / EVAL_DIR)


def inference_dir(bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    return str(Path(eval_dir(bundle_root)) / INFERENCE_DIR)


def study_dir(bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    return str(Path(eval_dir(bundle_root)) / STUDY_DIR)


def demo_dir(bundle_root: str | os.PathLike = BUNDLE_ROOT) -> str:
    """Where the quick start generates the demo cohort (on first use)."""
    return str(Path(bundle_root) / DEMO_COHORT_DIR)


def cohort_datalist(dataset_dir: str | os.PathLike) -> str:
    """A cohort folder's datalist (subjects and folds): what makes a folder a cohort rather than a pile of files."""
    return str(Path(dataset_dir) / DATALIST_FILE)


def model_file(ckpt_dir: str | os.PathLike) -> str:
    return str(Path(ckpt_dir) / MODEL_FILE)


def assembled_file(ckpt_dir: str | os.PathLike) -> Path:
    """An ensemble assembled from its members, before its calibration writes the model file beside it."""
    return Path(ckpt_dir) / ASSEMBLED_FILE


def training_curves(output_dir: str | os.PathLike) -> str:
    return str(Path(output_dir) / "training_curves.png")


def evaluation_dir(output_dir: str | os.PathLike, fold: int) -> str:
    """Scores of a fold's test subjects, under the output folder of the fold's training run."""
    return str(Path(output_dir) / f"evaluation_fold{int(fold)}")


def scores_table(scores_dir: str | os.PathLike) -> str:
    return str(Path(scores_dir) / SCORES_TABLE)


def scores_document(scores_dir: str | os.PathLike) -> str:
    return str(Path(scores_dir) / SCORES_DOCUMENT)


def summary_page(scores_dir: str | os.PathLike) -> str:
    return str(Path(scores_dir) / SUMMARY_PAGE)


def run_tables(scores_dir: str | os.PathLike) -> list[str]:
    """What a scoring run merges from its subjects' files: the tables and the summary page."""
    return [scores_table(scores_dir), scores_document(scores_dir), summary_page(scores_dir)]


def figures_dir(scores_dir: str | os.PathLike) -> str:
    return str(Path(scores_dir) / FIGURES)


def tracking_db(output_dir: str | os.PathLike) -> Path:
    return Path(output_dir) / TRACKING_DB


def tracking_db_path(output_dir: str) -> str:
    """The embedded MLflow store of a run's output folder, as the configs' ``tracking_uri`` takes it."""
    return str(tracking_db(output_dir))


class StudyLayout:
    """The folders of a cross-validation study (see the module docstring)."""

    def __init__(self, study_dir: str | os.PathLike) -> None:
        self.root = Path(study_dir)

    def fold_dir(self, fold: int) -> Path:
        return self.root / f"fold{int(fold)}"

    def models_dir(self, fold: int) -> Path:
        return self.fold_dir(fold) / MODELS_DIR

    def model(self, fold: int) -> Path:
        return Path(model_file(self.models_dir(fold)))

    def scores_dir(self, fold: int) -> Path:
        return Path(evaluation_dir(self.fold_dir(fold), fold))

    def scores(self, fold: int) -> Path:
        return Path(scores_document(self.scores_dir(fold)))

    def scored(self, fold: int) -> bool:
        return self.scores(fold).is_file() and self.model(fold).is_file()

    def report_dir(self) -> Path:
        return self.root / "report"

    def report(self) -> Path:
        return Path(summary_page(self.report_dir()))

    def labelled_datalist(self) -> Path:
        """The cohort's datalist with every fold's labelled abnormal cases (``study.folds``), for training."""
        return self.root / LABELLED_DATALIST_FILE

    def tracking_db(self) -> Path:
        return tracking_db(self.root)


class SubjectFiles:
    """A subject's output files in ``output_dir``; ``required(item)`` lists those a run writes for it, the scores
    file first (it is written last, so its presence marks the subject complete).

    Args:
        output_dir: the run's scores folder, where every subject's files go.
        output_ext: extension of the written labelmaps (e.g. ``.nii.gz``); ``"auto"`` keeps each input's format.
    """

    def __init__(self, output_dir: str | os.PathLike, output_ext: str = ".nii.gz") -> None:
        self.output_dir, self.output_ext = Path(output_dir), output_ext

    def labelmap(self, subject_id: str, kind: str, source: str) -> Path:
        """``<id>_<kind><ext>``; ``output_ext`` "auto" keeps the input's format (a detached .mhd becomes .mha)."""
        ext = WRITE_SUFFIX[image_suffix(source)] if self.output_ext == "auto" else self.output_ext
        return self.output_dir / f"{safe_id(subject_id)}_{kind}{ext}"

    def scores(self, subject_id: str) -> Path:
        return self.output_dir / f"{safe_id(subject_id)}_scores.json"

    def code(self, subject_id: str) -> Path:
        return self.output_dir / f"{safe_id(subject_id)}_code.npy"

    def mesh(self, subject_id: str, kind: str = "surface", ext: str = ".vtk") -> Path:
        """``<id>_surface`` (the input's surface with its deviation) or ``<id>_recon_surface``, as .vtk or .ply."""
        return self.output_dir / f"{safe_id(subject_id)}_{kind}{ext}"

    def overlay(self, subject_id: str) -> Path:
        return Path(figures_dir(self.output_dir)) / f"{safe_id(subject_id)}_overlay.png"

    def required(self, item: dict, meshes: bool = False, overlays: bool = False) -> list[Path]:
        """The files a run writes for ``item``: scores first, labelmaps, and its meshes and overlay when asked."""
        subject = item["id"]
        files = [self.scores(subject)] + [self.labelmap(subject, k, item["image"]) for k in SUBJECT_LABELMAPS]
        files += [self.mesh(subject), self.mesh(subject, ext=".ply")] if meshes else []
        return files + ([self.overlay(subject)] if overlays else [])

    def complete(self, item: dict) -> bool:
        return all(f.is_file() for f in self.required(item))
