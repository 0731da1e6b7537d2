"""Whether bfloat16 pays on this machine's processor, measured rather than guessed from its name.

A CPU with bfloat16 matrix units (Intel AMX, AVX512-BF16) runs the decoder's products under bfloat16 autocast about
2.5 times faster than in float32; one without them emulates bfloat16 and runs slower. The demo (``python -m scripts
demo --bf16 auto``) asks ``bf16_pays`` once and trains, calibrates and scores in bfloat16 only where it pays: the same
study at the speed the machine allows, every fold in one precision, recorded with the study's settings (``bf16``).
"""

from __future__ import annotations

import logging
import time

import torch

logger = logging.getLogger(__name__)

SPEEDUP_NEEDED = 1.5  # bfloat16 must be this much faster to be chosen: well away from the noise of a short timing
POINTS, WIDTH = 8192, 128  # one decoder layer's product at the fit's batch size


def _seconds_per_product(inputs: torch.Tensor, weight: torch.Tensor, bf16: bool) -> float:
    """Time of one decoder-sized product (forward and backward) on the CPU, under autocast for bfloat16 as the
    decoder runs."""
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = torch.relu(inputs @ weight) @ weight
    hidden.float().sum().backward()
    return time.perf_counter() - start


def bf16_speedup(repeats: int = 5) -> float:
    """How many times faster the decoder's products run on this CPU under bfloat16 autocast than in float32: the best
    of ``repeats`` timings of each, taken in turn so that a change of load on the machine meets both alike."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(POINTS, WIDTH, generator=generator)
    weight = torch.randn(WIDTH, WIDTH, generator=generator, requires_grad=True)
    for bf16 in (False, True):  # the first run of each sets its kernels up: not timed
        _seconds_per_product(inputs, weight, bf16)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeats):
        for bf16 in (False, True):
            best[bf16] = min(best[bf16], _seconds_per_product(inputs, weight, bf16))
    return best[False] / best[True]


def bf16_pays(device: str | torch.device = "cpu", repeats: int = 5) -> bool:
    """Whether to run in bfloat16 on ``device``: on a CPU when measured at least ``SPEEDUP_NEEDED`` times faster;
    never on CUDA, where the fit is bound by kernel launches rather than by its products."""
    if torch.device(device).type != "cpu":
        return False
    speedup = bf16_speedup(repeats)
    chosen = speedup >= SPEEDUP_NEEDED
    logger.info(
        "bfloat16 runs the decoder's products %.1fx as fast as float32 on this CPU: %s",
        speedup,
        "running in bfloat16" if chosen else "running in float32",
    )
    return chosen
