"""The scoring dataset: subjects an earlier run scored as this one would are listed and not prepared again,
unusable files are skipped with their reason when asked, ranks share the subjects out, and preparing ahead changes
none of it."""

from __future__ import annotations

import pytest

from scripts.data.datasets import SubjectDataset
from scripts.errors import InputError, find_input_error


def _prepare(item: dict) -> dict:
    if item["id"] == "broken":
        raise InputError(f"{item['image']}: not a labelmap")
    return {**item, "prepared": True}


ITEMS = [{"id": name, "image": f"{name}.nii.gz"} for name in ("a", "done", "broken", "b", "c")]


class _Outputs:
    """What ``records.ReusedOutputs`` offers the dataset: stamp every item, then plan once for the whole shard."""

    def __init__(self) -> None:
        self.planned: list[list[str]] = []

    def stamp(self, item: dict) -> dict:
        return dict(item, input_sha256=f"digest of {item['image']}")

    def plan(self, items: list[dict]) -> set[str]:
        self.planned.append([i["id"] for i in items])
        assert all(i["input_sha256"] == f"digest of {i['image']}" for i in items)
        return {"done"}


@pytest.mark.parametrize("prefetch", [0, 2])
def test_done_and_unusable_subjects_are_listed_and_the_rest_prepared_in_order(prefetch):
    outputs = _Outputs()
    dataset = SubjectDataset(ITEMS, _prepare, skip_invalid=True, outputs=outputs, prefetch=prefetch)
    prepared = list(dataset)
    assert [d["id"] for d in prepared] == ["a", "b", "c"] and all(d["input_sha256"] for d in prepared)
    assert [i["id"] for i in dataset.reused] == ["done"] and outputs.planned == [[i["id"] for i in ITEMS]]
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
