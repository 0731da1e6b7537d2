"""Metrics in millimetres on the input's grid, and calibration against the healthy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scripts.scoring import HealthyReference, reconstruction_metrics


def _cube(shape=(20, 20, 20), low=5, high=15, shift=0):
    mask = torch.zeros(shape, dtype=torch.uint8)
    mask[low + shift : high + shift, low:high, low:high] = 1
    return mask


def test_identical_masks_score_perfectly():
    metrics = reconstruction_metrics(_cube(), _cube(), np.diag([1.0, 1.0, 2.0, 1.0]))
    assert metrics["dice"] == 1.0 and metrics["hd95_mm"] == 0.0 and metrics["asd_mm"] == 0.0
    assert metrics["volume_input_ml"] == pytest.approx(10 * 10 * 10 * 2 / 1000)
    assert metrics["volume_error_ml"] == 0.0 and metrics["volume_error_pct"] == 0.0


def test_distances_use_the_real_spacing():
    shifted = _cube(shift=2)  # two voxels along the first axis
    isotropic = reconstruction_metrics(_cube(), shifted, np.diag([1.0, 1.0, 1.0, 1.0]))
    stretched = reconstruction_metrics(_cube(), shifted, np.diag([3.0, 1.0, 1.0, 1.0]))
    assert isotropic["dice"] == pytest.approx(0.8)
    assert isotropic["hausdorff_mm"] == pytest.approx(2.0) and stretched["hausdorff_mm"] == pytest.approx(6.0)
    assert stretched["volume_input_ml"] == pytest.approx(3 * isotropic["volume_input_ml"])


def test_empty_reconstruction_is_as_bad_as_it_gets():
    metrics = reconstruction_metrics(_cube(), torch.zeros(20, 20, 20, dtype=torch.uint8), np.eye(4))
    assert metrics["dice"] == 0.0 and metrics["hd95_mm"] == float("inf")
    assert metrics["volume_error_pct"] == pytest.approx(-100.0)


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    ref = HealthyReference(level=0.95)
    ref.fit_latent(torch.from_numpy(rng.normal(size=(30, 8))))
    healthy = {
        "recon_score": rng.normal(0.02, 0.005, 12),
        "hd95_mm": rng.normal(1.0, 0.1, 12),
        "asd_mm": rng.normal(0.2, 0.02, 12),
        "latent_distance": rng.normal(3.0, 0.3, 12),
    }
    ref.calibrate(healthy)
    return ref


def test_latent_distance_grows_away_from_the_healthy_codes(reference):
    centre = reference.latent_mean.numpy()
    near, far = reference.latent_distance(np.stack([centre, centre + 3.0]))
    assert near == pytest.approx(0.0, abs=1e-9) and far > 3.0


def test_assessment_flags_only_scores_beyond_the_healthy_range(reference):
    typical = {"recon_score": 0.02, "hd95_mm": 1.0, "asd_mm": 0.2, "latent_distance": 3.0}
    out = reference.assess(typical)
    assert not any(out[f"{n}_abnormal"] for n in ("recon_score", "latent_distance", "combined"))
    assert 20 < out["recon_score_percentile"] < 80 and abs(out["recon_score_z"]) < 1
    atypical = dict(typical, recon_score=0.08, latent_distance=6.0)
    out = reference.assess(atypical)
    assert out["recon_score_abnormal"] and out["latent_distance_abnormal"] and out["combined_abnormal"]
    assert out["recon_score_percentile"] == 100.0
    thresholds = reference.thresholds()
    assert thresholds["recon_score"] == pytest.approx(
        reference.healthy["recon_score"].mean().item() + 1.6449 * reference.healthy["recon_score"].std().item(),
        rel=1e-3,
    )


def test_reference_survives_a_safe_checkpoint_round_trip(tmp_path, reference):
    torch.save({"reference": reference.state_dict()}, tmp_path / "ref.pt")
    loaded = HealthyReference()
    loaded.load_state_dict(torch.load(tmp_path / "ref.pt", weights_only=True)["reference"])
    sample = {"recon_score": 0.05, "hd95_mm": 1.2, "asd_mm": 0.3, "latent_distance": 4.0}
    assert loaded.assess(sample) == reference.assess(sample) and loaded.level == 0.95
    with pytest.raises(KeyError, match="lacks"):
        HealthyReference().load_state_dict({"level": 0.9})
    assert HealthyReference().assess(sample) == {}  # an uncalibrated reference decides nothing
