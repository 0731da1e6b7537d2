"""Validation fits two kinds of subjects: healthy ones that calibrate the reference, and, when the training split
labels some subjects abnormal, every training subject for the abnormal axis (``datalist.validation_items``).

The axis needs only their fitted codes, so their reconstruction, metrics and deviations (half the cost of a subject)
are skipped, and the validation metric is the mean Dice of the calibration subjects alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.transforms import Compose, MapTransform

from ..data.datalist import AXIS

ROW_KEYS = ("id", "group", "healthy", "fold", "role")


class ScoreCalibrationSubjectsd(MapTransform):
    """Run ``transform`` (the scoring postprocessing) on calibration subjects; an axis subject keeps its fit and gets
    a row holding only who it is (``ROW_KEYS``) under ``scores_key``.

    Args:
        transform: the scoring postprocessing, run on every item not marked as an axis subject.
        role_key: the item's role (``datalist.AXIS`` marks an axis subject).
        scores_key: where an axis subject's row is written.
    """

    def __init__(self, transform: Compose, role_key: str = "role", scores_key: str = "scores") -> None:
        super().__init__(keys=[role_key], allow_missing_keys=True)
        self.transform, self.role_key, self.scores_key = transform, role_key, scores_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        if data.get(self.role_key) != AXIS:
            return self.transform(data)
        d = dict(data)
        d[self.scores_key] = {key: d[key] for key in ROW_KEYS if key in d}
        return d


def calibration_dice(output: list[dict]) -> torch.Tensor:
    """The Dice of each calibration subject of a validation batch (axis subjects have none), as one tensor: Ignite
    would take a list of numbers, empty when a batch holds axis subjects only, for a pair of outputs."""
    return torch.tensor([item["scores"]["dice"] for item in output if "dice" in item["scores"]], dtype=torch.float64)


def subject_dice(output: list[dict]) -> torch.Tensor:
    """The Dice of each subject of an inference batch, as one tensor (the run's key metric)."""
    return torch.tensor([item["scores"]["dice"] for item in output], dtype=torch.float64)
