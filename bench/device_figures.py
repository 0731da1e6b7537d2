"""The accelerator figures in one run: the script a session lent a GPU runs once (15 minutes of device in all).

Every figure is measured with the bundle's own configs (``scripts.study.workflows.run_workflow``), MLflow off
(``mlflow_tracking false``: the device has no MLflow), on ``--device``:

- ``train``: the demo's training (fold 0, shipped defaults, ``--epochs`` epochs, validation only at the end), float32
  and bfloat16: seconds of the trainer's run and of its final validation (the issue's target: 100 epochs in 4 s);
- ``demo``: the shipped model on the 26 demo test subjects with every output, at the config's fit batch and at
  ``--fit_batch_size``: seconds per subject of the evaluator;
- ``many``: ``--subjects`` subjects drawn by the demo's generator, every output and scores only, at
  ``--fit_batch_size`` with ``--prefetch_subjects``, scored and written by each of ``--scoring_workers`` processes
  (``handlers.scoring_pool``): subjects per second of the evaluator (the targets: 20 and 50 per second) and the
  device's mean use while it ran (``torch.cuda.utilization``, where NVML answers); and the largest Dice difference
  between the two fit batches of ``demo``.

Try it on the CPU first (small): ``.venv/bin/python bench/device_figures.py --device cpu --epochs 2 --subjects 15``.
On the device the bundle's other packages travel as wheels (15 MB, all pure Python; everything they need is already
there). Once, here, from the repository root::

    echo /.whl/ >> .git/info/exclude
    .venv/bin/python -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl \
        monai==1.6.1 pytorch-ignite==0.5.5 nibabel==5.4.2 meshio==5.3.5 plotly==7.1.0

then one ``run`` with ``carry`` [".whl"] and a ``timeout_s`` of about 540::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl && export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 && python3 bench/device_figures.py --output $OUT

About 6 minutes on an H200 with the default 100 subjects, estimated from the issue's figures (0.75 subjects per second
with every output, 2.6 with scores only, 11 s for 100 epochs); not yet run there. The issue's 500 subjects would not
fit one 10-minute command at today's speed: raise ``--subjects`` once the first run shows the pipeline's speed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
from pathlib import Path

from common import RESULTS, demo_cohort, machine_facts, write_result
from inference_stages import generated_cohort

from scripts.layout import BUNDLE_ROOT, model_file, scores_document
from scripts.study.workflows import run_workflow


def timed_inference(out: Path, dataset: Path, **overrides) -> tuple[float, int]:
    """Seconds of the evaluator's run of ``inference.json`` on ``dataset`` into ``out``, and the subjects it scored."""
    seconds = run_workflow(
        ["inference.json"], "infer", ["evaluator"], **overrides, dataset_dir=str(dataset), output_dir=str(out)
    )
    return seconds["evaluator"], len(dice_of(out))


class DeviceUse:
    """The device's mean use (percent) while the block runs, sampled every second; None where NVML does not answer."""

    def __init__(self, device: str) -> None:
        self.device, self.samples, self.mean = device, [], None
        self.stop = threading.Event()

    def _sample(self) -> None:
        import torch

        while not self.stop.wait(1.0):
            try:
                self.samples.append(float(torch.cuda.utilization(self.device)))
            except Exception:  # no NVML (pynvml) or no CUDA device: nothing to report
                return

    def __enter__(self) -> DeviceUse:
        self.thread = threading.Thread(target=self._sample, daemon=True)
        if self.device.startswith("cuda"):
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.mean = sum(self.samples) / len(self.samples) if self.samples else None


def dice_of(folder: Path) -> dict[str, float]:
    return {s["id"]: s["dice"] for s in json.loads(Path(scores_document(folder)).read_text())["subjects"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--fit_batch_size", type=int, default=64)
    parser.add_argument("--scoring_workers", default="1,4,8,16", help="scoring processes of each 'many' row")
    parser.add_argument("--prefetch_subjects", type=int, default=64)
    parser.add_argument("--work_dir", type=Path, default=RESULTS / "device_figures")
    parser.add_argument("--output", type=Path, default=None, help="a folder for the JSON (the device's $OUT)")
    args = parser.parse_args()
    facts = machine_facts()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    common = {"device": f"$torch.device('{args.device}')", "mlflow_tracking": False, "resume": False}
    demo = demo_cohort()
    figures: dict = {"device": args.device}

    for precision in ("float32", "bfloat16"):
        out = args.work_dir / f"train_{precision}"
        seconds = run_workflow(
            ["train.json"],
            "train",
            ["train#trainer", "validate#evaluator"],
            **common,
            dataset_dir=str(demo),
            epochs=args.epochs,
            val_interval=args.epochs,
            bf16=precision == "bfloat16",
            ckpt_dir=str(out / "models"),
            output_dir=str(out),
        )
        figures[f"train_{precision}_s"] = seconds["train#trainer"] - seconds["validate#evaluator"]
        figures[f"train_{precision}_validation_s"] = seconds["validate#evaluator"]
        print(f"{args.epochs} epochs in {precision}: {figures[f'train_{precision}_s']:.1f} s", flush=True)

    shipped = {**common, "ckpt_path": model_file(BUNDLE_ROOT / "models")}
    for name, batch in (("demo_config_batch", None), ("demo", args.fit_batch_size)):
        batching = {} if batch is None else {"fit_batch_size": batch}
        seconds, subjects = timed_inference(args.work_dir / name, demo, **shipped, **batching)
        figures[f"{name}_s_per_subject"] = seconds / subjects
        print(f"{name}: {figures[f'{name}_s_per_subject']:.3f} s per subject ({subjects} subjects)", flush=True)

    many = generated_cohort(args.work_dir, args.subjects)
    pipeline = {"fit_batch_size": args.fit_batch_size, "prefetch_subjects": args.prefetch_subjects}
    scores_only = {"save_overlays": False, "save_meshes": False, "save_summary_page": False}
    for workers in (int(w) for w in args.scoring_workers.split(",")):
        for name, outputs in ((f"many_every_output_w{workers}", {}), (f"many_scores_only_w{workers}", scores_only)):
            with DeviceUse(args.device) as use:
                seconds, subjects = timed_inference(
                    args.work_dir / name, many, **shipped, **pipeline, **outputs, scoring_workers=workers
                )
            figures[f"{name}_subjects_per_s"], figures[f"{name}_device_use_pct"] = subjects / seconds, use.mean
            print(f"{name}: {subjects / seconds:.2f} subjects per second, device use {use.mean}", flush=True)
    first, second = dice_of(args.work_dir / "demo_config_batch"), dice_of(args.work_dir / "demo")
    figures["demo_dice_abs_difference_max_between_batches"] = max(abs(first[i] - second[i]) for i in first)
    output = None if args.output is None else args.output / "device_figures.json"
    write_result("device_figures", figures, facts, output)


if __name__ == "__main__":
    main()
