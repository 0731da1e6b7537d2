"""Which two files are two visits of one subject: from a datalist's ``subject`` and ``visit``, or given as pairs.

A datalist subject may carry ``subject`` (whose muscle it is) and ``visit`` (a number or a sortable date string):
each subject's visits are paired in order, each with the next. A datalist may instead list ``pairs``:
``[["<id of the first visit>", "<id of the second>"], ...]``. On the command line, ``--pairs`` gives two files per
pair. Each visit is an item of its own for scoring (its ``id``); a pair names both.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..layout import image_stem, safe_id
from .datalist import DatalistError, read_json


@dataclass(frozen=True)
class VisitPair:
    """Two visits of ``subject``: the datalist items (``id``, ``image``) of the ``first`` and the ``second``."""

    subject: str
    first: dict
    second: dict


def _items(datalist: dict, root: Path) -> dict[str, dict]:
    items = {}
    for subject in datalist.get("subjects", []):
        if not isinstance(subject, dict) or "id" not in subject or "image" not in subject:
            raise DatalistError(f"{root}: every subject needs an 'id' and an 'image'")
        items[str(subject["id"])] = {**subject, "image": str(root / subject["image"])}
    return items


def datalist_pairs(datalist_path: str | os.PathLike) -> list[VisitPair]:
    """The visit pairs of a datalist, in the order of its subjects; one line naming the file when there are none."""
    path = Path(datalist_path)
    datalist = read_json(path, "datalist")
    items = _items(datalist, path.parent.resolve())  # scoring runs from the bundle: a relative path would move
    if "pairs" in datalist:
        pairs = []
        for pair in datalist["pairs"]:
            if not (isinstance(pair, list) and len(pair) == 2 and all(str(i) in items for i in pair)):
                raise DatalistError(f"{path}: pair {pair!r} does not name two subjects of the datalist")
            first, second = items[str(pair[0])], items[str(pair[1])]
            pairs.append(VisitPair(str(first.get("subject", first["id"])), first, second))
    else:
        visits: dict[str, list[dict]] = defaultdict(list)
        for item in items.values():
            if "subject" in item and "visit" in item:
                visits[str(item["subject"])].append(item)
        pairs = []
        for subject, seen in visits.items():
            order = sorted(seen, key=lambda item: (str(type(item["visit"])), item["visit"]))
            if len({str(item["visit"]) for item in order}) != len(order):
                raise DatalistError(f"{path}: subject {subject} has two visits of the same name")
            pairs += [VisitPair(subject, a, b) for a, b in zip(order, order[1:], strict=False)]
    if not pairs:
        raise DatalistError(f"{path}: no visit pairs (give subjects a 'subject' and a 'visit', or list 'pairs')")
    return pairs


def _file_item(path) -> dict:
    try:
        return {"id": safe_id(image_stem(path)), "image": str(Path(path).resolve())}
    except ValueError as error:  # not a labelmap format: the message names the file
        raise DatalistError(f"--pairs: {error}") from None


def file_pairs(pairs: list) -> list[VisitPair]:
    """Pairs given as two file paths each; a visit's id is its file name without the image suffix (the same file twice
    is one visit, scored once: a pair with no change at all)."""
    found = []
    for pair in pairs:
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise DatalistError(f"--pairs: {pair!r} is not two files")
        first, second = (_file_item(p) for p in pair)
        if first["id"] == second["id"] and first["image"] != second["image"]:
            second = {**second, "id": second["id"] + "_second"}
        found.append(VisitPair(first["id"], first, second))
    if not found:
        raise DatalistError("--pairs: no pairs given")
    return found
