"""The INR's scores' classical twins: flattening and atrophy against healthy norms, the coefficient axis, score_fold."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import load_datalist
from phantom_muscles import draw, shapes, subjects

from scripts.data.geometry import voxel_to_world
from scripts.scoring.deviation import cells
from scripts.scoring.norms import RegionalNorm
from scripts.scoring.reference import REGIONAL_TOP_K
from scripts.study.shape_model import SubjectShape
from scripts.study.twins import TwinScorer, coefficient_axis, ssm_axis_score


@pytest.fixture(scope="module")
def scorer() -> TwinScorer:
    return TwinScorer().fit(subjects(shapes("Y", 6) + shapes("OH", 6)))


@pytest.fixture(scope="module")
def newcomers() -> list:
    """Healthy muscles the scorer has not seen."""
    return shapes("Y", 2, start=20) + shapes("OH", 2, start=20)


def test_a_flattened_copy_is_flatter_than_healthy_sections_and_than_its_restored_shape(scorer, newcomers):
    for muscle in newcomers:
        original = scorer.score(SubjectShape.of_mask(*draw(muscle)))
        flattened = scorer.score(SubjectShape.of_mask(*draw(dataclasses.replace(muscle, flattening=0.25))))
        assert flattened["twin_flattening"] > original["twin_flattening"] + 1.5
        assert flattened["twin_ssm_flattening"] > original["twin_ssm_flattening"] + 0.4


def test_a_dented_copy_has_more_atrophy_and_the_dent_makes_the_top_cells(scorer, newcomers):
    """A local concavity on the anterior surface (the phantoms' sarcopenic atrophy, half the radius deep) raises the
    atrophy twin, and the cells it falls in are among the most inward ones of the map."""
    for muscle in newcomers:
        mask, affine = draw(muscle)
        dented_mask, _ = draw(
            dataclasses.replace(muscle, atrophy_depth=0.5, atrophy_position=0.5, atrophy_angle=np.pi / 2)
        )
        original, dented = SubjectShape.of_mask(mask, affine), SubjectShape.of_mask(dented_mask, affine)
        assert scorer.score(dented)["twin_ssm_atrophy"] > scorer.score(original)["twin_ssm_atrophy"] + 1.0
        deviation, _ = scorer.measures(dented)
        z = scorer.maps.z(deviation.map()).ravel()
        dent = set(cells(voxel_to_world(np.argwhere(mask & ~dented_mask).astype(float), affine), deviation.frame))
        assert len(dent & set(np.argsort(z)[:REGIONAL_TOP_K].tolist())) >= REGIONAL_TOP_K // 2


def test_healthy_norms_rest_on_shapes_restored_without_them(scorer):
    """Restored in sample, training shapes would lie closer to their restorations than a new subject does, and the
    healthy spread of the deviation map would be too narrow: the held-out one is wider."""
    training = subjects(shapes("Y", 6) + shapes("OH", 6))
    in_sample = RegionalNorm("map", 0.0)
    in_sample.fit([scorer.measures(s)[0].map() for s in training])
    assert np.median(scorer.maps.scale.numpy()) > 1.2 * np.median(in_sample.scale.numpy())


def test_the_coefficient_axis_points_towards_the_labelled_cases(scorer, newcomers):
    healthy = subjects(shapes("Y", 6) + shapes("OH", 6))
    labelled, unseen = subjects(shapes("OS", 4)), subjects(shapes("OS", 4, start=4))
    axis = coefficient_axis(scorer.model, healthy, labelled)
    assert axis.cases == 4 and axis.healthy_count == len(healthy)
    assert ssm_axis_score(axis, scorer.model, labelled).mean() > 1.0
    new_healthy = ssm_axis_score(axis, scorer.model, subjects(newcomers))
    assert ssm_axis_score(axis, scorer.model, unseen).mean() > new_healthy.mean() + 1.0


def test_score_fold_gives_every_new_baseline_column_and_the_axis_score(tiny_cohort):
    from scripts.data.datalist import load_split
    from scripts.study.baselines import BASELINE_LABELS, score_fold

    datalist = tiny_cohort / "datalist.json"
    train, test = load_split(datalist, 0, "train"), load_split(datalist, 0, "test")
    rows = score_fold(train, test)  # a fold of two or three healthy training subjects
    assert [r["id"] for r in rows] == [i["id"] for i in test]
    assert all(np.isfinite(r[name]) for r in rows for name in BASELINE_LABELS)
    assert {n for n in BASELINE_LABELS if n.startswith(("sdf_", "twin_"))} >= {
        "sdf_mahalanobis",
        "sdf_residual",
        "sdf_nll",
        "twin_flattening",
        "twin_ssm_flattening",
        "twin_ssm_atrophy",
        "twin_combined",
    }
    abnormal_ids = [s["id"] for s in load_datalist(tiny_cohort)["subjects"] if not s["healthy"]]
    labelled = [i for i in test if i["id"] in abnormal_ids[:2]]
    rest = [i for i in test if i not in labelled]
    scored = score_fold(train + load_split(datalist, 0, "val"), rest, abnormal_items=labelled)
    assert all(np.isfinite(r["ssm_axis_score"]) for r in scored)
