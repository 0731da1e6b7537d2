"""Which files a workflow reads, and the segmented slices an observation file adds to them."""

from __future__ import annotations

import json

import pytest

from scripts.data.datalist import DatalistError, read_datalist
from scripts.data.inputs import inference_items, read_observation_file


def test_an_observation_file_names_subjects_by_id_or_file_name(tmp_path):
    for name in ("a.nii.gz", "b.nrrd", "c.nii.gz"):
        (tmp_path / name).write_bytes(b"")
    slices = tmp_path / "slices.json"
    slices.write_text(json.dumps({"a": {"2": [3, 6]}, "b.nrrd": {"0": [1]}}))
    assert read_observation_file(slices) == {"a": {"2": [3, 6]}, "b": {"0": [1]}}
    items = {
        item["id"]: item for item in inference_items(str(tmp_path), observation_file=str(slices), observation="given")
    }
    assert items["a"]["observed_slices"] == {"2": [3, 6]} and items["b"]["observed_slices"] == {"0": [1]}
    assert "observed_slices" not in items["c"]  # reported by the observation itself, for that subject alone


@pytest.mark.parametrize(
    "content, message",
    [(None, "observation file not found"), ("{", "not valid JSON"), ("[]", "expected {subject id")],
)
def test_a_bad_observation_file_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "slices.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatalistError, match=f"^{path}: {message}"):
        read_observation_file(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "datalist not found"),
        ("{", "not valid JSON"),
        ("[1, 2]", "expected 'subjects' and 'folds' lists"),
        ('{"subjects": []}', "expected 'subjects' and 'folds' lists"),
    ],
)
def test_a_bad_datalist_is_one_line_naming_it(tmp_path, content, message):
    path = tmp_path / "datalist.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatalistError, match=f"^{path}: {message}"):
        read_datalist(path)


def test_an_observation_file_without_the_given_observation_is_refused(tmp_path):
    with pytest.raises(DatalistError, match="but the observation is 'orthogonal'; pass --observation given"):
        inference_items(str(tmp_path), observation_file=str(tmp_path / "slices.json"), observation="orthogonal")
