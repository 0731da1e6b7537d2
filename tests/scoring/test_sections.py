"""Flattening section by section along the long axis, against the restored normal shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scripts.scoring.deviation import ShapeFrame
from scripts.scoring.reference import HealthyReference
from scripts.scoring.sections import SECTIONS, flattening_profile, section_aspects


def _spindle(radii, shape=(44, 36, 80), centre=(22.0, 18.0, 40.0)):
    """An ellipsoid with half-axes ``radii`` (width along the first axis, thickness along the second, length)."""
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), axis=-1)
    return (((grid - np.asarray(centre)) / np.asarray(radii, dtype=float)) ** 2).sum(axis=-1) <= 1


def test_section_aspect_is_the_log_ratio_of_thickness_to_width():
    mask = _spindle((14.0, 7.0, 34.0))
    frame = ShapeFrame.of_mask(mask, np.eye(4))
    aspects = section_aspects(mask, np.eye(4), frame)
    assert aspects.shape == (SECTIONS,)
    middle = aspects[SECTIONS // 4 : 3 * SECTIONS // 4]
    assert np.all(np.abs(middle - np.log(0.5)) < 0.08)  # every full section: half as thick as wide
    tiny = np.zeros_like(mask)
    tiny[20:22, 17:19, 40] = True
    assert np.isnan(section_aspects(tiny, np.eye(4), frame)).sum() == SECTIONS  # too few voxels anywhere


def test_regional_flattening_counts_a_flatter_muscle_and_not_a_rounder_one():
    """Against healthy muscles reconstructed within a few percent, only an input flatter than its normal shape is
    abnormal; one that is rounder (thicker than its normal shape) is not."""
    rng = np.random.default_rng(0)

    def subject(thickness_change: float = 0.0):
        radii = np.array([13.0, 9.0, 34.0]) * (1 + rng.normal(0, 0.03, 3))
        normal = _spindle(radii)
        observed = _spindle(radii * (1 + np.array([0.0, thickness_change, 0.0]) + rng.normal(0, 0.01, 3)))
        return flattening_profile(observed, normal, np.eye(4), ShapeFrame.of_mask(normal, np.eye(4)))

    rows = [{"recon_score": float(v)} for v in rng.normal(0.02, 0.005, 10)]
    reference = HealthyReference(level=0.95)
    reference.latent.fit(torch.from_numpy(rng.normal(size=(30, 4))))
    reference.calibrate_on(
        rows, torch.from_numpy(rng.normal(size=(10, 4))), [np.zeros((4, 4))] * 10, [subject() for _ in range(10)]
    )
    code = reference.latent.mean.numpy()
    flatter, rounder = (reference.assess(rows[0], code, np.zeros((4, 4)), subject(c)) for c in (-0.15, 0.15))
    assert flatter["regional_flattening_abnormal"] and flatter["regional_flattening_z"] > 3
    assert not rounder["regional_flattening_abnormal"]
    assert rounder["regional_flattening"] < flatter["regional_flattening"]
    assert reference.flattening.mean.shape == (SECTIONS,) and "profile_mean" in reference.state_dict()


@pytest.mark.parametrize("spacing", [1.0, 2.0])
def test_the_profile_does_not_depend_on_the_voxel_size(spacing):
    """The same shape on a coarser grid gives about the same profile (world coordinates, not voxels)."""
    affine = np.diag([spacing, spacing, spacing, 1.0])
    scale = 1.0 / spacing
    normal = _spindle(np.array([13.0, 9.0, 34.0]) * scale, centre=np.array([22.0, 18.0, 40.0]) * scale)
    flat = _spindle(np.array([13.0, 7.5, 34.0]) * scale, centre=np.array([22.0, 18.0, 40.0]) * scale)
    profile = flattening_profile(flat, normal, affine, ShapeFrame.of_mask(normal, affine))
    assert np.nanmedian(profile) == pytest.approx(np.log(7.5 / 9.0), abs=0.05)
