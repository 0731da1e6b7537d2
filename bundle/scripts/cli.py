"""Command line for the tasks that are not a single bundle config: ``python -m scripts <command> --help``."""

from __future__ import annotations

import logging
import logging.config
from pathlib import Path

import fire

BUNDLE_ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = BUNDLE_ROOT / "data" / "demo_cohort"


def _setup_logging() -> None:
    logging.config.fileConfig(BUNDLE_ROOT / "configs" / "logging.conf", disable_existing_loggers=False)


def phantoms(
    output_dir: str = str(DEMO_DIR),
    n_young: int = 24,
    n_older: int = 24,
    n_sarcopenic: int = 16,
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
) -> str:
    """Generate a synthetic cohort (labelmaps, datalist.json with folds, ground_truth.csv); prints the datalist path.

    Example: ``python -m scripts phantoms --output_dir /tmp/cohort --spacing "[0.5,0.5,2]" --image_format nrrd``.
    """
    from .synthetic.cohort import generate_cohort

    _setup_logging()
    path = generate_cohort(
        output_dir,
        n_young=n_young,
        n_older=n_older,
        n_sarcopenic=n_sarcopenic,
        spacing=tuple(float(s) for s in spacing),
        image_format=image_format,
        seed=seed,
        strength=strength,
        margin_mm=margin_mm,
        max_rotation_deg=max_rotation_deg,
        multilabel=multilabel,
        muscle_label=muscle_label,
        axcodes=axcodes,
        num_folds=num_folds,
        contour_jitter=contour_jitter,
        fov_cut=fov_cut,
        slice_thickness_mm=slice_thickness_mm,
    )
    return str(path)


def study(
    dataset_dir: str = str(DEMO_DIR),
    output_dir: str = str(BUNDLE_ROOT / "eval" / "study"),
    folds: list[int] | None = None,
    parallel: int = 1,
    epochs: int | None = None,
    **overrides,
) -> str:
    """Cross-validation study on a cohort with folds (see scripts/study.py); prints the report's path.

    Any other ``--key value`` overrides that id of the configs for every fold, e.g. ``--fit_iterations 200``.
    """
    from .study.runner import run_study

    _setup_logging()
    if epochs is not None:
        overrides.update(epochs=epochs, val_interval=overrides.get("val_interval", epochs))
    return str(run_study(dataset_dir, output_dir, folds=folds, parallel=parallel, overrides=overrides))


def demo(output_dir: str = str(BUNDLE_ROOT / "eval" / "study"), parallel: int = 1) -> str:
    """The quick start's main job: generate the demo cohort (first time only), run the 5-fold study, report."""
    from .synthetic.cohort import ensure_demo_cohort

    _setup_logging()
    ensure_demo_cohort(DEMO_DIR)
    report = study(str(DEMO_DIR), output_dir, parallel=parallel)
    logging.getLogger(__name__).info("demo finished; open %s", report)
    return report


def main() -> None:
    fire.Fire({"phantoms": phantoms, "study": study, "demo": demo})
