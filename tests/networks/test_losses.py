"""Losses: per-subject BCE and Dice, hard point Dice, and the code regularisation warm-up."""

from __future__ import annotations

import pytest
import torch

from scripts.networks.losses import AutoDecoderLoss, OccupancyLoss, point_dice


def test_occupancy_loss_is_per_subject_and_rewards_the_truth():
    occupancy = (torch.rand(3, 200, 1) > 0.5).float()
    good = (occupancy * 2 - 1) * 10
    parts = OccupancyLoss()(good, occupancy)
    assert parts["total"].shape == (3,) and torch.all(parts["bce"] < 1e-3) and torch.all(parts["dice_loss"] < 1e-2)
    bad = OccupancyLoss()(-good, occupancy)
    assert torch.all(bad["total"] > 5)


def test_point_dice():
    occupancy = torch.tensor([[[1.0], [1.0], [0.0], [0.0]]])
    assert point_dice(torch.tensor([[[1.0], [-1.0], [1.0], [-1.0]]]), occupancy).item() == pytest.approx(0.5)
    assert point_dice(-torch.ones(1, 4, 1), torch.zeros(1, 4, 1)).item() == 1.0


def test_code_regularisation_warms_up_linearly():
    loss = AutoDecoderLoss(code_weight=1e-2, warmup_epochs=10)
    codes = torch.full((2, 4), 0.5)  # squared norm 1 per subject
    pred = {"logits": torch.zeros(2, 10, 1), "codes": codes}
    occupancy = torch.zeros(2, 10, 1)
    loss.set_epoch(0)
    start = loss(pred, occupancy)
    assert loss.last_parts["code_reg"] == 0.0
    loss.set_epoch(5)
    half = loss(pred, occupancy)
    assert loss.last_parts["code_reg"] == pytest.approx(5e-3)
    loss.set_epoch(50)
    loss(pred, occupancy)
    assert loss.last_parts["code_reg"] == pytest.approx(1e-2)
    assert half.item() == pytest.approx(start.item() + 5e-3)
    assert set(loss.last_parts) == {"loss", "bce", "dice_loss", "code_norm", "code_reg", "point_dice"}
