"""Held-out healthy fit Dice against training wall time: the bundle's training against whole-volume steps.

``sampled``: ``train.json`` with its defaults on the demo cohort (fold 0), run by its own trainer and handlers;
every ``--eval_every`` epochs the clock stops and the config's own validator fits codes for the held-out healthy
subjects with the decoder frozen and reports their reconstruction Dice (``val_mean_dice``).

``whole_volume``: the published scheme, for the same training wall time: one subject per step, every voxel of its
volume through the decoder, with the same network, initialisation, loss and optimiser; evaluated the same way.

``sampled_bf16``: as ``sampled`` with ``--bf16 true`` (bfloat16 autocast), to check its accuracy and its speed.

    .venv/bin/python bench/training_speed.py [--budget 300] [--eval_every 10]
"""

from __future__ import annotations

import argparse
import shutil
import time

import numpy as np
import torch
from common import RESULTS, bundle_config, demo_cohort, machine_facts, write_result
from ignite.engine import Events
from monai.bundle import ConfigParser
from monai.transforms import Compose
from monai.utils import set_determinism

from scripts.data.geometry import grid_model_coords


def config(mode: str, **overrides) -> ConfigParser:
    set_determinism(0)
    work = RESULTS / "training_speed" / mode
    shutil.rmtree(work, ignore_errors=True)
    return bundle_config(
        "train",
        dataset_dir=str(demo_cohort()),
        ckpt_dir=str(work / "models"),
        output_dir=str(work / "eval"),
        **overrides,
    )


def held_out_dice(parser: ConfigParser) -> float:
    evaluator = parser.get_parsed_content("validate#evaluator")
    evaluator.run()
    return float(evaluator.state.metrics["val_mean_dice"])


class Clock:
    """Training seconds: wall time minus the time spent evaluating."""

    def __init__(self) -> None:
        self.start, self.paused = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def evaluate(self, parser: ConfigParser, curve: list) -> float:
        seconds, start = self.seconds(), time.perf_counter()
        dice = held_out_dice(parser)
        self.paused += time.perf_counter() - start
        curve.append((seconds, dice))
        print(f"  {seconds:7.1f} s of training: held-out fit Dice {dice:.4f}", flush=True)
        return dice


def run_sampled(budget: float, eval_every: int, bf16: bool = False) -> list:
    # the bench evaluates; the config's validator is reused
    parser = config("sampled_bf16" if bf16 else "sampled", val_interval=10**6, bf16=bf16)
    trainer, curve = parser.get_parsed_content("train#trainer"), []
    clock = Clock()

    @trainer.on(Events.EPOCH_COMPLETED(every=eval_every))
    def evaluate(engine) -> None:
        clock.evaluate(parser, curve)
        if clock.seconds() >= budget:
            engine.terminate()

    trainer.run()
    return curve


def whole_volumes(parser: ConfigParser) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every training subject as (coordinates of all its voxels, their occupancy), after the shared preprocessing."""
    transform = Compose(parser.get_parsed_content("load_transforms") + parser.get_parsed_content("shape_transforms"))
    scale, volumes = parser.get_parsed_content("settings")["coordinate_scale"], []
    for item in parser.get_parsed_content("train#datalist"):
        data = transform(dict(item))
        mask = data["image"][0]
        coords = grid_model_coords(mask.shape, mask.affine, np.asarray(data["centre"]), scale)
        volumes.append((torch.from_numpy(coords.reshape(1, -1, 3)).float(), mask.reshape(1, -1, 1).float()))
    return volumes


def run_whole_volume(budget: float, eval_seconds: float) -> tuple[list, int]:
    parser = config("whole_volume")
    network, loss, optimizer = (parser.get_parsed_content(k) for k in ("network", "loss", "optimizer"))
    volumes, curve = whole_volumes(parser), []
    print(f"  whole-volume mode: {np.mean([v[0].shape[1] for v in volumes]):,.0f} voxels per subject on average")
    order = np.random.default_rng(0).permutation(len(volumes))
    clock, next_eval, step, evaluated_at = Clock(), eval_seconds, 0, -1
    while clock.seconds() < budget:
        index = int(order[step % len(order)])
        loss.set_epoch(step // len(volumes))
        device = next(network.parameters()).device
        coords, occupancy = (t.to(device) for t in volumes[index])
        prediction = network(coords, torch.tensor([index], device=device))
        optimizer.zero_grad(set_to_none=True)
        loss(prediction, occupancy).backward()
        optimizer.step()
        step += 1
        if clock.seconds() >= next_eval:
            clock.evaluate(parser, curve)
            next_eval, evaluated_at = next_eval + eval_seconds, step
    if evaluated_at != step:
        clock.evaluate(parser, curve)
    return curve, step


def save_curves(curves: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        axis.plot([c[0] for c in curve], [c[1] for c in curve], marker="o", label=name)
    axis.axhline(0.93, color="grey", linestyle="--", linewidth=1, label="target 0.93")
    axis.set(xlabel="training wall time (s)", ylabel="held-out healthy fit Dice", ylim=(0, 1))
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per mode")
    parser.add_argument("--eval_every", type=int, default=10, help="epochs between evaluations (sampled mode)")
    args = parser.parse_args()
    facts = machine_facts()
    print("sampled points (the bundle's training):")
    sampled = run_sampled(args.budget, args.eval_every)
    print("sampled points, bf16 autocast (--bf16 true):")
    sampled_bf16 = run_sampled(args.budget, args.eval_every, bf16=True)
    print("whole volume per step, one subject per step:")
    whole, steps = run_whole_volume(sampled[-1][0], eval_seconds=max(30.0, sampled[-1][0] / 5))
    reached = [s for s, d in sampled if d >= 0.93]
    reached_bf16 = [s for s, d in sampled_bf16 if d >= 0.93]
    figures = {
        "sampled": [{"train_s": s, "dice": d} for s, d in sampled],
        "sampled_bf16": [{"train_s": s, "dice": d} for s, d in sampled_bf16],
        "whole_volume": [{"train_s": s, "dice": d} for s, d in whole],
        "whole_volume_steps": steps,
        "whole_volume_s_per_step": whole[-1][0] / max(steps, 1),
        "sampled_seconds_to_dice_0.93": reached[0] if reached else None,
        "sampled_bf16_seconds_to_dice_0.93": reached_bf16[0] if reached_bf16 else None,
        "final_dice_sampled": sampled[-1][1],
        "final_dice_sampled_bf16": sampled_bf16[-1][1],
        "final_dice_whole_volume": whole[-1][1],
    }
    plot = RESULTS / "training_speed.png"
    curves = {"sampled points (bundle)": sampled, "sampled points, bf16": sampled_bf16, "whole volume per step": whole}
    save_curves(curves, plot)
    figures["plot"] = str(plot)
    write_result("training_speed", figures, facts)


if __name__ == "__main__":
    main()
