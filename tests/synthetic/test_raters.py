"""Rater models: a consistent bias of the drawn boundary and a rounded outline, from the artefact stream; and the
refusal of bad generator options in one line naming the option."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_SPACING, load_datalist

from scripts.synthetic import phantoms
from scripts.synthetic.cohort import generate_cohort
from scripts.synthetic.labelmaps import make_labelmap
from scripts.synthetic.realism import SegmentationRealism, smooth_outline


def _muscle(group: str, index: int, realism: SegmentationRealism) -> np.ndarray:
    shape = phantoms.sample_shape(group, np.random.default_rng([0, phantoms.GROUPS.index(group), index]))
    artefacts = np.random.default_rng([0, phantoms.GROUPS.index(group), index, 1])
    offset = realism.rater_offset(artefacts)
    return make_labelmap(shape, TINY_SPACING, 8.0, False, 1, realism, artefacts, offset)[1]


@pytest.mark.parametrize("group, index", [("Y", 0), ("OH", 1), ("OS", 2)])
def test_rater_bias_moves_the_boundary_out_or_in(group, index):
    clean = _muscle(group, index, SegmentationRealism()).sum()
    outside = _muscle(group, index, SegmentationRealism(rater_bias_mm=2.0)).sum()
    inside = _muscle(group, index, SegmentationRealism(rater_bias_mm=-2.0)).sum()
    # 1 to 3 mm over a surface of about 15000 mm^2 around 60 ml: some 20 to 60 percent of the volume
    assert 1.1 * clean < outside < 1.8 * clean
    assert 0.35 * clean < inside < 0.9 * clean


def test_rater_offset_is_drawn_per_subject_without_consuming_the_artefact_stream():
    realism = SegmentationRealism(rater_bias_mm=-1.5)
    offsets = []
    for subject in range(20):
        rng = np.random.default_rng([0, 0, subject, 1])
        offsets.append(realism.rater_offset(rng))
        assert rng.uniform() == np.random.default_rng([0, 0, subject, 1]).uniform()  # the other artefacts stay
    assert np.all((np.array(offsets) <= -0.75) & (np.array(offsets) >= -2.25)) and len(set(offsets)) == 20
    assert SegmentationRealism().rater_offset(np.random.default_rng(0)) == 0.0


def test_rater_smoothing_rounds_the_outline_off():
    block = np.zeros((20, 20, 20), dtype=bool)
    block[5:15, 5:15, 5:15] = True
    spiky = block.copy()
    spiky[10, 10, 15:18] = True  # a thin spike a rater would not trace
    smoothed = smooth_outline(spiky, (1.0, 1.0, 1.0), 1.5)
    assert not smoothed[10, 10, 16:].any() and smoothed[7:13, 7:13, 7:13].all()
    assert not smoothed[5, 5, 5]  # corners are rounded
    assert smooth_outline(spiky, (1.0, 1.0, 1.0), 0.0) is spiky
    # on a muscle: the same muscle, a few percent smaller, its thin tendon ends shortened
    clean = _muscle("Y", 1, SegmentationRealism())
    rounded = _muscle("Y", 1, SegmentationRealism(rater_smoothing_mm=3.0))
    assert clean.shape == rounded.shape and 0.8 * clean.sum() < rounded.sum() < clean.sum()
    assert rounded.any(axis=(0, 1)).sum() < clean.any(axis=(0, 1)).sum()


def test_cohort_with_raters_keeps_the_muscles_and_records_the_offsets(tmp_path, tiny_cohort):
    counts = {"n_young": 4, "n_older": 4, "n_sarcopenic": 4, "spacing": TINY_SPACING, "num_folds": 3}
    biased = generate_cohort(tmp_path, rater_bias_mm=1.0, rater_smoothing_mm=1.0, progress=False, **counts).parent
    generator = load_datalist(biased)["generator"]
    assert generator["rater_bias_mm"] == 1.0 and generator["rater_smoothing_mm"] == 1.0
    truth = pd.read_csv(biased / "ground_truth.csv").set_index("id")
    clean = pd.read_csv(tiny_cohort / "ground_truth.csv").set_index("id")
    assert truth["rater_offset_mm"].between(0.5, 1.5).all() and (clean["rater_offset_mm"] == 0).all()
    assert np.array_equal(
        truth[["length", "width", "thickness", "twist_deg"]], clean[["length", "width", "thickness", "twist_deg"]]
    )
    assert (truth["volume_ml"] > clean["volume_ml"]).all()


@pytest.mark.parametrize(
    "option, value",
    [
        ("disease", "cachexia"),
        ("healthy_model", "statistical"),
        ("rater_bias_mm", 8.0),
        ("rater_smoothing_mm", -1.0),
        ("strength", -0.5),
        ("strength", 3.0),
    ],
)
def test_bad_generator_options_are_refused_in_one_line(tmp_path, option, value):
    with pytest.raises(ValueError, match=option) as refused:
        generate_cohort(tmp_path, **{option: value})
    assert "\n" not in str(refused.value)
    assert not any(tmp_path.iterdir())
    if option in ("disease", "healthy_model"):
        with pytest.raises(ValueError, match=option):
            phantoms.sample_shape("Y", np.random.default_rng(0), **{option: value})


def test_command_line_takes_the_new_options(tmp_path, monkeypatch, capsys):
    from scripts import cli

    monkeypatch.setattr(cli, "_setup", lambda: None)  # the process's logging stays pytest's
    common = ["phantoms", "--output_dir", str(tmp_path), "--n_young", "2", "--n_older", "1", "--n_sarcopenic", "1"]
    common += ["--num_folds", "3", "--spacing", "[3,3,3]"]
    options = ["--disease", "focal_dent", "--healthy_model", "deformed_template", "--rater_bias_mm", "-0.5"]
    assert cli.run(common + options + ["--rater_smoothing_mm", "1"]) == str(tmp_path / "datalist.json")
    generator = load_datalist(tmp_path)["generator"]
    assert (generator["disease"], generator["healthy_model"]) == ("focal_dent", "deformed_template")
    assert (generator["rater_bias_mm"], generator["rater_smoothing_mm"]) == (-0.5, 1.0)
    for bad, named in ((["--disease", "nope"], "--disease"), (["--rater_bias_mm", "9"], "rater_bias_mm")):
        with pytest.raises(SystemExit) as ended:
            cli.main(common + bad)
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert ended.value.code == 2 and named in error
