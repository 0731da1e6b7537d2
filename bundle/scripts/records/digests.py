"""The pieces records are made of: file digests, the resume modes, and what differs between two records."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError
from ..settings import same

RESUME_MODES = ("true", "false", "strict")
CHUNK = 1 << 20


class ResumeError(InputError):
    """Outputs or checkpoints of another run where ``resume strict`` allows only this run's; names what differs."""


def resume_mode(value) -> str:
    """``resume`` as one of ``RESUME_MODES`` (booleans and their usual spellings too), or one line naming it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    text = {"yes": "true", "on": "true", "1": "true", "no": "false", "off": "false", "0": "false"}.get(text, text)
    if text not in RESUME_MODES:
        raise InputError(f"--resume: expected true, false or strict, got {value!r}")
    return text


def file_digest(path: str | Path) -> str | None:
    """SHA-256 of a file's bytes (and of a detached MetaImage's data file); None when it cannot be read, so that
    the workflow reports the unusable file itself, as it does for any other."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        parts = [path]
        if path.suffix.lower() == ".mhd":
            match = re.search(r"^\s*ElementDataFile\s*=\s*(\S+)", path.read_text(errors="replace"), re.MULTILINE)
            if match and match.group(1).upper() != "LOCAL":
                parts.append(path.parent / match.group(1))
        for part in parts:
            with open(part, "rb") as stream:
                while block := stream.read(CHUNK):
                    digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def differences(recorded, current, name: str = "") -> list[str]:
    """Where two records differ, as ``name: recorded -> current`` (values compared as settings are: ``same``)."""
    if isinstance(recorded, Mapping) and isinstance(current, Mapping):
        found = []
        for key in sorted(set(recorded) | set(current), key=str):
            inner = f"{name}.{key}" if name else str(key)
            found += differences(recorded.get(key), current.get(key), inner)
        return found
    if same(recorded, current):
        return []
    return [f"{name} {json.dumps(recorded, default=str)} -> {json.dumps(current, default=str)}"]
