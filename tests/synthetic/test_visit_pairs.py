"""Synthetic visit pairs: one muscle per pair, re-posed and re-segmented; only progressing pairs change shape."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from scripts.synthetic.visits import generate_visit_pairs


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    generate_visit_pairs(out, n_stable=2, n_progressing=2, step=0.5, spacing=(2.0, 2.0, 2.0), seed=4)
    return out


def _volume(path) -> float:
    image = nib.load(path)
    return float(np.asarray(image.dataobj).sum() * abs(np.linalg.det(image.affine[:3, :3])) / 1000.0)


def test_a_stable_pair_is_the_same_muscle_drawn_again(pairs):
    first, second = pairs / "images" / "S000_v0.nii.gz", pairs / "images" / "S000_v1.nii.gz"
    a, b = nib.load(first), nib.load(second)
    assert not np.allclose(a.affine, b.affine) or not np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj))
    assert _volume(second) == pytest.approx(_volume(first), rel=0.05)  # re-posed and re-sampled, not changed


def test_a_progressing_pair_loses_volume_and_records_its_strengths(pairs):
    truth = {row["subject"]: row for row in csv.DictReader(open(pairs / "pairs.csv"))}
    row = truth["P000"]
    assert float(row["strength_second"]) == pytest.approx(float(row["strength_first"]) + 0.5)
    images = pairs / "images"
    assert _volume(images / "P000_v1.nii.gz") < 0.97 * _volume(images / "P000_v0.nii.gz")
    datalist = json.loads((pairs / "datalist.json").read_text())
    visits = {s["id"]: s for s in datalist["subjects"]}
    assert visits["P000_v1"]["subject"] == "P000" and visits["P000_v1"]["visit"] == 1
    assert visits["S001_v0"]["healthy"] and not visits["P000_v1"]["healthy"]


def test_pairs_are_drawn_again_alike_from_their_seed(pairs, tmp_path):
    generate_visit_pairs(tmp_path, n_stable=2, n_progressing=1, step=0.5, spacing=(2.0, 2.0, 2.0), seed=4)
    for name in ("S001_v1.nii.gz", "P000_v0.nii.gz"):
        again, before = nib.load(tmp_path / "images" / name), nib.load(pairs / "images" / name)
        assert np.array_equal(np.asarray(again.dataobj), np.asarray(before.dataobj))


def test_the_truth_of_where_it_changed_is_kept_for_progressing_pairs_only(pairs):
    """The noise-free changed region lies in the first visit's world space: on its surface, and mostly inside the
    first visit's muscle (the disease takes tissue away)."""
    assert sorted(p.name for p in (pairs / "truth").iterdir()) == ["P000_changed.nii.gz", "P001_changed.nii.gz"]
    truth, first = nib.load(pairs / "truth" / "P000_changed.nii.gz"), nib.load(pairs / "images" / "P000_v0.nii.gz")
    changed = np.argwhere(np.asarray(truth.dataobj) > 0)
    assert len(changed) > 20
    world = changed @ truth.affine[:3, :3].T + truth.affine[:3, 3]
    voxels = np.rint((world - first.affine[:3, 3]) @ np.linalg.inv(first.affine[:3, :3]).T).astype(int)
    inside = np.all((voxels >= 0) & (voxels < first.shape), axis=1)
    hit = np.asarray(first.dataobj)[tuple(voxels[inside].T)] > 0
    assert inside.mean() > 0.95 and hit.mean() > 0.5
