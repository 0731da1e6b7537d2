"""A training run's record: what it trained on and with, saved in its checkpoints and model file."""

from __future__ import annotations

import json
from collections.abc import Mapping

from .digests import differences, file_digest


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
