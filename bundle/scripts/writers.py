"""Evaluator handler that writes what a user reads: the scores table, each fitted code, overlays and summaries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from . import figures
from .datasets import SubjectDataset
from .files import atomic_path, remove_stale_temporaries, safe_id, write_csv, write_json
from .postprocessing import output_path
from .scoring import HealthyReference

logger = logging.getLogger(__name__)
LABELMAPS = ("recon", "anomaly_map")


class SubjectOutputs:
    """A subject's output files; ``self(item)`` tells whether they are all complete (its scores are written last)."""

    def __init__(self, output_dir: str, output_ext: str = ".nii.gz") -> None:
        self.output_dir, self.output_ext = Path(output_dir), output_ext

    def scores(self, subject_id: str) -> Path:
        return self.output_dir / f"{safe_id(subject_id)}_scores.json"

    def code(self, subject_id: str) -> Path:
        return self.output_dir / f"{safe_id(subject_id)}_code.npy"

    def __call__(self, item: dict) -> bool:
        files = [self.scores(item["id"])]
        files += [output_path(self.output_dir, item["id"], k, item["image"], self.output_ext) for k in LABELMAPS]
        return all(f.is_file() for f in files)


class ScoresWriter:
    """Writes each subject's code (``<id>_code.npy``), overlay (with ``overlays``) and scores (``<id>_scores.json``,
    last, marking the subject complete) as it is scored, and ``scores.csv``/``scores.json`` when the run completes.

    The tables also hold the subjects an interrupted earlier run completed (``dataset.reused``) and list the files
    skipped as unusable (``dataset.skipped``). ``decision_score`` names the calibrated score whose 'abnormal' flag
    becomes the ``decision`` column. With ``group_report`` (a labelled cohort), group summaries are added. Summary
    numbers become the engine's metrics, for StatsHandler and MLflow.
    """

    def __init__(
        self,
        output_dir: str,
        reference: HealthyReference | None = None,
        decision_score: str = "combined",
        overlays: bool = True,
        group_report: bool = False,
        dataset: SubjectDataset | None = None,
        scores_key: str = "scores",
    ) -> None:
        self.outputs = SubjectOutputs(output_dir)
        self.output_dir = Path(output_dir)
        self.reference, self.decision_score, self.dataset = reference, decision_score, dataset
        self.overlays, self.group_report, self.scores_key = overlays, group_report, scores_key
        self.rows: dict[str, dict] = {}
        self.codes: dict[str, np.ndarray] = {}

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        self.rows, self.codes = {}, {}
        (self.output_dir / "figures").mkdir(parents=True, exist_ok=True)
        for folder in (self.output_dir, self.output_dir / "figures"):
            remove_stale_temporaries(folder)

    def iteration_completed(self, engine: Engine) -> None:
        for item in engine.state.output:
            row = dict(item[self.scores_key])
            flag = row.get(f"{self.decision_score}_abnormal")
            row["decision"] = "n/a" if flag is None else ("abnormal" if flag else "normal")
            subject = safe_id(row["id"])
            code = item["pred"]["code"].detach().cpu().numpy().astype(np.float32)
            with atomic_path(self.outputs.code(subject)) as tmp, open(tmp, "wb") as stream:
                np.save(stream, code)
            if self.overlays and "recon" in item:
                label = item["label"]
                figures.overlay(
                    np.asarray(torch.as_tensor(label)[0]),
                    np.asarray(torch.as_tensor(item["recon"])[0]),
                    label.affine,
                    f"{subject}: Dice {row['dice']:.3f}, {row['decision']}",
                    self.output_dir / "figures" / f"{subject}_overlay.png",
                )
            write_json(row, self.outputs.scores(subject))
            self.rows[subject], self.codes[subject] = row, code
            logger.info("%s: Dice %.4f, HD95 %.2f mm, %s", subject, row["dice"], row["hd95_mm"], row["decision"])

    def _reused(self) -> None:
        for item in self.dataset.reused if self.dataset is not None else []:
            subject = safe_id(item["id"])
            self.rows[subject] = json.loads(self.outputs.scores(subject).read_text())
            self.codes[subject] = np.load(self.outputs.code(subject))

    def completed(self, engine: Engine) -> None:
        self._reused()
        skipped = self.dataset.skipped if self.dataset is not None else []
        for entry in skipped:
            logger.warning("not scored: %s", entry["reason"])
        order = [safe_id(i["id"]) for i in self.dataset.data] if self.dataset is not None else list(self.rows)
        rows = [self.rows[s] for s in order if s in self.rows]
        if not rows:
            logger.warning("no subject was scored; nothing written")
            return
        write_csv(rows, self.output_dir / "scores.csv")
        summary = {
            "subjects": len(rows),
            "skipped": len(skipped),
            "mean_dice": float(np.mean([r["dice"] for r in rows])),
            "abnormal": int(sum(r["decision"] == "abnormal" for r in rows)),
        }
        report = {}
        if self.group_report and all("group" in r for r in rows):
            from .study.analysis import group_summary

            report = group_summary(rows, self.codes, self.output_dir / "figures")
            summary.update({k: v for k, v in report.items() if isinstance(v, (int, float))})
        ready = self.reference is not None and self.reference.ready
        document = {
            "decision_score": self.decision_score,
            "level": self.reference.level if ready else None,
            "thresholds": self.reference.thresholds() if ready else {},
            "summary": summary,
            "groups": report,
            "skipped": skipped,
            "subjects": rows,
        }
        write_json(document, self.output_dir / "scores.json")
        engine.state.metrics.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        logger.info("scores of %d subjects written to %s", len(rows), self.output_dir / "scores.csv")
