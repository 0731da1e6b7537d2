"""Losses of the auto-decoder: BCE + Dice on sampled occupancies, and L2 on the codes with a linear warm-up."""

from __future__ import annotations

import torch
from monai.losses import DiceLoss
from torch import nn

from .ensemble import inside


class OccupancyLoss(nn.Module):
    """Per-subject BCE and soft Dice (MONAI's DiceLoss on sigmoid logits) over a subject's sampled points."""

    def __init__(self, lambda_bce: float = 1.0, lambda_dice: float = 1.0) -> None:
        super().__init__()
        self.lambda_bce, self.lambda_dice = lambda_bce, lambda_dice
        self.dice = DiceLoss(sigmoid=True, reduction="none")

    def forward(self, logits: torch.Tensor, occupancy: torch.Tensor) -> dict[str, torch.Tensor]:
        """``logits`` ``[B, N, K]`` (one channel per ensemble member) and ``occupancy`` ``[B, N, 1]``; returns
        per-subject ``bce``, ``dice_loss`` and ``total`` ``[B]``, each the mean of the members'."""
        occupancy = occupancy.expand_as(logits)
        bce = nn.functional.binary_cross_entropy_with_logits(logits, occupancy, reduction="none").mean(dim=(1, 2))
        dice = self.dice(logits.transpose(1, 2), occupancy.transpose(1, 2)).reshape(len(logits), -1).mean(dim=1)
        return {"bce": bce, "dice_loss": dice, "total": self.lambda_bce * bce + self.lambda_dice * dice}


def point_dice(logits: torch.Tensor, occupancy: torch.Tensor) -> torch.Tensor:
    """Hard Dice per subject ``[B]`` of the shape the logits describe (``ensemble.inside``) on the sampled points
    (1 when both are empty)."""
    predicted = inside(logits)[..., None]
    target = occupancy > 0.5
    overlap = (predicted & target).sum(dim=(1, 2)).float()
    total = (predicted.sum(dim=(1, 2)) + target.sum(dim=(1, 2))).float()
    return torch.where(total > 0, 2 * overlap / total.clamp_min(1), torch.ones_like(total))


class AutoDecoderLoss(nn.Module):
    """Training loss: mean over subjects of BCE + Dice, plus ``code_weight`` x mean squared norm of their codes.

    The code weight ramps up linearly over ``warmup_epochs`` (``set_epoch`` is called by a handler), as in DeepSDF.
    ``last_parts`` keeps the detached components of the latest call for logging.

    Args:
        lambda_bce, lambda_dice: weights of the BCE and soft Dice terms.
        code_weight: weight of the codes' mean squared norm once warmed up (DeepSDF's code regularisation).
        warmup_epochs: epochs over which that weight ramps up linearly from 0; 0 or less applies it from the start.
    """

    def __init__(
        self, lambda_bce: float = 1.0, lambda_dice: float = 1.0, code_weight: float = 1e-4, warmup_epochs: int = 100
    ) -> None:
        super().__init__()
        self.occupancy = OccupancyLoss(lambda_bce, lambda_dice)
        self.code_weight, self.warmup_epochs = code_weight, warmup_epochs
        self.current_code_weight = 0.0 if warmup_epochs > 0 else code_weight
        self.last_parts: dict[str, float] = {}

    def set_epoch(self, epoch: int) -> None:
        """``epoch`` counts completed epochs (0 during the first one)."""
        ramp = 1.0 if self.warmup_epochs <= 0 else min(1.0, epoch / self.warmup_epochs)
        self.current_code_weight = self.code_weight * ramp

    def forward(self, pred: dict[str, torch.Tensor], occupancy: torch.Tensor) -> torch.Tensor:
        parts = self.occupancy(pred["logits"], occupancy)
        code_norm = pred["codes"].pow(2).sum(dim=1).mean()
        total = parts["total"].mean() + self.current_code_weight * code_norm
        self.last_parts = {
            "loss": float(total.detach()),
            "bce": float(parts["bce"].detach().mean()),
            "dice_loss": float(parts["dice_loss"].detach().mean()),
            "code_norm": float(code_norm.detach()),
            "code_reg": float(self.current_code_weight * code_norm.detach()),
            "point_dice": float(point_dice(pred["logits"].detach(), occupancy).mean()),
        }
        return total
