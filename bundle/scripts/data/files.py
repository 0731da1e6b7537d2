"""File helpers shared by the cohort generator, the engines and the study: atomic writes (names are ``layout``'s).

Every file the bundle writes goes through :func:`atomic_path`, so that a killed run leaves either the previous
complete file or none, never a truncated one.
"""

from __future__ import annotations

import csv
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..layout import WRITE_SUFFIX, image_suffix


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` that replaces ``path`` only if the block finishes without error."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes[-2:]) if target.name.endswith(".nii.gz") else target.suffix
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files that killed processes left in ``folder`` (see ``atomic_path``); returns how many."""
    removed = 0
    for path in Path(folder).glob(".*.tmp*"):
        match = re.search(r"\.(\d+)-[0-9a-f]{8}\.tmp", path.name)
        if match and not _process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(data: object, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=4, default=_json_default) + "\n")
    return Path(path)


def write_csv(rows: Iterable[Mapping[str, object]], path: str | os.PathLike, columns: list[str] | None = None) -> Path:
    """Write dict rows with the union of their keys as columns, in first-seen order.

    With ``columns`` given, ``rows`` may be a generator: it is written as it comes, never held in memory.
    """
    if columns is None:
        rows = list(rows)
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def write_json_with_list(document: Mapping, key: str, items: Iterable, path: str | os.PathLike) -> Path:
    """Write ``document`` with ``key`` holding ``items`` (a generator is fine), streamed item by item."""
    head = json.dumps(dict(document), indent=4, default=_json_default)[:-2] if document else "{"  # open, no "}"
    with atomic_path(path) as tmp, open(tmp, "w") as stream:
        stream.write(head + (",\n" if document else "\n") + f"    {json.dumps(key)}: [")
        for index, item in enumerate(items):
            text = json.dumps(item, indent=4, default=_json_default).replace("\n", "\n        ")
            stream.write(("," if index else "") + "\n        " + text)
        stream.write("\n    ]\n}\n")
    return Path(path)


def write_labelmap(array: np.ndarray, affine: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a 3D label array with its RAS affine through MONAI's writers (nibabel for NIfTI, ITK otherwise)."""
    from monai.data import ITKWriter, NibabelWriter

    path = Path(path)
    suffix = image_suffix(path)
    if WRITE_SUFFIX[suffix] != suffix:
        raise ValueError(f"{path}: write {WRITE_SUFFIX[suffix]} instead of {suffix}")
    writer = NibabelWriter(output_dtype=np.uint8) if suffix.startswith(".nii") else ITKWriter(output_dtype=np.uint8)
    writer.set_data_array(np.asarray(array, dtype=np.uint8), channel_dim=None)
    # The affine is used as is (no resampling). ``set_metadata(resample=False)`` would do the same but, in MONAI
    # 1.6.1, truncates a permuted or oblique affine to 2D and fails, so it is set directly.
    writer.affine = np.asarray(affine, dtype=np.float64)
    with atomic_path(path) as tmp:
        writer.write(str(tmp))
    return path


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
