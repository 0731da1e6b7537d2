"""The scoring dataset: subjects done earlier are listed and not prepared again, unusable files are skipped with
their reason when asked, ranks share the subjects out, and preparing ahead changes none of it."""

from __future__ import annotations

import pytest

from scripts.data.datasets import SubjectDataset
from scripts.errors import InputError, find_input_error


def _prepare(item: dict) -> dict:
    if item["id"] == "broken":
        raise InputError(f"{item['image']}: not a labelmap")
    return {**item, "prepared": True}


ITEMS = [{"id": name, "image": f"{name}.nii.gz"} for name in ("a", "done", "broken", "b", "c")]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_done_and_unusable_subjects_are_listed_and_the_rest_prepared_in_order(prefetch):
    dataset = SubjectDataset(ITEMS, _prepare, skip_invalid=True, done=lambda i: i["id"] == "done", prefetch=prefetch)
    assert [d["id"] for d in dataset] == ["a", "b", "c"]
    assert [i["id"] for i in dataset.reused] == ["done"]
    assert dataset.skipped == [{"id": "broken", "image": "broken.nii.gz", "reason": "broken.nii.gz: not a labelmap"}]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_an_unusable_file_ends_the_run_unless_skipping_is_asked(prefetch):
    dataset = SubjectDataset(ITEMS, _prepare, prefetch=prefetch)
    with pytest.raises(RuntimeError) as raised:  # MONAI's apply_transform wraps it; the CLI prints the input error
        list(dataset)
    assert str(find_input_error(raised.value)) == "broken.nii.gz: not a labelmap"


def test_each_rank_takes_every_world_size_th_subject():
    assert [i["id"] for i in SubjectDataset(ITEMS, _prepare, rank=1, world_size=2).shard] == ["done", "b"]
    with pytest.raises(ValueError, match="rank 2 does not exist in a world of 2"):
        SubjectDataset(ITEMS, _prepare, rank=2, world_size=2)
