"""Peak memory of training and the share of step time spent loading data, on small and on 256^3 volumes.

Training samples points from cached volumes, so its memory should not grow with the volume size beyond the cache
of the (uint8) volumes themselves. Two cohorts are trained for ``--epochs`` epochs with ``train.json``'s trainer,
loss, optimiser and checkpointing (validation and tracking handlers left out), each in a fresh process:

- ``demo``: the demo cohort's training fold at 1 mm (volumes of about 0.5 M voxels);
- ``large``: ``--subjects`` synthetic muscles on grids of ``--size``^3 voxels (generated once under
  ``bench/results/``), trained at their own spacing so that the cached volumes keep every voxel.

Each process reports its peak RSS, its RSS once the dataset is cached, and Ignite's ``BasicTimeProfiler`` figures:
the fraction of step time spent fetching batches (data loading and point sampling) against processing them.

    .venv/bin/python bench/training_memory.py [--subjects 40] [--size 256] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from common import RESULTS, bundle_config, demo_cohort, machine_facts, peak_rss_mb, write_result

from scripts.layout import cohort_datalist

LEFT_OUT = ("ValidationHandler", "FinalValidationHandler", "MLFlowHandler", "TrainingCurvesHandler")


def large_cohort(subjects: int, size: int, margin_mm: float = 8.0) -> tuple[Path, float]:
    """``subjects`` muscles (Y, OH, OS in turn) on cubic grids of ``size``^3 voxels, all at one spacing."""
    import nibabel as nib

    from scripts.synthetic import phantoms

    folder = RESULTS / f"cohort_{subjects}x{size}"
    rng = np.random.default_rng(0)
    shapes = [phantoms.sample_shape(("Y", "OH", "OS")[i % 3], rng) for i in range(subjects)]
    extents = np.array([phantoms.bounding_half_extent(s) for s in shapes]) + margin_mm
    spacing = float(np.ceil(2 * extents.max() / size * 100) / 100)
    if Path(cohort_datalist(folder)).exists():
        return folder, spacing
    (folder / "images").mkdir(parents=True, exist_ok=True)
    axis = (np.arange(size) - (size - 1) / 2) * spacing
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = axis[0]
    entries = []
    for i, (shape, extent) in enumerate(zip(shapes, extents, strict=True)):
        box = [np.flatnonzero(np.abs(axis) <= e) for e in extent]  # the muscle's box: no need to test the rest
        grid = np.stack(np.meshgrid(axis[box[0]], axis[box[1]], axis[box[2]], indexing="ij"), axis=-1)
        volume = np.zeros((size,) * 3, dtype=np.uint8)
        volume[np.ix_(*box)] = phantoms.inside(shape, grid)
        subject_id = f"S_{i:03d}"
        nib.save(nib.Nifti1Image(volume, affine), folder / "images" / f"{subject_id}.nii.gz")
        entries.append({"id": subject_id, "image": f"images/{subject_id}.nii.gz", "group": "Y", "healthy": True})
        print(f"  generated {subject_id} ({i + 1}/{subjects})", flush=True)
    ids = [e["id"] for e in entries]
    datalist = {"subjects": entries, "num_folds": 1, "folds": [{"train": ids, "val": ids[:1], "test": []}]}
    Path(cohort_datalist(folder)).write_text(json.dumps(datalist, indent=2))
    return folder, spacing


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1]) / 1024.0
    return float("nan")


def train_child(dataset_dir: str, spacing: float, epochs: int, work: str) -> None:
    """In a fresh process: train with the bundle's trainer and print the figures as JSON."""
    import time

    from ignite.contrib.handlers import BasicTimeProfiler

    parser = bundle_config(
        "train",
        dataset_dir=dataset_dir,
        ckpt_dir=f"{work}/models",
        output_dir=f"{work}/eval",
        epochs=epochs,
        target_spacing=[spacing] * 3,
    )
    parser["train#handlers"] = [h for h in parser["train#handlers"] if h["_target_"].split(".")[-1] not in LEFT_OUT]
    start = time.perf_counter()
    dataset = parser.get_parsed_content("train#dataset")
    cache_s, cached_rss = time.perf_counter() - start, current_rss_mb()
    trainer = parser.get_parsed_content("train#trainer")
    profiler = BasicTimeProfiler()
    profiler.attach(trainer)
    start = time.perf_counter()
    trainer.run()
    results = profiler.get_results()
    fetch = float(results["dataflow_stats"]["total"])
    process = float(results["processing_stats"]["total"])
    shapes = [tuple(item["image"].shape[1:]) for item in dataset._cache[:1]] if hasattr(dataset, "_cache") else []
    figures = {
        "subjects": len(dataset),
        "cached_volume_shape_example": shapes[0] if shapes else None,
        "cache_s": cache_s,
        "train_s": time.perf_counter() - start,
        "iterations": trainer.state.iteration,
        "rss_after_caching_mb": cached_rss,
        "peak_rss_mb": peak_rss_mb(),
        "data_fetch_s": fetch,
        "processing_s": process,
        "data_loading_fraction": fetch / (fetch + process),
    }
    print(json.dumps(figures))


def run_child(dataset_dir: Path, spacing: float, epochs: int, name: str) -> dict:
    work = RESULTS / "training_memory" / name
    shutil.rmtree(work, ignore_errors=True)  # a checkpoint left there would be resumed
    command = [sys.executable, __file__, "--child", str(dataset_dir), "--spacing", str(spacing)]
    command += ["--epochs", str(epochs), "--work", str(work)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"training failed ({name}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--spacing", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--work", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_child(args.child, args.spacing, args.epochs, args.work)
        return
    facts = machine_facts()
    folder, spacing = large_cohort(args.subjects, args.size)
    figures = {
        "demo": run_child(demo_cohort(), 1.0, args.epochs, "demo"),
        "large": {"spacing_mm": spacing, **run_child(folder, spacing, args.epochs, "large")},
    }
    write_result("training_memory", figures, facts)


if __name__ == "__main__":
    main()
