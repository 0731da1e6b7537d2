"""An inference run's record, and which outputs of an earlier run in its folder it may reuse."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..settings import bundle_version
from .digests import ResumeError, differences, file_digest, resume_mode

logger = logging.getLogger(__name__)

SUBJECT_KEYS = ("input_sha256", "observed_slices_sha256")  # what is a subject's own in its record


class RunRecord:
    """What an inference run is made of: the model file's digest, the bundle's version, its settings and options.

    ``subject(item)`` adds what is the subject's own: its input's digest (put on the item by ``stamp``) and its
    observed slices. Both are written into each subject's scores file (``made_by``) and the run's ``scores.json``.

    Args:
        ckpt_path: the model file.
        settings: the model settings the run uses (``ModelSettings`` or its values).
        options: the run's options that change a score or a decision (decision score, precision, decoding, seed).
    """

    def __init__(self, ckpt_path: str, settings, options: Mapping | None = None) -> None:
        values = getattr(settings, "values", settings) or {}
        self.run = {
            "model_sha256": file_digest(ckpt_path),
            "bundle": bundle_version(),
            "settings": json.loads(json.dumps(dict(values), default=str)),
            "options": json.loads(json.dumps(dict(options or {}), default=str)),
        }

    @staticmethod
    def stamp(item: dict) -> dict:
        """The item with its input file's digest (``input_sha256``) and, for slices a user segmented, theirs
        (``observed_slices_sha256``): computed once per run, carried to the scores row."""
        if "input_sha256" in item:
            return item
        stamped = dict(item, input_sha256=file_digest(item["image"]))
        if item.get("observed_slices") is not None:
            text = json.dumps(item["observed_slices"], sort_keys=True, default=str)
            stamped["observed_slices_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        return stamped

    def subject(self, item: Mapping) -> dict:
        """The run's record with the subject's own part (from its stamped item or its scores row)."""
        return {**self.run, **{key: item.get(key) for key in SUBJECT_KEYS}}


class ReusedOutputs:
    """Which subjects of a run's folder an earlier run scored exactly as this run would (``plan``).

    Args:
        files: the run's ``layout.SubjectFiles``.
        record: this run's ``RunRecord``.
        mode: ``resume``: true reuses matching subjects and rescores the others, strict refuses any that does not
            match, false rescores all.
        meshes, overlays: this run writes them, so a subject is complete only with them.
        tables: the run's merged files (tables, page), removed before a subject they describe is scored again.
    """

    def __init__(
        self, files, record: RunRecord, mode="true", meshes: bool = True, overlays: bool = True, tables=()
    ) -> None:
        self.files, self.record, self.mode = files, record, resume_mode(mode)
        self.meshes, self.overlays, self.tables = meshes, overlays, [Path(t) for t in tables]

    def stamp(self, item: dict) -> dict:
        return self.record.stamp(item)

    def stale(self, item: dict) -> list[str]:
        """Why the subject's files in the folder cannot be reused ([] when they can; ``missing`` when absent)."""
        files = self.files.required(item, meshes=self.meshes, overlays=self.overlays)
        if not files[0].is_file():
            return ["missing"]
        try:
            made_by = json.loads(files[0].read_text()).get("made_by")
        except (OSError, ValueError):
            return [f"{files[0].name} unreadable"]
        if made_by is None:
            return ["written by a version that did not record what made it"]
        found = differences(made_by, self.record.subject(item))
        return found + [f"{f.name} missing" for f in files[1:] if not f.is_file()]

    def plan(self, items: Iterable[dict]) -> set[str]:
        """The ids of ``items`` (stamped) whose outputs are reused; with mode strict, one line for the first subject
        whose outputs another run made. Tables that describe a subject about to be rescored are removed first."""
        if self.mode == "false":
            stale = [(item, ["resume false"]) for item in items if self.files.scores(item["id"]).is_file()]
            self._drop_tables(stale)
            return set()
        reused, stale = set(), []
        for item in items:
            reasons = self.stale(item)
            if not reasons:
                reused.add(item["id"])
            elif reasons != ["missing"]:
                stale.append((item, reasons))
        if stale and self.mode == "strict":
            item, reasons = stale[0]
            raise ResumeError(
                f"{self.files.scores(item['id'])}: made by another run ({'; '.join(reasons[:3])}); "
                f"{len(stale)} subject(s) differ: pass --resume true to score them again, or another --output_dir"
            )
        for item, reasons in stale[:5]:
            logger.info("%s: scored again (%s)", item["id"], "; ".join(reasons[:3]))
        self._drop_tables(stale)
        return reused

    def _drop_tables(self, stale: list) -> None:
        if not stale:
            return
        for table in self.tables:
            table.unlink(missing_ok=True)
