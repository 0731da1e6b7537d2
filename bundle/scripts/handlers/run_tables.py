"""What an inference run writes once every subject is scored: ``scores.csv``, ``scores.json`` and the summary page.

Rows are read back from the subjects' score files in the order of the inputs (written by whichever rank or earlier,
interrupted run scored them), one at a time, so that merging needs no memory that grows with the cohort; under
torchrun every rank waits here until all subjects are written, and rank 0 writes.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..data.datasets import SubjectDataset
from ..data.files import write_csv, write_json_with_list
from ..layout import SubjectFiles, figures_dir, safe_id, scores_document, scores_table
from ..records import RunRecord
from ..scoring.reference import HealthyReference
from ..settings import ModelSettings

logger = logging.getLogger(__name__)


class RunTables:
    """The run's tables: every scored subject's row, the subjects an interrupted earlier run completed
    (``dataset.reused``), the files skipped as unusable (``dataset.skipped``), the model settings the run used (and any
    fit setting changed against the calibration) and, with ``group_report`` (a cohort whose subjects say whether they
    are healthy), group summaries; the summary page with ``summary_page``."""

    def __init__(
        self,
        output_dir: str,
        reference: HealthyReference | None = None,
        settings: ModelSettings | None = None,
        decision_score: str = "combined",
        summary_page: bool = True,
        group_report: bool = False,
        dataset: SubjectDataset | None = None,
        output_ext: str = ".nii.gz",
        record: RunRecord | None = None,
    ) -> None:
        self.output_dir, self.files = Path(output_dir), SubjectFiles(output_dir, output_ext)
        self.reference, self.settings, self.dataset, self.record = reference, settings, dataset, record
        self.decision_score, self.summary_page, self.group_report = decision_score, summary_page, group_report
        self.rows_in_memory: dict | None = None

    def _gathered_skipped(self) -> list[dict]:
        """Every rank's unusable inputs; under torchrun the ranks also wait here until all subjects are written."""
        skipped = list(self.dataset.skipped) if self.dataset is not None else []
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return skipped
        shares: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(shares, skipped)
        return [entry for share in shares for entry in share]

    def _all_rows(self, skipped: set[str] = frozenset()):
        """Every subject's row in the order of the inputs, read back from its scores file (written by whichever
        rank or earlier run scored it), one at a time: merging needs no memory that grows with the cohort. Inputs
        skipped in this run are left out, even if an earlier run scored them."""
        if self.dataset is None:
            yield from (self.rows_in_memory or {}).values()
            return
        for item in self.dataset.data:
            path = self.files.scores(item["id"])
            if item["id"] not in skipped and path.is_file():
                row = json.loads(path.read_text())
                row.pop("made_by", None)  # the run's record, once in scores.json (every row matches it)
                yield row

    def write(self, rows_in_memory: dict | None = None) -> dict:
        """Merge and write (rank 0); ``rows_in_memory`` when there is no dataset to read the rows back from.

        Returns:
            The summary numbers (subjects, skipped, mean Dice, abnormal, group figures); empty on other ranks.
        """
        self.rows_in_memory = rows_in_memory
        skipped = self._gathered_skipped()
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_rank():
            return {}  # rank 0 merges and writes the shared files
        for entry in skipped:
            logger.warning("not scored: %s", entry["reason"])
        gone = {entry["id"] for entry in skipped}
        rows = functools.partial(self._all_rows, gone)
        count, dice_sum, abnormal, unknown, columns = 0, 0.0, 0, 0, {}
        for row in rows():  # one pass for the summary and the table's columns (each row may add scores)
            count, dice_sum, abnormal = count + 1, dice_sum + row["dice"], abnormal + (row["decision"] == "abnormal")
            unknown += bool(row.get("out_of_distribution"))
            columns.update(dict.fromkeys(row))
        if not count:
            logger.warning("no subject was scored; nothing written")
            return {}
        write_csv(rows(), scores_table(self.output_dir), columns=list(columns))
        summary = {"subjects": count, "skipped": len(skipped), "mean_dice": dice_sum / count, "abnormal": abnormal}
        summary["out_of_distribution"] = unknown
        report = {}
        if self.group_report:
            cohort = list(rows())
            if all("healthy" in r for r in cohort):
                from ..visualize.groups import group_summary

                codes = {safe_id(r["id"]): np.load(self.files.code(r["id"])) for r in cohort}
                report = group_summary(cohort, codes, Path(figures_dir(self.output_dir)))
                summary.update({k: v for k, v in report.items() if isinstance(v, (int, float))})
        ready = self.reference is not None and self.reference.ready
        settings = dict(self.settings.values) if self.settings is not None else {}
        uncalibrated = settings.pop("uncalibrated", {})
        document = {
            "made_by": self.record.run if self.record is not None else None,
            "decision_score": self.decision_score,
            "calibration": self.reference.describe() if ready else None,
            "calibration_holds": ready and not uncalibrated,
            "uncalibrated_settings": uncalibrated,
            "model_settings": settings,
            "model_versions": dict(self.settings.versions) if self.settings is not None else {},
            "summary": summary,
            "groups": report,
            "skipped": skipped,
        }
        write_json_with_list(document, "subjects", rows(), scores_document(self.output_dir))
        if self.summary_page:
            from ..visualize.summary_page import write_summary_page

            write_summary_page(self.output_dir, rows(), document, self.files.output_ext)
        logger.info("scores of %d subjects written to %s", count, scores_table(self.output_dir))
        return {k: v for k, v in summary.items() if isinstance(v, (int, float))}
