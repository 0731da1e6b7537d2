"""Scoring many subjects: speed and peak memory against the number of subjects, one process against torchrun.

A small model is trained first (``--spacing`` mm, a few epochs: its quality does not matter here), then a cohort of
``--subjects`` small synthetic labelmaps is generated once. The figures:

- subjects per second and peak resident memory of ``inference.json`` on the first 100 and on all 1,000 subjects
  (each run a fresh process, from scratch): memory must not grow with the number of subjects;
- subjects per second of one process with every thread, against ``torchrun`` with 1 and with 2 processes
  (``multi_gpu_inference.json``, gloo), the threads shared out between them, on the first 100 subjects;
- seconds to list the input folder, to check which subjects are complete (resume) and to merge the table, for the
  folder of 1,000 subjects and for 100,000 synthetic entries (listing and resume checks on empty files).

Every run writes into a fresh folder (nothing is resumed). Run from the repository root:
``.venv/bin/python bench/inference_scale.py``. About 20 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import BUNDLE, RESULTS, machine_facts, write_result

PEAK = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0); sys.exit(code)"
)


def run(command: list[str], threads: int, output: Path | None = None) -> tuple[float, float]:
    """Seconds and peak RSS (MB, the largest process of the run) of a command started from the bundle root, after
    emptying its ``output`` folder."""
    if output is not None:
        shutil.rmtree(output, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(BUNDLE), "OMP_NUM_THREADS": str(threads), "MLFLOW_DISABLE_TELEMETRY": "1"}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK, *command], cwd=BUNDLE, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(result.stderr[-3000:])
    peak = float(result.stdout.rsplit("PEAK_RSS_MB", 1)[1].split()[0])
    return seconds, peak


def train_small_model(work: Path, spacing: float) -> Path:
    from scripts.layout import cohort_datalist
    from scripts.synthetic.cohort import generate_cohort

    cohort = work / "training_cohort"
    if not Path(cohort_datalist(cohort)).is_file():
        generate_cohort(cohort, n_young=8, n_older=8, n_sarcopenic=2, spacing=(spacing,) * 3, num_folds=3)
    model = work / "model" / "model.pt"
    if not model.is_file():
        overrides = {
            "dataset_dir": str(cohort),
            "ckpt_dir": str(model.parent),
            "output_dir": str(work / "model_eval"),
            "epochs": "20",
            "val_interval": "20",
            "target_spacing": f"[{spacing},{spacing},{spacing}]",
            "coarse_mm": str(2 * spacing),
        }
        args = [item for key, value in overrides.items() for item in (f"--{key}", value)]
        run([sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.json", *args], 2)
    return model


def scoring_command(model: Path, inputs: Path, output: Path, processes: int, spacing: float) -> list[str]:
    args = ["--dataset_dir", str(inputs), "--ckpt_path", str(model), "--output_dir", str(output)]
    args += ["--save_overlays", "false", "--resume", "false", "--coarse_mm", str(2 * spacing)]
    if processes == 0:
        return [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/inference.json", *args]
    config = "['configs/inference.json','configs/multi_gpu_inference.json']"
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1"]
    return [*launcher, f"--nproc_per_node={processes}", "-m", "monai.bundle", "run", "--config_file", config, *args]


def bookkeeping(folder: Path, entries: int) -> dict:
    """Listing, resume checks and merging, timed on ``entries`` files named like labelmaps."""
    from scripts.data.files import write_csv, write_json_with_list
    from scripts.data.inputs import list_labelmaps
    from scripts.layout import SubjectFiles, scores_document, scores_table

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(entries):
        (folder / f"s{i:06d}.nii.gz").touch()
    out = {}
    start = time.perf_counter()
    items = list_labelmaps(folder)
    out["list_s"] = time.perf_counter() - start
    files = SubjectFiles(folder / "out")
    start = time.perf_counter()
    complete = sum(files.complete(item) for item in items)
    out["resume_check_s"] = time.perf_counter() - start
    rows = ({"id": item["id"], "dice": 0.9, "decision": "normal"} for item in items)
    start = time.perf_counter()
    write_csv(rows, scores_table(folder), columns=["id", "dice", "decision"])
    write_json_with_list({"summary": {}}, "subjects", ({"id": i["id"]} for i in items), scores_document(folder))
    out["merge_s"] = time.perf_counter() - start
    out["entries"], out["complete"] = len(items), complete
    shutil.rmtree(folder)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--spacing", type=float, default=4.0, help="voxel size (mm) of the cohort and the model")
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "inference_scale")
    args = parser.parse_args()
    facts = machine_facts()
    work = args.work_dir
    model = train_small_model(work, args.spacing)
    from scripts.layout import cohort_datalist
    from scripts.synthetic.cohort import generate_cohort

    cohort = work / f"cohort_{args.subjects}"
    if not Path(cohort_datalist(cohort)).is_file():
        third = args.subjects // 3
        counts = {"n_young": args.subjects - 2 * third, "n_older": third, "n_sarcopenic": third}
        generate_cohort(cohort, spacing=(args.spacing,) * 3, num_folds=3, **counts)
    images = sorted((cohort / "images").iterdir())
    subsets = {}
    for count in sorted({min(100, len(images)), len(images)}):
        folder = work / f"inputs_{count}"
        if not folder.is_dir():
            folder.mkdir(parents=True)
            for image in images[:count]:
                os.symlink(image, folder / image.name)
        subsets[count] = folder
    figures: dict = {"subjects": args.subjects, "spacing_mm": args.spacing, "runs": {}}
    threads = os.cpu_count() or 1
    for count, folder in subsets.items():
        seconds, peak = run(scoring_command(model, folder, work / "out", 0, args.spacing), threads, work / "out")
        figures["runs"][f"one_process_{count}"] = {"s": seconds, "subjects_per_s": count / seconds, "peak_mb": peak}
        print(f"{count} subjects, one process: {count / seconds:.2f} subjects/s, peak {peak:.0f} MB", flush=True)
    count, smallest = max(subsets), min(subsets)
    for processes in (1, 2):
        command = scoring_command(model, subsets[smallest], work / "out", processes, args.spacing)
        seconds, _ = run(command, max(1, threads // processes), work / "out")
        figures["runs"][f"torchrun_{processes}_{smallest}"] = {"s": seconds, "subjects_per_s": smallest / seconds}
        print(f"{smallest} subjects, torchrun x{processes}: {smallest / seconds:.2f} subjects/s", flush=True)
    runs = figures["runs"]
    peaks = runs[f"one_process_{count}"]["peak_mb"], runs[f"one_process_{smallest}"]["peak_mb"]
    figures["peak_growth_small_to_all"] = peaks[0] / peaks[1]
    figures["torchrun2_over_one_process"] = (
        runs[f"torchrun_2_{smallest}"]["subjects_per_s"] / runs[f"one_process_{smallest}"]["subjects_per_s"]
    )
    figures["bookkeeping"] = {n: bookkeeping(work / f"entries_{n}", n) for n in (args.subjects, 100_000)}
    write_result("inference_scale", figures, facts)
    print(json.dumps(figures["bookkeeping"], indent=2))


if __name__ == "__main__":
    main()
