"""Evaluator handler that writes what a user reads: the scores table, each fitted code, overlays and summaries."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from . import figures
from .files import atomic_path, safe_id, write_csv, write_json
from .scoring import HealthyReference

logger = logging.getLogger(__name__)


class ScoresWriter:
    """Collects every subject's scores and writes ``scores.csv`` and ``scores.json`` when the run completes.

    As each subject is scored it also writes its code (``<id>_code.npy``) and, with ``overlays``, a PNG of input
    vs reconstruction under ``figures/``. ``decision_score`` names the calibrated score whose 'abnormal' flag
    becomes the ``decision`` column. With ``group_report`` (a labelled cohort), group summaries are added.
    Summary numbers are published as the engine's metrics, for StatsHandler and MLflow.
    """

    def __init__(
        self,
        output_dir: str,
        reference: HealthyReference | None = None,
        decision_score: str = "combined",
        overlays: bool = True,
        group_report: bool = False,
        scores_key: str = "scores",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.reference, self.decision_score = reference, decision_score
        self.overlays, self.group_report, self.scores_key = overlays, group_report, scores_key
        self.rows: list[dict] = []
        self.codes: dict[str, np.ndarray] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        self.rows, self.codes = [], {}
        (self.output_dir / "figures").mkdir(parents=True, exist_ok=True)

    def iteration_completed(self, engine: Engine) -> None:
        for item in engine.state.output:
            row = dict(item[self.scores_key])
            flag = row.get(f"{self.decision_score}_abnormal")
            row["decision"] = "n/a" if flag is None else ("abnormal" if flag else "normal")
            subject = safe_id(row["id"])
            code = item["pred"]["code"].detach().cpu().numpy().astype(np.float32)
            with atomic_path(self.output_dir / f"{subject}_code.npy") as tmp, open(tmp, "wb") as stream:
                np.save(stream, code)
            self.codes[subject] = code
            if self.overlays and "recon" in item:
                label = item.get("label")
                figures.overlay(
                    np.asarray(torch.as_tensor(label)[0]),
                    np.asarray(torch.as_tensor(item["recon"])[0]),
                    label.affine,
                    f"{subject}: Dice {row['dice']:.3f}, {row['decision']}",
                    self.output_dir / "figures" / f"{subject}_overlay.png",
                )
            self.rows.append(row)
            logger.info("%s: Dice %.4f, HD95 %.2f mm, %s", subject, row["dice"], row["hd95_mm"], row["decision"])

    def completed(self, engine: Engine) -> None:
        if not self.rows:
            logger.warning("no subject was scored; nothing written")
            return
        write_csv(self.rows, self.output_dir / "scores.csv")
        summary = {
            "subjects": len(self.rows),
            "mean_dice": float(np.mean([r["dice"] for r in self.rows])),
            "abnormal": int(sum(r["decision"] == "abnormal" for r in self.rows)),
        }
        report = {}
        if self.group_report and all("group" in r for r in self.rows):
            from .summaries import group_summary

            report = group_summary(self.rows, self.codes, self.output_dir / "figures")
            summary.update({k: v for k, v in report.items() if isinstance(v, (int, float))})
        document = {
            "decision_score": self.decision_score,
            "level": None if self.reference is None else self.reference.level,
            "thresholds": {} if self.reference is None or not self.reference.ready else self.reference.thresholds(),
            "summary": summary,
            "groups": report,
            "subjects": self.rows,
        }
        write_json(document, self.output_dir / "scores.json")
        engine.state.metrics.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        logger.info("scores of %d subjects written to %s", len(self.rows), self.output_dir / "scores.csv")
