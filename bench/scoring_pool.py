"""Subjects per second with the scoring and writing in worker processes against the engine's thread, one run.

Runs ``inference.json`` through ``python -m monai.bundle run`` with the shipped model on the demo cohort's fold 0 test
subjects (``--subjects``), with every output and with scores only, at ``--workers`` scoring processes and at 0 (the
serial path), each ``--repeats`` times in turn (a slow moment of the machine meets both alike). Reported: the
evaluator's subjects per second (Ignite's own run time: fitting, decoding, scoring, writing), the best and the median
of the repeats, the ratio of the pool to the serial path, and whether every scores row came out identical.

    .venv/bin/python bench/scoring_pool.py [--subjects 26] [--workers 2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import RESULTS, demo_test_files, machine_facts, write_result
from inference_speed import run_inference

from scripts.layout import scores_document

OUTPUTS = {"every_output": {}, "scores_only": {"save_overlays": "false", "save_meshes": "false"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=26)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    facts = machine_facts()
    files = demo_test_files(args.subjects)
    work = RESULTS / "scoring_pool"
    figures: dict = {"subjects": len(files), "workers": args.workers}
    for name, outputs in OUTPUTS.items():
        rates: dict[int, list[float]] = {0: [], args.workers: []}
        rows: dict[int, list] = {}
        for repeat in range(args.repeats):
            for workers in rates:
                out = work / f"{name}_w{workers}_{repeat}"
                run = run_inference(files, out, scoring_workers=workers, mlflow_tracking="false", **outputs)
                rates[workers].append(len(files) / run["engine_s"])
                rows[workers] = json.loads(Path(scores_document(out)).read_text())["subjects"]
        for workers, values in rates.items():
            figures[f"{name}_w{workers}_subjects_per_s_best"] = max(values)
            figures[f"{name}_w{workers}_subjects_per_s_median"] = statistics.median(values)
        figures[f"{name}_pool_over_serial"] = statistics.median(rates[args.workers]) / statistics.median(rates[0])
        figures[f"{name}_rows_identical"] = rows[0] == rows[args.workers]
        print(f"{name}: {figures[f'{name}_pool_over_serial']:.2f}x with {args.workers} workers", flush=True)
    write_result("scoring_pool", figures, facts)


if __name__ == "__main__":
    main()
