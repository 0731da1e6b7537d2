"""The deformed-template healthy model: one template, scaled and warped by a smooth random field, varies in another
form than the parametric spindle; the disease families act on it as on the spindle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SPACING, load_datalist

from scripts.synthetic import healthy, phantoms
from scripts.synthetic.cohort import generate_cohort
from scripts.synthetic.grids import rotation_matrix


def _template(group: str, index: int, **kwargs) -> phantoms.MuscleShape:
    rng = np.random.default_rng([0, phantoms.GROUPS.index(group), index])
    return phantoms.sample_shape(group, rng, healthy_model="deformed_template", **kwargs)


def _mask(shape: phantoms.MuscleShape, like: phantoms.MuscleShape | None = None) -> np.ndarray:
    grid, _ = phantoms.world_grid(like or shape, TINY_SPACING)
    return phantoms.inside(shape, grid)


def _proportions(shape: phantoms.MuscleShape) -> tuple[float, float]:
    """Thickness over width and width over length of the muscle, from the spread of its voxels."""
    spread = np.argwhere(_mask(shape)).std(axis=0)
    return spread[1] / spread[0], spread[0] / spread[2]


def test_templates_differ_by_a_global_scale_and_a_smooth_field_of_a_few_mm():
    shapes = [_template("Y", i) for i in range(8)]
    assert shapes[0].to_dict() == _template("Y", 0).to_dict()  # seeded
    ratios = np.array([(s.width / s.length, s.thickness / s.length) for s in shapes])
    assert np.allclose(ratios, ratios[0])  # no independent size draws: one template, scaled as a whole
    assert len({s.length for s in shapes}) == 8 and all(not s.perturbation and s.twist_deg == 0 for s in shapes)
    for shape in shapes:
        grid, _ = phantoms.world_grid(shape, TINY_SPACING)
        local = grid[phantoms.inside(shape, grid)] @ rotation_matrix(shape.rotation_deg)
        field = healthy.displacement(shape, local)
        rms = np.sqrt(((field - field.mean(axis=0)) ** 2).sum(axis=-1).mean())  # beyond a shift of the whole muscle
        assert 1.0 < rms < 7.0  # a few mm
    # the field changes the muscle's form, not only its size: the proportions of the warped muscles vary more than
    # those of their plain templates (which vary only by the pose and the voxels)
    warped = np.array([_proportions(s) for s in shapes])
    plain = np.array([_proportions(dataclasses.replace(s, displacement=[])) for s in shapes])
    assert np.all(warped.std(axis=0) / warped.mean(axis=0) > 1.5 * plain.std(axis=0) / plain.mean(axis=0))


def test_template_model_differs_from_the_spindle_for_the_same_seed():
    spindle = phantoms.sample_shape("OH", np.random.default_rng([0, 1, 3]))
    template = _template("OH", 3)
    assert spindle.perturbation and not spindle.displacement and template.displacement and not template.perturbation
    assert not np.array_equal(_mask(spindle), _mask(template, spindle))


def test_template_variation_is_about_the_spindles_size():
    """Comparable spread of size, a different form: only the template's warps vary its shape."""
    lengths = {
        model: np.array(
            [phantoms.sample_shape("Y", np.random.default_rng(i), healthy_model=model).length for i in range(200)]
        )
        for model in phantoms.HEALTHY_MODELS
    }
    spread = {model: np.std(values) / np.mean(values) for model, values in lengths.items()}
    assert 0.05 < spread["deformed_template"] < spread["spindle"] < 0.15


@pytest.mark.parametrize("disease", ["flattening", "short_wide"])
def test_diseases_act_on_the_template_as_on_the_spindle(disease):
    healthy_template = healthy.template_shape("OS", np.random.default_rng([0, 2, 1]), 4.0)
    sick = _template("OS", 1, disease=disease)
    assert sick.displacement == healthy_template.displacement and sick.disease == disease
    assert sick.length == pytest.approx(healthy_template.length * sick.length_factor)
    if disease == "flattening":
        assert sick.flattening > 0 and sick.atrophy_depth > 0 and sick.distal_thinning > 0
        # flatter: the thickness over width of the mid-section drops
        mask_h, mask_s = _mask(healthy_template), _mask(sick, healthy_template)
        grid, affine = phantoms.world_grid(healthy_template, TINY_SPACING)
        width_h, thick_h = phantoms.mid_section_extent(mask_h, affine)
        width_s, thick_s = phantoms.mid_section_extent(mask_s, affine)
        assert thick_s / width_s < thick_h / width_h


def test_cohort_records_the_healthy_model(tmp_path):
    counts = {"n_young": 2, "n_older": 2, "n_sarcopenic": 1, "spacing": TINY_SPACING, "num_folds": 3}
    folder = generate_cohort(tmp_path, healthy_model="deformed_template", progress=False, **counts).parent
    assert load_datalist(folder)["generator"]["healthy_model"] == "deformed_template"
    truth = pd.read_csv(folder / "ground_truth.csv")
    assert "displacement" not in truth.columns and truth["volume_ml"].between(20, 150).all()
    assert np.allclose(
        truth["width"] / truth["length"] / truth["section_factor"],
        38.0 / 160.0 * np.where(truth["group"] == "Y", 1, 0.98),
    )
