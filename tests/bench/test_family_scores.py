"""The comparison code behind ``bench/families.py``: the decision score chosen leaving each family out, and the figures
per family, on tables whose answer is planted."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))  # the benchmarks import their siblings by name
family_scores = pytest.importorskip("family_scores")
families = pytest.importorskip("families")


def _table(separating: str, rng: np.random.Generator, n: int = 60) -> pd.DataFrame:
    """Healthy and sarcopenic subjects where only ``separating`` (a calibrated INR score) tells them apart."""
    positive = np.repeat([0, 1], n)
    table = pd.DataFrame({"positive": positive, "id": [f"s{i}" for i in range(2 * n)]})
    for name in family_scores.MEMBERS:
        table[name] = rng.normal(size=2 * n) + (2.5 * positive if name == separating else 0.0)
    for name in family_scores.INR_FREE + ("axis_score", "ssm_axis_score"):
        table[name] = rng.normal(size=2 * n) + (0.8 * positive if name == "twin_combined" else 0.0)
    table["combined_z"] = table["regional_atrophy_z"]
    return table


def test_the_choice_never_sees_the_family_it_is_reported_on():
    """Family A is separated by atrophy only, B and C by latent distance only: left out, A is judged by a score chosen
    on B and C (latent distance, which knows nothing of A), B and C by a score that must also serve A (both)."""
    rng = np.random.default_rng(0)
    plant = {"A": "regional_atrophy_z", "B": "latent_distance_z", "C": "latent_distance_z"}
    tuning = {f: _table(s, rng) for f, s in plant.items()}
    held_out = {f: _table(s, rng) for f, s in plant.items()}
    choice = family_scores.leave_one_family_out(tuning, held_out)
    assert "latent_distance" in choice["A"]["chosen"].split("+") and choice["A"]["auc"] < 0.75
    for family in ("B", "C"):
        assert {"latent_distance", "regional_atrophy"} <= set(choice[family]["chosen"].split("+"))
        assert 0.8 < choice[family]["auc"] < 0.95  # diluted by the member that serves A
    assert choice["A"]["best_inr_free"] == "twin_combined" and choice["A"]["difference"] < 0
    overall = choice["chosen_on_all_tuning_families"]
    assert "latent_distance" in overall["candidate"] and set(overall["held_out"]) == set(plant)


def test_family_figures_compare_each_score_with_its_twin_and_the_summary_keeps_them():
    rng = np.random.default_rng(1)
    table = _table("regional_atrophy_z", rng)
    figures = family_scores.family_figures(table)
    assert figures["scores"]["regional_atrophy_z"] > 0.9 > 0.75 > figures["scores"]["latent_distance_z"]
    versus = figures["versus"]["regional_atrophy_vs_twin_ssm_atrophy"]
    assert versus["difference"] > 0.3 and versus["p_value"] < 1e-6
    assert figures["versus"]["combined_vs_best_inr_free"]["best"] == "twin_combined"
    run = {"results": {"mild_seed1": {"role": "held_out", "A": figures}}, "families": ["A"]}
    run.update(bundle_version="x", conditions={}, seeds={}, decision_choice={})
    summary = families.card_summary(run)["results"]["mild_seed1"]["A"]
    assert summary["auc"]["combined_z"] == pytest.approx(figures["scores"]["combined_z"], abs=1e-3)
    low, high = summary["combined_ci"]
    assert low <= summary["auc"]["combined_z"] <= high


def test_a_summary_grows_run_by_run_and_keeps_what_each_piece_was_measured_with():
    def piece(version: str, key: str, family: str, auc: float) -> dict:
        return {
            "bundle_version": version,
            "conditions": {key.split("_seed")[0]: {"strength": 0.4}},
            "seeds": {"held_out": [int(key.split("_seed")[1])]},
            "families": [family],
            "decision_choice": {},
            "results": {key: {"role": "held_out", family: {"auc": {"combined_z": auc}}}},
        }

    first = families.merged_summary(None, piece("0.7.0", "mild_seed22", "A", 0.9))
    grown = families.merged_summary(first, piece("0.8.1", "mild_seed22", "B", 0.6))
    grown = families.merged_summary(grown, piece("0.8.1", "mild_seed23", "A", 0.7))
    assert grown["families"] == ["A", "B"] and grown["seeds"]["held_out"] == [22, 23]
    assert grown["bundle_version"] == "0.7.0" and "measured_with" not in grown["results"]["mild_seed22"]["A"]
    assert grown["results"]["mild_seed22"]["B"] == {"auc": {"combined_z": 0.6}, "measured_with": "0.8.1"}
    assert grown["results"]["mild_seed23"]["A"]["auc"]["combined_z"] == 0.7
    assert first["families"] == ["A"]  # the earlier summary is not changed in place
