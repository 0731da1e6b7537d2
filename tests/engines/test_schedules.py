"""The learning-rate schedule: a half cosine from the full rate down to the final fraction, then flat."""

from __future__ import annotations

import math

import pytest
from conftest import bundle_config

from scripts.engines.schedules import CosineToFraction


def test_the_schedule_falls_by_half_a_cosine_and_stays():
    schedule = CosineToFraction(0.05, 100)
    assert schedule(0) == 1.0 and schedule(100) == pytest.approx(0.05) and schedule(250) == pytest.approx(0.05)
    assert schedule(50) == pytest.approx(0.05 + 0.95 * 0.5)
    assert schedule(25) == pytest.approx(0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi / 4)))
    with pytest.raises(ValueError, match="over 0 epochs"):
        CosineToFraction(0.05, 0)


def test_training_steps_its_learning_rates_by_the_schedule(tiny_cohort):
    parser = bundle_config(
        "train.json", dataset_dir=str(tiny_cohort), epochs=10, lr_final_fraction=0.1, lr_decoder=0.001
    )
    scheduler = parser.get_parsed_content("lr_scheduler")
    rates = []
    for _ in range(12):
        rates.append(scheduler.get_last_lr()[0])
        scheduler.optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.001) and rates[10] == pytest.approx(0.0001) and rates[11] == rates[10]
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))
