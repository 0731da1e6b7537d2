"""The learning-rate schedule of training, named so that the config states it instead of computing it."""

from __future__ import annotations

import math


class CosineToFraction:
    """``LambdaLR``'s factor at ``epoch``: a half cosine from 1 down to ``final_fraction`` over ``epochs``, then flat.

    Args:
        final_fraction: the factor the schedule ends at (of the optimiser's learning rates).
        epochs: the epochs it takes to get there.
    """

    def __init__(self, final_fraction: float, epochs: int) -> None:
        if epochs < 1 or not 0.0 <= final_fraction <= 1.0:
            raise ValueError(f"a schedule over {epochs} epochs down to {final_fraction} of the learning rate")
        self.final_fraction, self.epochs = float(final_fraction), int(epochs)

    def __call__(self, epoch: int) -> float:
        progress = min(epoch, self.epochs) / self.epochs
        return self.final_fraction + (1 - self.final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
