"""Whether bfloat16 pays: measured on the CPU, never chosen on CUDA, and the demo follows the measurement."""

from __future__ import annotations

import logging

import pytest

from scripts import precision


def test_the_speedup_is_measured_on_this_cpu():
    assert precision.bf16_speedup(repeats=1) > 0


@pytest.mark.parametrize("speedup, chosen", [(2.6, True), (1.5, True), (1.2, False), (0.4, False)])
def test_bfloat16_is_chosen_on_a_cpu_only_where_it_is_measured_clearly_faster(monkeypatch, caplog, speedup, chosen):
    monkeypatch.setattr(precision, "bf16_speedup", lambda repeats=5: speedup)
    with caplog.at_level(logging.INFO, logger="scripts.precision"):
        assert precision.bf16_pays("cpu") is chosen
    assert f"{speedup:.1f}x as fast" in caplog.text and ("bfloat16" if chosen else "float32") in caplog.text


def test_bfloat16_is_never_chosen_on_cuda(monkeypatch):
    monkeypatch.setattr(precision, "bf16_speedup", lambda repeats=5: pytest.fail("CUDA is not measured on the CPU"))
    assert precision.bf16_pays("cuda:0") is False
