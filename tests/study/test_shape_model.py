"""The signed-distance shape model: alignment in the principal frame, probabilistic PCA, restored shapes."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_muscles import draw, shapes, subjects
from scipy.stats import multivariate_normal

from scripts.study.shape_model import BAND_MM, ShapeModel, SubjectShape
from scripts.study.twins import TwinScorer


@pytest.fixture(scope="module")
def healthy() -> list[SubjectShape]:
    return subjects(shapes("Y", 6) + shapes("OH", 6))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


@pytest.mark.parametrize("count, dimension", [(10, 24), (40, 6)])
def test_noise_variance_is_the_mean_of_the_discarded_eigenvalues(count, dimension):
    """Tipping & Bishop's maximum-likelihood noise: the mean of all D - q discarded eigenvalues of the sample
    covariance, the zero ones beyond the sample's rank included; the kept ones are the leading eigenvalues."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(count, dimension)) * np.linspace(3.0, 0.2, dimension)
    model = ShapeModel(variance=0.8).fit(data)
    eigen = np.clip(np.linalg.eigvalsh(np.cov(data.T))[::-1], 0.0, None)
    q = model.kept
    assert 0 < q < min(count - 1, dimension)
    assert eigen[: q - 1].sum() / eigen.sum() < 0.8 <= eigen[:q].sum() / eigen.sum()
    np.testing.assert_allclose(model.eigenvalues, eigen[:q], rtol=1e-4)
    assert model.noise_variance == pytest.approx(eigen[q:].mean(), rel=1e-4)
    np.testing.assert_allclose(model.components @ model.components.T, np.eye(q), atol=1e-4)


def test_the_negative_log_likelihood_is_that_of_the_ppca_gaussian():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(30, 8)) * np.linspace(2.0, 0.3, 8)
    model = ShapeModel(variance=0.7).fit(data)
    scale = model.eigenvalues - model.noise_variance  # W W^T = U (L - s2) U^T
    covariance = (model.components.T * scale) @ model.components + model.noise_variance * np.eye(8)
    new = rng.normal(size=(5, 8))
    expected = -multivariate_normal(model.mean, covariance).logpdf(new)
    np.testing.assert_allclose(model.score(new)["nll"], expected, rtol=1e-4)


def test_a_refit_from_shared_inner_products_is_the_fit_itself(healthy):
    """Leave-one-out refits reuse the inner products of all fields (shifted by their common mean)."""
    fields = np.stack([s.sdf for s in healthy])
    flat = fields.reshape(len(fields), -1).astype(np.float64)
    shifted = flat - flat.mean(axis=0)
    others = list(range(1, len(fields)))
    direct = ShapeModel().fit(fields[others])
    shared = ShapeModel().fit(fields[others], (shifted @ shifted.T)[np.ix_(others, others)])
    assert shared.kept == direct.kept and shared.noise_variance == pytest.approx(direct.noise_variance, rel=1e-4)
    np.testing.assert_allclose(shared.reconstruct(fields[:1]), direct.reconstruct(fields[:1]), atol=1e-3)


def test_a_rotated_moved_reoriented_copy_gives_the_same_aligned_field_and_scores(healthy):
    """Principal axes with the frame's sign convention undo the pose: a copy rotated by up to 25 degrees, moved by a
    non-integer number of voxels and stored in another axis order gives the same field (within the rasterisation's
    noise, far below another subject's difference) and the same scores."""
    muscle, another = shapes("Y", 2, start=20)
    original = SubjectShape.of_mask(*draw(muscle))
    posed = draw(
        muscle, rotation=(20.0, -15.0, 25.0), centre=(30.0, -12.0, 55.0), offset=(0.9, 0.4, 1.3), axcodes="LPI"
    )
    copy, other = SubjectShape.of_mask(*posed), SubjectShape.of_mask(*draw(another))
    near = np.abs(original.sdf) < BAND_MM
    moved = np.abs(copy.sdf - original.sdf)[near].mean()
    assert moved < 0.5 < np.abs(other.sdf - original.sdf)[near].mean() > 2 * moved
    scorer = TwinScorer().fit(healthy)
    before, after = scorer.score(original), scorer.score(copy)
    for name in ("sdf_mahalanobis", "sdf_surface_rms_mm"):
        assert after[name] == pytest.approx(before[name], rel=0.1), name
    for name in ("twin_flattening", "twin_ssm_flattening", "twin_ssm_atrophy", "twin_combined"):
        assert after[name] == pytest.approx(before[name], abs=0.3), name


def test_a_field_restores_its_own_mask(healthy):
    subject = healthy[0]
    assert _dice(subject.restore(subject.sdf), subject.mask) > 0.95


def test_training_shapes_are_reconstructed_better_than_shapes_outside_the_training_distribution(healthy):
    """A sarcopenic muscle (flatter, dented, thinner distally) is further from the healthy subspace than the healthy
    shapes it was fitted on: larger residual and likelihood, a restored shape further from the input."""
    model = ShapeModel().fit(np.stack([s.sdf for s in healthy]))
    unseen = subjects(shapes("OS", 3))
    seen, outside = (model.score(np.stack([s.sdf for s in group])) for group in (healthy[:3], unseen))
    for name in ("residual", "nll", "surface_rms_mm"):
        assert seen[name].max() < outside[name].min(), name

    def restored_dice(subject: SubjectShape) -> float:
        return _dice(subject.restore(model.reconstruct(subject.sdf[None])[0]), subject.mask)

    assert min(restored_dice(s) for s in healthy[:3]) > max(restored_dice(s) for s in unseen)
