"""What made a run's outputs, recorded with them, so that a later run reuses only what it would have made itself.

A folder may hold the outputs of an earlier run. An inference run reuses a subject's files only when the earlier run
used the same model file (its SHA-256), the same bundle version, the same settings (the model's, with the user's label
and decision level, and the scoring options that change a score or a decision) and the same input (the file's SHA-256
and its observed slices). A training run resumes only a checkpoint of the same subjects (ids and file digests), fold
and settings. What does not match is made again (``resume`` true), or the run refuses in one line naming what differs
(``resume`` strict); ``resume`` false never reuses anything.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import InputError
from .settings import bundle_version, same

logger = logging.getLogger(__name__)

RESUME_MODES = ("true", "false", "strict")
SUBJECT_KEYS = ("input_sha256", "observed_slices_sha256")  # what is a subject's own in its record
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


class TrainingRecord:
    """What a training run is: its subjects (ids and file digests, training and validation), fold and settings.

    Saved in its checkpoints and model file (``state_dict``), so that a model says what trained it and resuming takes
    only a checkpoint of the same run (``differences``). Settings that only say how long or how often (``epochs``,
    ``val_interval``, ``checkpoint_interval``) and where the cohort lies (``dataset_dir``) may change: a run may be
    resumed to train longer, from a cohort that moved. An empty record (no subjects given) adopts a loaded state: a
    recalibrated model keeps the record of its training.

    Args:
        train, validate: the training and validation items (``{"id", "image", ...}``).
        fold: the cohort's fold; settings: every setting of the run (``hyperparameters`` in train.json).
    """

    FREE = ("epochs", "val_interval", "checkpoint_interval", "dataset_dir")

    def __init__(self, train=None, validate=None, fold: int = 0, settings: Mapping | None = None) -> None:
        self.values: dict = {}
        if train is not None:
            self.values = {
                "subjects": {
                    split: {str(i["id"]): file_digest(i["image"]) for i in items or []}
                    for split, items in (("train", train), ("validate", validate))
                },
                "fold": int(fold),
                "settings": json.loads(
                    json.dumps({k: v for k, v in (settings or {}).items() if k not in self.FREE}, default=str)
                ),
            }

    def state_dict(self) -> dict:
        return {"record": json.dumps(self.values)}

    def load_state_dict(self, state: Mapping, strict: bool = True) -> None:
        if not self.values:  # a record made to receive a model's (recalibration); a training run keeps its own
            self.values = json.loads(state["record"])

    def differences(self, state: Mapping | None) -> list[str]:
        """Why a checkpoint's recorded run is not this one ([] when it is)."""
        if not state or "record" not in state:
            return ["it records no training run (written by an earlier version)"]
        recorded = json.loads(state["record"])
        found = differences(recorded.get("fold"), self.values["fold"], "fold")
        found += differences(recorded.get("settings", {}), self.values["settings"])
        for split, mine in self.values["subjects"].items():
            theirs = recorded.get("subjects", {}).get(split, {})
            added, gone = sorted(set(mine) - set(theirs)), sorted(set(theirs) - set(mine))
            changed = sorted(i for i in set(mine) & set(theirs) if mine[i] != theirs[i])
            for what, ids in (("added", added), ("left out", gone), ("changed files", changed)):
                if ids:
                    found.append(f"{split} subjects {what}: {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}")
        return found
