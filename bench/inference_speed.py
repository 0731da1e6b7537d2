"""Seconds per subject of inference (fit a code, reconstruct on the input's grid, score, write), batched and not.

Runs ``inference.json`` through ``python -m monai.bundle run`` with the shipped model on the first ``--subjects``
test cases of the demo cohort (fold 0), three times into fresh folders:

- ``batched``: the defaults (``fit_batch_size`` subjects fitted together);
- ``sequential``: ``fit_batch_size 1``, one subject after another; the ratio to ``batched`` is printed;
- ``long``: ten times the fitting iterations (``--allow_uncalibrated``: only its Dice is used), the reference the
  default fit's Dice is compared with (target: within 0.01 for every subject);
- ``no_meshes``: the defaults without the surface meshes and the summary page, to tell their cost;
- ``inline_writing``: the defaults with every subject's files written on the engine's thread (``writer_threads 0``,
  as before 0.6.0): the ratio to ``batched`` is what writing on a background thread gains;
- ``prefetch``: the defaults with a batch of subjects prepared ahead on a background thread
  (``prefetch_subjects`` = ``fit_batch_size``): its ratio to ``batched`` is what preparing ahead gains;
- ``bf16``: the defaults under bfloat16 autocast (``--bf16 true``): its ratio to ``batched``, its largest Dice
  difference and how many decisions it changes (the shipped model was calibrated with float32 fits).

Times are the evaluator's own (Ignite's "Engine run finished" line: loading, fitting, decoding, scoring and
writing every subject) and the whole command's wall time (plus process start, imports and model loading).
The fitting step alone is also timed in this process, on the same subjects' sampled points with the config's
fitter: one batch of all of them against one subject at a time (early stopping off, so both do the same work).

    .venv/bin/python bench/inference_speed.py [--subjects 16] [--iterations_factor 10]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from common import BUNDLE, RESULTS, bundle_config, demo_test_files, machine_facts, stopwatch, write_result

from scripts.layout import scores_document

FINISHED = re.compile(r"SupervisedEvaluator - INFO - Engine run finished\. Time taken: (\d+):(\d+):([\d.]+)")


def run_inference(files: list[str], output_dir: Path, **overrides) -> dict:
    args = {"input_files": json.dumps(files), "output_dir": str(output_dir), "resume": "False", **overrides}
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json"]
    command += [item for key, value in args.items() for item in (f"--{key}", str(value))]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=BUNDLE, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"inference failed ({output_dir}):\n{result.stderr[-3000:]}")
    hours, minutes, seconds = FINISHED.findall(result.stdout + result.stderr)[-1]
    engine = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    subjects = json.loads(Path(scores_document(output_dir)).read_text())["subjects"]
    return {
        "engine_s": engine,
        "wall_s": wall,
        "engine_s_per_subject": engine / len(files),
        "wall_s_per_subject": wall / len(files),
        "dice": {s["id"]: s["dice"] for s in subjects},
        "fit_iterations": {s["id"]: s.get("fit_iterations") for s in subjects},
        "decision": {s["id"]: s.get("decision") for s in subjects},
    }


def fit_only(files: list[str]) -> dict:
    """Seconds per subject of ``LatentFitter.fit`` alone: all subjects in one batch, then one after another."""
    from scripts.checkpoints import load_checkpoint
    from scripts.engines.iterations import FitPrepareBatch
    from scripts.networks.auto_decoder import LatentTable
    from scripts.scoring.reference import HealthyReference

    # resume off: an earlier run in the config's output folder must not leave the dataloader empty
    parser = bundle_config("inference", input_files=files, fit_batch_size=len(files), resume=False)
    device = parser.get_parsed_content("device")
    state = load_checkpoint(parser.get_parsed_content("ckpt_path"), map_location=device)
    decoder = parser.get_parsed_content("network_def").to(device)
    decoder.load_state_dict(state["network_def"])
    train_codes = LatentTable.from_state_dict(state["latent_table"]).vectors  # the fitter moves these to the device
    reference = HealthyReference()
    reference.load_state_dict(state["reference"])
    prior = {"prior_mean": reference.latent.mean, "prior_precision": reference.latent.precision}
    points, _, _, kwargs = FitPrepareBatch()(next(iter(parser.get_parsed_content("dataloader"))), device)
    occupancy = kwargs["occupancy"]
    fitter = parser.get_parsed_content("fitter")
    fitter.patience = 10**9
    seconds: dict[str, float] = {}
    with stopwatch(seconds, "batched", device):
        fitter.fit(decoder, points, occupancy, train_codes, **prior)
    with stopwatch(seconds, "sequential", device):
        for i in range(len(points)):
            fitter.fit(decoder, points[i : i + 1], occupancy[i : i + 1], train_codes, **prior)
    batched, sequential = seconds["batched"], seconds["sequential"]
    return {
        "fit_batched_s_per_subject": batched / len(points),
        "fit_sequential_s_per_subject": sequential / len(points),
        "fit_sequential_over_batched": sequential / batched,
        "fit_device": str(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=100, help="the config's default fit_iterations")
    parser.add_argument("--iterations_factor", type=int, default=10)
    args = parser.parse_args()
    facts = machine_facts()
    files = demo_test_files(args.subjects)
    work = RESULTS / "inference_speed"
    batch = bundle_config("inference")["fit_batch_size"]

    runs = {
        "batched": run_inference(files, work / "batched"),
        "sequential": run_inference(files, work / "sequential", fit_batch_size=1),
        "long": run_inference(
            files, work / "long", fit_iterations=args.iterations * args.iterations_factor, allow_uncalibrated="true"
        ),
        "no_meshes": run_inference(files, work / "no_meshes", save_meshes="false", save_summary_page="false"),
        "inline_writing": run_inference(files, work / "inline_writing", writer_threads=0),
        "prefetch": run_inference(files, work / "prefetch", prefetch_subjects=batch),
        "bf16": run_inference(files, work / "bf16", bf16="true"),
    }
    differences = {i: abs(runs["batched"]["dice"][i] - runs["long"]["dice"][i]) for i in runs["long"]["dice"]}
    figures = {
        "subjects": len(files),
        **{f"{name}_{key}": run[key] for name, run in runs.items() for key in run if key.endswith("_s_per_subject")},
        "sequential_over_batched_engine_time": runs["sequential"]["engine_s"] / runs["batched"]["engine_s"],
        "inline_writing_over_batched_engine_time": runs["inline_writing"]["engine_s"] / runs["batched"]["engine_s"],
        "batched_over_prefetch_engine_time": runs["batched"]["engine_s"] / runs["prefetch"]["engine_s"],
        "batched_over_bf16_engine_time": runs["batched"]["engine_s"] / runs["bf16"]["engine_s"],
        "bf16_dice_abs_difference_max": max(
            abs(runs["bf16"]["dice"][i] - runs["batched"]["dice"][i]) for i in differences
        ),
        "bf16_decisions_changed": sum(
            runs["bf16"]["decision"][i] != runs["batched"]["decision"][i] for i in differences
        ),
        **fit_only(files),
        "dice_default_mean": sum(runs["batched"]["dice"].values()) / len(files),
        "dice_long_mean": sum(runs["long"]["dice"].values()) / len(files),
        "dice_abs_difference_max": max(differences.values()),
        "dice_abs_difference_mean": sum(differences.values()) / len(differences),
        "long_fit_iterations": args.iterations * args.iterations_factor,
        "per_subject": {
            i: {"dice_default": runs["batched"]["dice"][i], "dice_long": runs["long"]["dice"][i]} for i in differences
        },
    }
    write_result("inference_speed", figures, facts)


if __name__ == "__main__":
    main()
