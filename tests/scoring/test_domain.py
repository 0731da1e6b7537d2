"""A fit outside what the model knows is flagged apart from the anomaly decision, with its reasons."""

from __future__ import annotations

import numpy as np
import torch

from scripts.scoring.domain import KnownRange
from scripts.scoring.reference import HealthyReference


def _rows(rng, count: int) -> list[dict]:
    return [
        {
            "volume_input_ml": float(np.exp(rng.normal(np.log(100.0), 0.15))),
            "fit_loss": float(rng.normal(0.2, 0.02)),
            "latent_distance": float(abs(rng.normal(3.0, 0.5))),
        }
        for _ in range(count)
    ]


def test_a_muscle_far_larger_than_the_healthy_ones_is_flagged_with_its_reason():
    known = KnownRange(level=0.999)
    known.store(_rows(np.random.default_rng(0), 10))
    typical = {"volume_input_ml": 105.0, "fit_loss": 0.21, "latent_distance": 3.2}
    assert known.assess(typical) == {"out_of_distribution": False, "ood_reasons": ""}
    large = dict(typical, volume_input_ml=400.0)
    out = known.assess(large)
    assert out["out_of_distribution"] and out["ood_reasons"].startswith("volume 400 ml above the healthy range")
    small = known.assess(dict(typical, volume_input_ml=25.0))
    assert small["out_of_distribution"] and "below" in small["ood_reasons"]
    badly_fitted = known.assess(dict(typical, fit_loss=0.6, latent_distance=12.0))
    assert "fit loss" in badly_fitted["ood_reasons"] and "latent distance" in badly_fitted["ood_reasons"]
    assert known.assess(dict(typical, fit_loss=0.1))["out_of_distribution"] is False  # a better fit is not unknown


def test_new_healthy_muscles_are_rarely_flagged():
    rng = np.random.default_rng(1)
    known = KnownRange(level=0.999)
    known.store(_rows(rng, 10))
    flagged = np.mean([known.assess(row)["out_of_distribution"] for row in _rows(rng, 3000)])
    assert flagged < 0.02


def test_the_reference_stores_the_known_range_and_a_model_without_one_says_nothing(tmp_path):
    rng = np.random.default_rng(2)
    reference = HealthyReference()
    reference.latent.fit(torch.from_numpy(rng.normal(size=(30, 6))))
    rows = [dict(r, recon_score=0.02, dice=0.98) for r in _rows(rng, 10)]
    reference.calibrate_on(rows, torch.from_numpy(rng.normal(size=(10, 6))), [np.zeros((4, 4))] * 10)
    assert set(reference.domain.healthy) == {"volume", "fit_loss", "latent_distance"}
    state = reference.state_dict()
    torch.save({"reference": state}, tmp_path / "ref.pt")
    loaded = HealthyReference(ood_level=0.99)
    loaded.load_state_dict(torch.load(tmp_path / "ref.pt", weights_only=True)["reference"])
    row = dict(rows[0], volume_input_ml=1000.0)
    out = loaded.assess(row, rng.normal(size=6), np.zeros((4, 4)))
    assert out["out_of_distribution"] and loaded.domain.level == 0.99  # the run's level, the model's range
    older = {k: v for k, v in state.items() if not k.startswith("domain_")}  # a model written before the check
    legacy = HealthyReference()
    legacy.load_state_dict(older)
    assert "out_of_distribution" not in legacy.assess(row, rng.normal(size=6), np.zeros((4, 4)))
