"""The classical twin of a partial-observation fit: a shape model of healthy phantoms fitted to a few slices."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_muscles import draw, shapes

from scripts.study.observed_fit import ObservedShapeFit, in_input_frame
from scripts.study.shape_model import ShapeModel
from scripts.study.twins import fields_of


@pytest.fixture(scope="module")
def fitter() -> ObservedShapeFit:
    healthy = [in_input_frame(*draw(m)) for m in shapes("Y", 8) + shapes("OH", 8)]
    return ObservedShapeFit(ShapeModel().fit(fields_of(healthy)))


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def _slices(mask: np.ndarray, step: int, start: int = 0) -> np.ndarray:
    region = np.zeros_like(mask)
    region[:, :, start::step] = True
    return region


def _planes(mask: np.ndarray, offset_voxels: int) -> np.ndarray:
    centre = np.rint(np.argwhere(mask).mean(axis=0)).astype(int) + offset_voxels
    region = np.zeros_like(mask)
    region[centre[0]], region[:, centre[1]], region[:, :, centre[2]] = True, True, True
    return region


def test_a_new_healthy_muscle_seen_on_every_fourth_slice_is_restored_whole(fitter):
    for muscle in shapes("Y", 2, seed=5):
        mask, affine = draw(muscle)
        region = _slices(mask, 4, start=1)
        fit = fitter.fit(mask & region, region, affine)
        assert fit.restored.shape == mask.shape
        assert _dice(fit.restored, mask) > 0.9
        assert fit.scores()["ssm_observed_recon"] < 0.1


def test_planes_that_miss_the_centre_are_followed_by_the_fitted_shift(fitter):
    mask, affine = draw(shapes("OH", 1, seed=6)[0])
    region = _planes(mask, 3)  # 7.5 mm off the centre of mass on every axis: the observed centre is off too
    fit = fitter.fit(mask & region, region, affine)
    assert np.linalg.norm(fit.shift_mm) > 1.0
    assert _dice(fit.restored, mask) > 0.85


def test_a_muscle_far_from_the_healthy_ones_has_the_larger_code_and_error(fitter):
    healthy, affine = draw(shapes("Y", 1, seed=7)[0])
    region = _slices(healthy, 3)
    normal = fitter.fit(healthy & region, region, affine).scores()
    thinned = healthy & np.roll(healthy, 3, axis=1) & np.roll(healthy, -3, axis=1)  # 7.5 mm less thickness each side
    abnormal = fitter.fit(thinned & region, region, affine).scores()
    assert abnormal["ssm_observed_distance"] > normal["ssm_observed_distance"]
    assert abnormal["ssm_observed_recon"] > normal["ssm_observed_recon"]


def test_an_observation_without_muscle_is_refused(fitter):
    mask, affine = draw(shapes("Y", 1)[0])
    region = np.zeros_like(mask)
    region[:, :, 0] = True
    with pytest.raises(ValueError, match="no muscle voxel"):
        fitter.fit(mask & region, region, affine)
