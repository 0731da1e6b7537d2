"""Visits of one subject paired from a datalist (``subject``/``visit`` or ``pairs``) or from files."""

from __future__ import annotations

import json

import pytest

from scripts.data.datalist import DatalistError
from scripts.data.visits import datalist_pairs, file_pairs


def _datalist(tmp_path, **document) -> str:
    path = tmp_path / "datalist.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_each_subjects_visits_are_paired_in_order_each_with_the_next(tmp_path):
    subjects = [
        {"id": "a2", "image": "a2.nii.gz", "subject": "a", "visit": 2},
        {"id": "b0", "image": "b0.nii.gz", "subject": "b", "visit": "2024-01-05"},
        {"id": "a0", "image": "a0.nii.gz", "subject": "a", "visit": 0},
        {"id": "a1", "image": "a1.nii.gz", "subject": "a", "visit": 1},
        {"id": "b1", "image": "b1.nii.gz", "subject": "b", "visit": "2026-03-11"},
        {"id": "c0", "image": "c0.nii.gz", "subject": "c", "visit": 0},  # one visit: no pair
        {"id": "x", "image": "x.nii.gz"},
    ]
    pairs = datalist_pairs(_datalist(tmp_path, subjects=subjects))
    assert [(p.subject, p.first["id"], p.second["id"]) for p in pairs] == [
        ("a", "a0", "a1"),
        ("a", "a1", "a2"),
        ("b", "b0", "b1"),
    ]
    assert pairs[0].first["image"] == str(tmp_path / "a0.nii.gz")


def test_visits_of_a_datalist_or_files_given_relative_to_here_are_found_from_anywhere(tmp_path, monkeypatch):
    """Scoring runs from the bundle's folder: every visit's path is made absolute where it is read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cohort").mkdir()
    subjects = [{"id": f"a{v}", "image": f"a{v}.nii.gz", "subject": "a", "visit": v} for v in (0, 1)]
    (tmp_path / "cohort" / "datalist.json").write_text(json.dumps({"subjects": subjects}))
    (pair,) = datalist_pairs("cohort/datalist.json")
    assert pair.first["image"] == str(tmp_path / "cohort" / "a0.nii.gz")
    (given,) = file_pairs([["scans/m_2020.nii.gz", "m_2022.nii.gz"]])
    assert (given.first["image"], given.second["image"]) == (
        str(tmp_path / "scans" / "m_2020.nii.gz"),
        str(tmp_path / "m_2022.nii.gz"),
    )


def test_explicit_pairs_name_subjects_of_the_datalist(tmp_path):
    subjects = [{"id": "p", "image": "p.nii.gz"}, {"id": "q", "image": "q.nii.gz"}]
    (pair,) = datalist_pairs(_datalist(tmp_path, subjects=subjects, pairs=[["q", "p"]]))
    assert (pair.first["id"], pair.second["id"]) == ("q", "p")
    with pytest.raises(DatalistError, match=r"datalist.json: pair \['p', 'z'\] does not name two subjects"):
        datalist_pairs(_datalist(tmp_path, subjects=subjects, pairs=[["p", "z"]]))


@pytest.mark.parametrize(
    "subjects, message",
    [
        ([{"id": "a", "image": "a.nii.gz"}], "no visit pairs"),
        ([{"id": "a", "image": "a", "subject": "s", "visit": 1}, {"id": "b", "image": "b", "subject": "s", "visit": 1}],
         "subject s has two visits of the same name"),
        ([{"id": "a"}], "every subject needs an 'id' and an 'image'"),
    ],
)  # fmt: skip
def test_a_datalist_without_usable_pairs_is_refused_in_one_line(tmp_path, subjects, message):
    with pytest.raises(DatalistError, match=message):
        datalist_pairs(_datalist(tmp_path, subjects=subjects))


def test_file_pairs_take_their_ids_from_the_file_names():
    (pair,) = file_pairs([["/data/m_2020.nii.gz", "/other/m_2022.nrrd"]])
    assert pair.first["image"] == "/data/m_2020.nii.gz"
    assert (pair.subject, pair.first["id"], pair.second["id"]) == ("m_2020", "m_2020", "m_2022")
    (same,) = file_pairs([["/a/m.nii.gz", "/b/m.nii.gz"]])
    assert same.first["id"] != same.second["id"]
    (dotted,) = file_pairs([["/d/m.2020.nii.gz", "/d/m.2022.nii.gz"]])
    assert (dotted.first["id"], dotted.second["id"]) == ("m.2020", "m.2022")  # a dot in the name is not the suffix
    with pytest.raises(DatalistError, match="--pairs: 'a.nii.gz' is not two files"):
        file_pairs(["a.nii.gz"])
    with pytest.raises(DatalistError, match="--pairs: notes.txt: unsupported image format"):
        file_pairs([["a.nii.gz", "notes.txt"]])
