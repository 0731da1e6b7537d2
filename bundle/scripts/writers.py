"""Evaluator handler that writes what a user reads: the scores table, each fitted code, overlays and summaries."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from . import figures, meshes
from .datasets import SubjectDataset
from .deviation import mask_surface
from .files import atomic_path, remove_stale_temporaries, safe_id, write_csv, write_json, write_json_with_list
from .layout import SubjectFiles, figures_dir, scores_document, scores_table
from .scoring import HealthyReference
from .settings import ModelSettings

logger = logging.getLogger(__name__)


class ScoresWriter:
    """Calibrates each subject's scores against the model's healthy reference and writes its code
    (``<id>_code.npy``), overlay (with ``overlays``) and scores (``<id>_scores.json``, last, marking the subject
    complete) as it is scored; ``scores.csv`` and ``scores.json`` when the run completes.

    The tables also hold the subjects an interrupted earlier run completed (``dataset.reused``) and list the files
    skipped as unusable (``dataset.skipped``). ``decision_score`` names the calibrated score whose 'abnormal' flag
    becomes the ``decision`` column. ``scores.json`` records the model settings the run used (and any fit setting
    changed against the calibration). With ``group_report`` (a cohort whose subjects say whether they are healthy),
    group summaries are added. Summary numbers become the engine's metrics, for StatsHandler and MLflow.
    """

    def __init__(
        self,
        output_dir: str,
        reference: HealthyReference | None = None,
        settings: ModelSettings | None = None,
        decision_score: str = "combined",
        overlays: bool = True,
        meshes: bool = True,
        summary_page: bool = True,
        group_report: bool = False,
        dataset: SubjectDataset | None = None,
        output_ext: str = ".nii.gz",
        scores_key: str = "scores",
    ) -> None:
        self.files = SubjectFiles(output_dir, output_ext)
        self.output_dir = Path(output_dir)
        self.reference, self.settings, self.dataset = reference, settings, dataset
        self.decision_score, self.overlays, self.group_report = decision_score, overlays, group_report
        self.meshes, self.summary_page = meshes, summary_page
        self.scores_key = scores_key
        self.rows: dict[str, dict] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        if self.reference is not None and self.reference.ready:
            self.reference.check_decision_score(self.decision_score)
        self.rows = {}
        figure_dir = Path(figures_dir(self.output_dir))
        figure_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.output_dir, figure_dir):
            remove_stale_temporaries(folder)

    def _calibrated(self, item: dict) -> dict:
        row = dict(item[self.scores_key])
        code = item["pred"]["code"].detach().cpu()
        if self.reference is not None and self.reference.ready:
            deviation = item.get("deviation")
            deviation_map = deviation.map(self.reference.map_bins) if deviation is not None else None
            row.update(self.reference.assess(row, code, deviation_map, item.get("flattening_profile")))
        flag = row.get(f"{self.decision_score}_abnormal")
        row["decision"] = "n/a" if flag is None else ("abnormal" if flag else "normal")
        return row

    def iteration_completed(self, engine: Engine) -> None:
        for item in engine.state.output:
            row = self._calibrated(item)
            subject = safe_id(row["id"])
            code = item["pred"]["code"].detach().cpu().numpy().astype(np.float32)
            with atomic_path(self.files.code(subject)) as tmp, open(tmp, "wb") as stream:
                np.save(stream, code)
            if self.overlays and "recon" in item:
                label = item["label"]
                figures.overlay(
                    np.asarray(torch.as_tensor(label)[0]),
                    np.asarray(torch.as_tensor(item["recon"])[0]),
                    label.affine,
                    f"{subject}: Dice {row['dice']:.3f}, {row['decision']}",
                    self.files.overlay(subject),
                )
            if self.meshes and "deviation" in item:
                self._write_meshes(subject, item)
            write_json(row, self.files.scores(subject))
            if self.dataset is None:  # nothing to read the rows back from
                self.rows[subject] = row
            logger.info("%s: Dice %.4f, HD95 %.2f mm, %s", subject, row["dice"], row["hd95_mm"], row["decision"])

    def _write_meshes(self, subject: str, item: dict) -> None:
        """The input's surface (deviation in mm and, with a normative reference, its z-score per vertex) as VTK and
        coloured PLY, and the reconstruction's surface as VTK, all in the input's physical space."""
        deviation = item["deviation"]
        point_data = {"deviation_mm": deviation.deviation}
        if self.reference is not None and self.reference.deviation.ready:
            point_data["normative_z"] = self.reference.vertex_z(deviation)
        meshes.write_vtk(self.files.mesh(subject), deviation.surface, point_data)
        meshes.write_ply(self.files.mesh(subject, ext=".ply"), deviation.surface, deviation.deviation)
        recon = np.asarray(torch.as_tensor(item["recon"])[0].cpu(), dtype=bool)
        if recon.any():
            meshes.write_vtk(self.files.mesh(subject, "recon_surface"), mask_surface(recon, item["recon"].affine))

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
            yield from self.rows.values()
            return
        for item in self.dataset.data:
            path = self.files.scores(item["id"])
            if item["id"] not in skipped and path.is_file():
                yield json.loads(path.read_text())

    def completed(self, engine: Engine) -> None:
        skipped = self._gathered_skipped()
        if torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_rank():
            return  # rank 0 merges and writes the shared files
        for entry in skipped:
            logger.warning("not scored: %s", entry["reason"])
        gone = {entry["id"] for entry in skipped}
        rows = functools.partial(self._all_rows, gone)
        count, dice_sum, abnormal, columns = 0, 0.0, 0, {}
        for row in rows():  # one pass for the summary and the table's columns (each row may add scores)
            count, dice_sum, abnormal = count + 1, dice_sum + row["dice"], abnormal + (row["decision"] == "abnormal")
            columns.update(dict.fromkeys(row))
        if not count:
            logger.warning("no subject was scored; nothing written")
            return
        write_csv(rows(), scores_table(self.output_dir), columns=list(columns))
        summary = {"subjects": count, "skipped": len(skipped), "mean_dice": dice_sum / count, "abnormal": abnormal}
        report = {}
        if self.group_report:
            cohort = list(rows())
            if all("healthy" in r for r in cohort):
                from .study.analysis import group_summary

                codes = {safe_id(r["id"]): np.load(self.files.code(r["id"])) for r in cohort}
                report = group_summary(cohort, codes, Path(figures_dir(self.output_dir)))
                summary.update({k: v for k, v in report.items() if isinstance(v, (int, float))})
        ready = self.reference is not None and self.reference.ready
        settings = dict(self.settings.values) if self.settings is not None else {}
        uncalibrated = settings.pop("uncalibrated", {})
        document = {
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
            from .summary_page import write_summary_page

            write_summary_page(self.output_dir, rows(), document, self.files.output_ext)
        engine.state.metrics.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        logger.info("scores of %d subjects written to %s", count, scores_table(self.output_dir))
