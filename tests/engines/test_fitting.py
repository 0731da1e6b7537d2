"""Latent fitting with a frozen decoder: recovers a shape, many subjects at once as well as one by one."""

from __future__ import annotations

import pytest
import torch

from scripts.engines.fitting import LatentFitter
from scripts.engines.iterations import AutoDecoderPrepareBatch, FitPrepareBatch, LatentFitInferer
from scripts.networks.auto_decoder import LatentTable
from scripts.networks.decoder import OccupancyDecoder


@pytest.fixture(scope="module")
def problem():
    """A random decoder, 'training' codes, and three subjects whose occupancy a hidden code generates."""
    torch.manual_seed(0)
    decoder = OccupancyDecoder(latent_dim=8, hidden_dim=32)
    train_codes = torch.randn(10, 8) * 0.5
    true_codes = train_codes[:3] + 0.3 * torch.randn(3, 8)
    points = torch.rand(3, 3000, 3) * 2 - 1
    with torch.no_grad():
        occupancy = (decoder.decode_points(true_codes, points) > 0).float()
    return decoder, train_codes, points, occupancy


def test_fitting_recovers_the_occupancy_and_leaves_the_decoder_alone(problem):
    decoder, train_codes, points, occupancy = problem
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    result = LatentFitter(iterations=150, lr=0.05, points_per_iteration=1000).fit(
        decoder, points, occupancy, train_codes
    )
    assert result["code"].shape == (3, 8) and torch.all(result["fit_point_dice"] > 0.9)
    for name, value in decoder.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert all(p.requires_grad for p in decoder.parameters())


def test_batched_fitting_equals_one_subject_at_a_time(problem):
    decoder, train_codes, points, occupancy = problem
    fitter = LatentFitter(iterations=30, lr=0.05, points_per_iteration=500, patience=1000)
    together = fitter.fit(decoder, points, occupancy, train_codes)["code"]
    alone = torch.cat(
        [fitter.fit(decoder, points[i : i + 1], occupancy[i : i + 1], train_codes)["code"] for i in range(3)]
    )
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_restarts_keep_the_best_fit_and_report_stability(problem):
    decoder, train_codes, points, occupancy = problem
    single = LatentFitter(iterations=40, lr=0.05, points_per_iteration=500).fit(decoder, points, occupancy, train_codes)
    multi = LatentFitter(iterations=40, lr=0.05, points_per_iteration=500, restarts=3).fit(
        decoder, points, occupancy, train_codes
    )
    assert torch.all(multi["fit_loss"] <= single["fit_loss"] + 1e-6)
    assert torch.all(multi["fit_stability"] >= 0) and torch.all(single["fit_stability"] == 0)


def test_early_stopping_ends_a_converged_fit(problem):
    decoder, train_codes, points, occupancy = problem
    result = LatentFitter(iterations=2000, lr=0.05, points_per_iteration=500, patience=20).fit(
        decoder, points, occupancy, train_codes
    )
    assert 20 <= int(result["fit_iterations"][0]) < 2000


def test_inferer_fits_under_no_grad_as_the_evaluator_calls_it(problem):
    decoder, _, points, occupancy = problem
    table = LatentTable(10, latent_dim=8)
    inferer = LatentFitInferer(LatentFitter(iterations=5, points_per_iteration=100), table)
    with torch.no_grad():
        result = inferer(points, decoder, occupancy=occupancy)
    assert result["code"].shape == (3, 8)
    with pytest.raises(ValueError, match="occupancy"):
        inferer(points, decoder)


def test_prepare_batch_hands_the_engines_what_they_need():
    batch = {
        "points": torch.zeros(2, 5, 3),
        "occupancy": torch.ones(2, 5, 1),
        "case_index": [3, 1],
        "label": torch.zeros(2, 1, 4, 4, 4),
    }
    inputs, targets, args, kwargs = AutoDecoderPrepareBatch()(batch, torch.device("cpu"))
    assert inputs.shape == (2, 5, 3) and targets.shape == (2, 5, 1) and kwargs["case_index"].tolist() == [3, 1]
    inputs, label, args, kwargs = FitPrepareBatch()(batch, torch.device("cpu"))
    assert label is batch["label"] and torch.equal(kwargs["occupancy"], batch["occupancy"])


class Ellipsoids(torch.nn.Module):
    """A decoder whose code sets the radii of an ellipsoid centred on the origin: a shape a shift cannot imitate."""

    def __init__(self) -> None:
        super().__init__()
        self.sharpness = torch.nn.Parameter(torch.tensor(30.0))

    def decode_points(self, codes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        radii = 0.35 + 0.15 * torch.tanh(codes[:, None, :3])
        return (self.sharpness * (1 - ((points / radii) ** 2).sum(-1)))[..., None]


def test_a_fitted_translation_finds_a_shape_whose_points_are_off_centre():
    torch.manual_seed(0)
    decoder, train_codes = Ellipsoids(), torch.randn(10, 3) * 0.3
    points = torch.rand(2, 4000, 3) * 2 - 1
    shifts = torch.tensor([[0.12, -0.08, 0.05], [0.0, 0.1, -0.1]])
    with torch.no_grad():
        occupancy = (decoder.decode_points(torch.tensor([[0.5, -0.3, 0.2]] * 2), points + shifts[:, None]) > 0).float()
    fit = {"iterations": 150, "lr": 0.05, "points_per_iteration": 1000, "prior_weight": 0.0}
    centred = LatentFitter(**fit).fit(decoder, points, occupancy, train_codes)
    moved = LatentFitter(**fit, translation=True).fit(decoder, points, occupancy, train_codes)
    assert "translation" not in centred
    torch.testing.assert_close(moved["translation"], shifts, atol=0.02, rtol=0)
    assert torch.all(moved["fit_point_dice"] > 0.97) and torch.all(centred["fit_point_dice"] < 0.8)
