"""How many points per second does the decoder train on and evaluate, against a plain MLP of the same shape?

The reference is what a straightforward implementation does: an eager fp32 MLP that concatenates the subject's
code to every point (the decoder's own per-point-code path, ``decode_points`` with codes ``[B, N, D]``). It is
compared, in the same run and on the same batches of demo-cohort points, with the bundle's path (the code's
contribution to each injection layer computed once per subject and added inside the matrix product), in fp32 and
under bf16 autocast (the ``bf16`` config switch), eager and through ``torch.compile``.

- training: forward, backward and Adam step on ``subjects x points`` points (default 8 x 4096 = 32768);
- forward: no-grad queries of one code in chunks, as reconstruction does.

The fp32 paths compute the same function (checked in tests/networks/test_decoder.py). Whether bf16 reaches the same
Dice is measured where it matters, on held-out fits after real training: ``bench/training_speed.py`` trains the bundle
in fp32 and with ``--bf16 true`` and prints both Dice curves (a few hundred steps of this script are too early in
training, and too noisy, to compare precisions).

    .venv/bin/python bench/decoder_throughput.py [--timed 20] [--no-compile]
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from common import bundle_config, demo_cohort, machine_facts, synchronize, write_result
from torch import nn

from scripts.engines.iterations import AutoDecoderPrepareBatch
from scripts.networks.decoder import OccupancyDecoder
from scripts.networks.losses import OccupancyLoss


class Mode:
    """One way of running the decoder: which implementation, which precision, compiled or not."""

    def __init__(self, name: str, concat: bool, bf16: bool, compiled: bool) -> None:
        self.name, self.concat, self.bf16, self.compiled = name, concat, bf16, compiled

    def build(self, decoder: OccupancyDecoder):
        module = copy.deepcopy(decoder)
        device_type = next(module.parameters()).device.type
        run = torch.compile(module.decode_points, dynamic=False) if self.compiled else module.decode_points

        def decode(codes, coords):
            if self.concat:  # the reference: the code repeated for every point and concatenated to it
                codes = codes[:, None].expand(-1, coords.shape[1], -1)
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16):
                return run(codes, coords).float()

        return module, decode


def demo_batches(steps: int, subjects: int, points: int, seed: int = 0):
    """``steps`` training batches of the demo cohort, drawn by the bundle's own training pipeline."""
    from monai.utils import set_determinism

    set_determinism(seed)
    parser = bundle_config(
        "train", dataset_dir=str(demo_cohort()), subjects_per_batch=subjects, points_per_subject=points
    )
    loader = parser.get_parsed_content("train#dataloader")
    num_codes = len(parser.get_parsed_content("train#datalist"))
    prepare, batches = AutoDecoderPrepareBatch(), []
    while len(batches) < steps:
        for batch in loader:
            points_, occupancy, _, kwargs = prepare(batch)
            if len(points_) == subjects:
                batches.append((points_, occupancy, kwargs["case_index"]))
            if len(batches) == steps:
                break
    device = parser.get_parsed_content("device")
    batches = [tuple(t.to(device) for t in batch) for batch in batches]
    return batches, num_codes, parser.get_parsed_content("network_def").to(device)


def train_steps(mode: Mode, decoder, codes_init, batches, warmup: int = 0) -> float:
    """Train a copy of ``decoder`` and the codes on ``batches``; returns the seconds spent after ``warmup`` steps."""
    module, decode = mode.build(decoder)
    codes = nn.Embedding.from_pretrained(codes_init.clone(), freeze=False)
    device = codes_init.device
    optimizer = torch.optim.Adam([{"params": module.parameters(), "lr": 1e-3}, {"params": codes.parameters()}])
    loss_fn, seconds = OccupancyLoss(), 0.0
    for step, (points, occupancy, index) in enumerate(batches):
        start = time.perf_counter()
        batch_codes = codes(index)
        loss = loss_fn(decode(batch_codes, points), occupancy)["total"].mean() + 1e-4 * batch_codes.pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        synchronize(device)
        if step >= warmup:
            seconds += time.perf_counter() - start
    return seconds


@torch.no_grad()
def forward_rate(mode: Mode, decoder, code, chunk: int, repeats: int) -> float:
    module, decode = mode.build(decoder)
    coords = torch.rand(1, chunk, 3, device=code.device) * 2 - 1
    decode(code, coords)  # warm-up (and compilation)
    synchronize(code.device)
    start = time.perf_counter()
    for _ in range(repeats):
        decode(code, coords)
    synchronize(code.device)
    return repeats * chunk / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timed", type=int, default=20, help="training steps timed for throughput, after warm-up")
    parser.add_argument("--subjects", type=int, default=8)
    parser.add_argument("--points", type=int, default=4096)
    parser.add_argument("--chunk", type=int, default=131072, help="points per forward query")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args()
    facts = machine_facts()
    torch.manual_seed(0)

    train, num_codes, decoder = demo_batches(args.timed + 5, args.subjects, args.points)
    device = next(decoder.parameters()).device  # the configs' device: the GPU where there is one
    codes_init = torch.randn(num_codes, decoder.latent_dim, device=device) / decoder.latent_dim**0.5
    modes = [Mode("naive_fp32", True, False, False), Mode("fast_fp32", False, False, False)]
    modes += [Mode("naive_bf16", True, True, False), Mode("fast_bf16", False, True, False)]
    if not args.no_compile:
        modes += [Mode("fast_fp32_compile", False, False, True), Mode("fast_bf16_compile", False, True, True)]

    figures: dict = {"device": str(device), "points_per_step": args.subjects * args.points}
    figures.update(training={}, forward={})
    for mode in modes:
        start = time.perf_counter()
        seconds = train_steps(mode, decoder, codes_init, train, warmup=5)
        rate = args.timed * args.subjects * args.points / seconds
        figures["training"][mode.name] = {"points_per_s": rate, "first_run_s_incl_compile": time.perf_counter() - start}
        print(f"training {mode.name}: {rate:,.0f} points/s")
    code = codes_init[:1]
    for mode in modes:
        figures["forward"][mode.name] = {"points_per_s": forward_rate(mode, decoder, code, args.chunk, repeats=5)}
        print(f"forward {mode.name}: {figures['forward'][mode.name]['points_per_s']:,.0f} points/s")
    for kind in ("training", "forward"):
        reference = figures[kind]["naive_fp32"]["points_per_s"]
        for entry in figures[kind].values():
            entry["speedup_vs_naive_fp32"] = entry["points_per_s"] / reference

    write_result("decoder_throughput", figures, facts)


if __name__ == "__main__":
    main()
