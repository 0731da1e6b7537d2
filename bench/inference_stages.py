"""Where inference spends its time: seconds per subject of each stage, on the CPU or a GPU.

Runs ``inference.json`` in this process (``scripts.study.workflows.run_workflow``) under cProfile with the shipped
model, on the demo cohort's fold-0 test subjects or on ``--generate N`` subjects drawn by the demo's generator (a
folder of labelmaps: every one of them is scored), every output on unless ``--scores_only``. Each stage's time is
the cumulative time of the function that does it, counted only where the scoring path calls it (the summary page
recomputes its own deviations: they are the page's):

- load: reading, checking and resampling the inputs, sampling their points (``SubjectDataset``);
- fit: fitting the codes (``LatentFitInferer``);
- decode: the reconstruction on the input's grid (``DecodeLatentd``);
- metrics, deviations, flattening: the surface metrics, the per-vertex deviations and the section profiles of
  ``ScoreSubjectd``; scoring, other: the rest of it (cropping, the shape frame);
- calibration: z-scores and decisions against the healthy reference (``HealthyReference.assess``);
- labelmaps, overlays, meshes: the files written per subject; tables and page: ``scores.csv``/``scores.json`` and
  the summary page (``RunTables.write``), of which the page alone (``write_summary_page``);
- other: the rest of the evaluator's run (collation, handlers, logging).

Files are scored and written on the engine's thread (``scoring_workers 0``, ``writer_threads 0``): cProfile sees only
the thread it was started on, and with scoring processes or a background writer the scoring, overlays and meshes would
count as nothing. The profiler slows Python-heavy stages more than the numerical ones: compare stages within a run,
and take the evaluator's seconds per subject without the profiler from ``inference_speed.py``.

    .venv/bin/python bench/inference_stages.py [--generate 500] [--device cuda:0] [--scores_only]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import time
from pathlib import Path

from common import BUNDLE, RESULTS, demo_cohort, machine_facts, write_result


def _key(function) -> tuple:
    """How cProfile names a function: its file, first line and name."""
    code = function.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def stage_functions() -> dict[str, tuple]:
    """stage -> (the functions doing it, the caller they are counted under or None)."""
    from scripts.data.datasets import SubjectDataset
    from scripts.engines.iterations import LatentFitInferer
    from scripts.handlers.run_tables import RunTables
    from scripts.scoring.deviation import vertex_deviation
    from scripts.scoring.metrics import reconstruction_metrics
    from scripts.scoring.reference import HealthyReference
    from scripts.scoring.sections import flattening_profile
    from scripts.transforms.outputs import AnomalyMapd, SaveLabelmapd
    from scripts.transforms.postprocessing import DecodeLatentd, ScoreSubjectd
    from scripts.visualize import figures, meshes
    from scripts.visualize.summary_page import write_summary_page

    scoring = ScoreSubjectd.__call__
    return {
        "load": ((SubjectDataset.__iter__,), None),
        "fit": ((LatentFitInferer.__call__,), None),
        "decode": ((DecodeLatentd.__call__,), None),
        "metrics": ((reconstruction_metrics,), scoring),
        "deviations": ((vertex_deviation,), scoring),
        "flattening": ((flattening_profile,), scoring),
        "scoring": ((scoring,), None),
        "calibration": ((HealthyReference.assess,), None),
        "labelmaps": ((SaveLabelmapd.__call__, AnomalyMapd.__call__), None),
        "overlays": ((figures.overlay,), None),
        "meshes": ((meshes.write_subject_meshes,), None),
        "tables and page": ((RunTables.write,), None),
        "page alone": ((write_summary_page,), None),
    }


def stage_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds per stage (see the module docstring) from a profile of one inference run."""
    table = stats.stats  # (file, line, function) -> (primitive calls, calls, own time, cumulative, callers)
    out = {}
    for stage, (functions, caller) in stage_functions().items():
        total = 0.0
        for function in functions:
            entry = table.get(_key(function))
            if entry is None:
                continue
            total += entry[4].get(_key(caller), (0, 0, 0, 0.0))[3] if caller is not None else entry[3]
        out[stage] = total
    out["scoring, other"] = max(out.pop("scoring") - out["metrics"] - out["deviations"] - out["flattening"], 0.0)
    run = [v[3] for k, v in table.items() if k[0].endswith("engine.py") and k[2] == "_internal_run"]
    out["evaluator"] = max(run) if run else float("nan")
    named = sum(v for k, v in out.items() if k not in ("evaluator", "page alone"))
    out["other"] = max(out["evaluator"] - named, 0.0)
    return out


def generated_cohort(work: Path, subjects: int) -> Path:
    """``subjects`` labelmaps of the demo's generator (its group proportions) in one folder, made once."""
    from scripts.synthetic.cohort import generate_cohort

    folder = work / f"generated_{subjects}"
    images = folder / "images"
    if images.is_dir() and len(list(images.iterdir())) >= subjects:
        return images
    third = subjects // 3
    generate_cohort(folder, n_young=subjects - 2 * third, n_older=third, n_sarcopenic=third, progress=False)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generate", type=int, default=0, help="score N generated subjects instead of the demo's 26")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fit_batch_size", type=int, default=None, help="the config's when not given")
    parser.add_argument("--scores_only", action="store_true", help="no overlays, meshes or summary page")
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "inference_stages")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    from scripts.layout import model_file, scores_document
    from scripts.study.workflows import run_workflow

    facts = machine_facts()
    dataset = generated_cohort(args.work_dir, args.generate) if args.generate else demo_cohort()
    out = args.work_dir / "run"
    shutil.rmtree(out, ignore_errors=True)
    overrides = {"dataset_dir": str(dataset), "output_dir": str(out), "tracking_uri": "", "device": args.device}
    overrides["ckpt_path"] = model_file(BUNDLE / "models")
    overrides["writer_threads"] = overrides["scoring_workers"] = 0  # every stage on the profiled thread (docstring)
    if args.fit_batch_size:
        overrides["fit_batch_size"] = args.fit_batch_size
    if args.scores_only:
        overrides.update(save_overlays=False, save_meshes=False, save_summary_page=False)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(run_workflow, ["inference.json"], "infer", **overrides)
    wall = time.perf_counter() - start
    subjects = len(json.loads(Path(scores_document(out)).read_text())["subjects"])
    seconds = stage_seconds(pstats.Stats(profile))
    per_subject = {stage: value / subjects for stage, value in seconds.items()}
    figures = {"subjects": subjects, "device": args.device, "scores_only": args.scores_only, "wall_seconds": wall}
    figures["seconds_per_subject"] = per_subject
    for stage, value in per_subject.items():
        share = seconds[stage] / seconds["evaluator"] if seconds["evaluator"] else float("nan")
        print(f"{stage:>16}: {value:7.3f} s per subject ({share:6.1%} of the evaluator)")
    write_result("inference_stages", figures, facts, args.output)


if __name__ == "__main__":
    main()
