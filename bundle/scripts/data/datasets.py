"""A dataset for scoring many labelmaps: skips subjects an earlier run scored as this one would, and optionally files
that cannot be used.

Nothing is cached across subjects: one labelmap is read, prepared and handed on at a time, so memory does not grow
with the number of inputs. Under ``torchrun`` each rank takes every ``world_size``-th subject (``rank`` first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monai.transforms import apply_transform
from torch.utils.data import IterableDataset

from ..errors import find_input_error
from .prefetch import prefetched

logger = logging.getLogger(__name__)


class SubjectDataset(IterableDataset):
    """Applies ``transform`` to each item in turn and yields the results.

    Each item is first stamped with what makes it this run's (``outputs.stamp``: its input's digest); the items
    whose outputs an earlier run made exactly as this one would (``outputs.plan``, see ``records.ReusedOutputs``) are
    listed in ``reused`` and not processed again. With ``skip_invalid``, an item whose file is unusable (an
    ``InputError``) is listed in ``skipped`` with its reason and the run goes on; otherwise the error ends the run.
    Iterate in the main process (``num_workers=0``) so that these lists are the ones the writers read. ``data`` stays
    the whole list (its order is the order of the scores table); ``shard`` is this rank's part of it.

    Args:
        data: the items to process (dicts such as ``{"id", "image"}``), in the order of the scores table.
        transform: the preprocessing applied to each item.
        skip_invalid: list an item failing with an ``InputError`` in ``skipped`` instead of ending the run.
        outputs: the outputs already in the run's folder (``records.ReusedOutputs``); None reuses nothing.
        rank, world_size: this process's rank and the number of processes; the rank takes every ``world_size``-th item.
        prefetch: items prepared ahead on a background thread (``prefetch.prefetched``); 0 prepares each when asked.

    Raises:
        ValueError: ``world_size`` is below 1 or ``rank`` is not in ``0..world_size - 1``.
    """

    def __init__(
        self,
        data: Sequence[dict],
        transform: Callable,
        skip_invalid: bool = False,
        outputs=None,
        rank: int = 0,
        world_size: int = 1,
        prefetch: int = 0,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} does not exist in a world of {world_size} process(es)")
        self.data, self.transform, self.skip_invalid, self.outputs = list(data), transform, skip_invalid, outputs
        self.rank, self.world_size, self.prefetch = rank, world_size, prefetch
        self.reused: list[dict] = []
        self.skipped: list[dict] = []

    @property
    def shard(self) -> list[dict]:
        return self.data[self.rank :: self.world_size]

    def __iter__(self):
        self.reused, self.skipped = [], []
        prepared = self._prepared()
        yield from prefetched(prepared, self.prefetch) if self.prefetch > 0 else prepared
        if self.reused:
            logger.info("%d subject(s) already complete, not processed again", len(self.reused))

    def _prepared(self):
        shard = [self.outputs.stamp(item) for item in self.shard] if self.outputs is not None else self.shard
        reusable = self.outputs.plan(shard) if self.outputs is not None else set()
        for item in shard:
            if item["id"] in reusable:
                self.reused.append(item)
                continue
            try:
                yield apply_transform(self.transform, item)
            except Exception as error:
                found = find_input_error(error)
                if found is None or not self.skip_invalid:
                    raise
                logger.warning("skipping %s", found)
                self.skipped.append(
                    {"id": item.get("id", ""), "image": str(item.get("image", "")), "reason": str(found)}
                )
