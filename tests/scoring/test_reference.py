"""Metrics in millimetres on the input's grid, and calibration against the healthy reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import t

from scripts.scoring.metrics import reconstruction_metrics
from scripts.scoring.reference import HealthyReference


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


def _rows(rng, n, **shift):
    base = {
        "recon_score": rng.normal(0.02, 0.005, n),
        "hd95_mm": np.ones(n),  # every healthy subject at one voxel: no spread
        "asd_mm": rng.normal(0.2, 0.02, n),
        "extra_fraction": rng.normal(0.01, 0.003, n),
        "missing_fraction": rng.normal(0.01, 0.003, n),
        "inward_depth_mm": rng.normal(1.0, 0.2, n),
    }
    return [{k: float(v[i] + shift.get(k, 0.0)) for k, v in base.items()} for i in range(n)]


@pytest.fixture
def reference():
    rng = np.random.default_rng(0)
    ref = HealthyReference(level=0.95, voxel_mm=1.0)
    ref.latent.fit(torch.from_numpy(rng.normal(size=(30, 8))))
    codes = torch.from_numpy(rng.normal(size=(12, 8)))
    maps = [rng.normal(0.0, 0.3, (16, 12)) for _ in range(12)]
    ref.calibrate_on(_rows(rng, 12), codes, maps)
    return ref


def test_latent_distance_grows_away_from_the_healthy_fitted_codes(reference):
    """Measured along the training codes' principal axes, from where healthy subjects' fitted codes lie."""
    latent = reference.latent
    axes = latent.axes.numpy()
    typical = latent.mean.numpy() + latent.fit_centre.numpy() @ axes
    away = typical + 4.0 * latent.fit_scale.numpy()[0] * axes[0]
    near, far = latent.distance(np.stack([typical, away]))
    assert near == pytest.approx(0.0, abs=1e-9) and far == pytest.approx(4.0)


def test_assessment_flags_only_scores_beyond_the_healthy_range(reference):
    rng = np.random.default_rng(1)
    code = reference.latent.mean.numpy() + reference.latent.fit_centre.numpy() @ reference.latent.axes.numpy()
    typical = _rows(rng, 1)[0]
    out = reference.assess(typical, code, np.zeros((16, 12)))
    assert not any(out[f"{n}_abnormal"] for n in ("recon_score", "latent_distance", "normative_score", "combined"))
    assert out["reference_subjects"] == 12 and out["normative_score"] == 0.0
    atypical = dict(typical, recon_score=0.08, extra_fraction=0.05)
    dented = np.zeros((16, 12))
    dented[7:9, 3:5] = -3.0  # 3 mm inward where healthy surfaces vary by 0.3 mm
    out = reference.assess(atypical, code + 10.0 * reference.latent.axes.numpy()[0], dented)
    assert out["recon_score_abnormal"] and out["latent_distance_abnormal"] and out["combined_abnormal"]
    assert out["normative_score"] > 10 and out["normative_score_abnormal"]
    assert out["recon_score_percentile"] == 100.0
    thresholds = reference.describe()["thresholds"]
    predictive = t.ppf(0.95, 11) * np.sqrt(1 + 1 / 12)  # 12 healthy subjects: Student's t, not the normal 1.645
    assert reference.describe()["z_threshold"] == pytest.approx(predictive)
    assert thresholds["recon_score"] == pytest.approx(
        reference.scores.healthy["recon_score"].mean().item()
        + predictive * reference.scores.healthy["recon_score"].std().item(),
        rel=1e-3,
    )


def test_a_score_without_healthy_spread_gives_finite_z_scores(reference):
    """HD95 is one voxel for every healthy subject: its scale is floored at a quarter voxel, not at 1e-12."""
    code = reference.latent.mean.numpy()
    row = dict(_rows(np.random.default_rng(2), 1)[0], hd95_mm=2.0)
    out = reference.assess(row, code, np.zeros((16, 12)))
    assert out["hd95_mm_z"] == pytest.approx(4.0)
    assert all(np.isfinite(v) for k, v in out.items() if k.endswith("_z"))


def test_decisions_hold_the_stated_level_on_healthy_subjects():
    """With 40 healthy reference subjects, new healthy subjects are called abnormal about 5% of the time."""
    rng = np.random.default_rng(3)
    ref = HealthyReference(level=0.95)
    ref.latent.fit(torch.from_numpy(rng.normal(size=(60, 6))))
    ref.calibrate_on(_rows(rng, 40), torch.from_numpy(rng.normal(size=(40, 6))), [np.zeros((4, 4))] * 40)
    fresh = _rows(rng, 2000)
    calls = [ref.assess(r, rng.normal(size=6), np.zeros((4, 4)))["recon_score_abnormal"] for r in fresh]
    assert 0.02 < np.mean(calls) < 0.10  # the level, within the sampling error of 40 reference subjects


def test_reference_survives_a_safe_checkpoint_round_trip(tmp_path, reference):
    torch.save({"reference": reference.state_dict()}, tmp_path / "ref.pt")
    loaded = HealthyReference()
    loaded.load_state_dict(torch.load(tmp_path / "ref.pt", weights_only=True)["reference"])
    sample = dict(_rows(np.random.default_rng(4), 1)[0])
    code, field = reference.latent.mean.numpy() + 0.1, np.full((16, 12), -0.5)
    assert loaded.assess(sample, code, field) == reference.assess(sample, code, field) and loaded.level == 0.95
    with pytest.raises(KeyError, match="lacks"):
        HealthyReference().load_state_dict({"level": 0.9})
    assert HealthyReference().assess(sample, code) == {}  # an uncalibrated reference decides nothing


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_reference_loaded_onto_a_gpu_scores_on_the_cpu(tmp_path, reference):
    """Checkpoints are loaded with ``map_location=device``: a reference restored on CUDA must still score."""
    torch.save({"reference": reference.state_dict()}, tmp_path / "ref.pt")
    loaded = HealthyReference()
    loaded.load_state_dict(torch.load(tmp_path / "ref.pt", map_location="cuda", weights_only=True)["reference"])
    sample = dict(_rows(np.random.default_rng(5), 1)[0])
    code, field = reference.latent.mean.numpy() + 0.1, np.full((16, 12), -0.5)
    assert loaded.assess(sample, code, field) == reference.assess(sample, code, field)


def _ellipsoid_subject(rng, change: str = "", depth_mm: float = 3.5):
    """A normal shape (the reconstruction) and an input that departs from it by a little healthy noise and, with
    ``change``, a local dent (tissue missing) or bump (extra tissue) on its anterior surface."""
    from scripts.scoring.deviation import ShapeFrame, SurfaceDeviation, vertex_deviation

    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in (44, 36, 76)], indexing="ij"), axis=-1)
    centre, radii = np.array([22.0, 18.0, 38.0]), np.array([13.0, 9.0, 30.0]) * (1 + rng.normal(0, 0.03, 3))
    normal = (((grid - centre) / radii) ** 2).sum(axis=-1) <= 1
    observed = (((grid - centre) / (radii * (1 + rng.normal(0, 0.01, 3)))) ** 2).sum(axis=-1) <= 1
    spot = centre + np.array([0.0, radii[1], 4.0])  # on the anterior surface, near mid-length
    near_spot = np.linalg.norm(grid - spot, axis=-1)
    if change == "dent":
        observed &= near_spot > depth_mm  # a spherical scoop, depth_mm deep at its centre
    elif change == "bump":
        observed |= near_spot <= depth_mm
    surface, deviation = vertex_deviation(observed, normal, np.eye(4), smooth_mm=1.0)
    return SurfaceDeviation(surface, deviation, ShapeFrame.of_mask(normal, np.eye(4))).map()


def test_regional_atrophy_counts_a_dent_and_not_a_bump():
    """Only tissue missing from the normal shape counts, and only where healthy surfaces do not vary that much."""
    rng = np.random.default_rng(5)
    reference = HealthyReference(level=0.95, voxel_mm=1.0)
    reference.latent.fit(torch.from_numpy(rng.normal(size=(30, 8))))
    maps = [_ellipsoid_subject(rng) for _ in range(8)]
    reference.calibrate_on(_rows(rng, 8), torch.from_numpy(rng.normal(size=(8, 8))), maps)
    code, row = reference.latent.mean.numpy(), _rows(rng, 1)[0]
    healthy, dent, bump = (reference.assess(row, code, _ellipsoid_subject(rng, c)) for c in ("", "dent", "bump"))
    assert dent["regional_atrophy_abnormal"] and not healthy["regional_atrophy_abnormal"]
    assert not bump["regional_atrophy_abnormal"] and bump["regional_atrophy"] < healthy["regional_atrophy"]
    assert dent["normative_score"] > 0 == bump["normative_score"]


def test_a_reference_calibrated_with_coarser_maps_scores_maps_of_its_own_cells(reference):
    """Models calibrated before 0.5.0 hold 16 x 12 deviation maps: a subject's map is made with the reference's cells,
    and a reference without flattening profiles simply does not give that score."""
    from scripts.scoring.deviation import ShapeFrame, SurfaceDeviation, vertex_deviation

    assert reference.map_bins == (16, 12) and not reference.flattening.ready
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in (30, 24, 50)], indexing="ij"), axis=-1)
    normal = (((grid - [15.0, 12.0, 25.0]) / [9.0, 6.0, 20.0]) ** 2).sum(axis=-1) <= 1
    surface, deviation = vertex_deviation(normal, normal, np.eye(4))
    mapped = SurfaceDeviation(surface, deviation, ShapeFrame.of_mask(normal, np.eye(4))).map(reference.map_bins)
    row = _rows(np.random.default_rng(6), 1)[0]
    out = reference.assess(row, reference.latent.mean.numpy(), mapped, np.zeros(16))
    assert "regional_atrophy_z" in out and "regional_flattening" not in out
