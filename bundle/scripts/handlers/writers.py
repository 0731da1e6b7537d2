"""Evaluator handler that writes what a user reads: the scores table, each fitted code, overlays and summaries."""

from __future__ import annotations

import logging
from pathlib import Path

from ignite.engine import Engine, Events

from ..data.datasets import SubjectDataset
from ..data.files import remove_stale_temporaries
from ..layout import SubjectFiles, figures_dir, safe_id
from ..records import RunRecord
from ..scoring.reference import HealthyReference
from ..settings import ModelSettings
from .run_tables import RunTables
from .subject_writer import SubjectWriter
from .writing_queue import WritingQueue

logger = logging.getLogger(__name__)

WRITTEN = "written"  # an item whose files a scoring process has written already (``scoring_pool``)


class ScoresWriter:
    """Writes each subject's code (``<id>_code.npy``), overlay (with ``overlays``), meshes (with ``meshes``) and scores
    (``<id>_scores.json``, last, marking the subject complete; the row the chain made: ``ScoreSubjectd`` then
    ``CalibrateScoresd``) as it is scored, on ``writer_threads`` background threads (``WritingQueue``); when the run
    completes, ``RunTables`` merges them into the run's tables and pages, and their summary numbers become the engine's
    metrics, for StatsHandler and MLflow. Without a ``dataset`` to read the rows back from, they are kept in memory.

    Args:
        output_dir: the run's scores folder (per-subject files, tables, figures).
        reference: the model's healthy reference: its norm of deviation maps colours the meshes; scores.json says
            what the decisions rest on.
        settings: the model settings the run used, recorded in scores.json (``RunTables``).
        decision_score: the calibrated score that made the ``decision`` (recorded in scores.json).
        overlays, meshes: write each subject's overlay PNG, and its surface meshes (VTK and PLY).
        summary_page, group_report: write the run's summary page, and group summaries (``RunTables``).
        dataset: the ``SubjectDataset`` being scored, whose items give the rows' order; None keeps rows in memory.
        output_ext: extension of the subject's labelmaps (``layout.SubjectFiles``).
        scores_key: where each item holds its raw scores row.
        writer_threads: threads writing the subjects' files while the engine goes on (0: on the engine's thread).
        record: what the run is made of (``records.RunRecord``), written into every subject's scores (``made_by``)
            and scores.json, so that a later run into the same folder knows what it may reuse.

    Raises:
        SettingsError: when the run starts, ``decision_score`` is not a score the reference is calibrated for.
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
        writer_threads: int = 1,
        record: RunRecord | None = None,
    ) -> None:
        self.files = SubjectFiles(output_dir, output_ext)
        self.output_dir = Path(output_dir)
        self.reference, self.dataset, self.decision_score = reference, dataset, decision_score
        self.overlays, self.meshes, self.scores_key, self.record = overlays, meshes, scores_key, record
        self.rows: dict[str, dict] = {}
        self.queue = WritingQueue(writer_threads)
        self.tables = RunTables(
            output_dir, reference, settings, decision_score, summary_page, group_report, dataset, output_ext, record
        )

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        # COMPLETED also follows terminate(); after an error the queued subjects are still written (the pool's threads
        # finish their queue before the interpreter exits), and no EXCEPTION_RAISED handler here swallows the error
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine) -> None:
        self.rows = {}
        figure_dir = Path(figures_dir(self.output_dir))
        figure_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.output_dir, figure_dir):
            remove_stale_temporaries(folder)

    def subject_writer(self) -> SubjectWriter:
        """What writes one subject's files, on this handler's threads or in a scoring process (``ScoringPool``)."""
        norm = self.reference.deviation if self.reference is not None else None
        return SubjectWriter(self.files, self.overlays, self.meshes, norm, self.record)

    def iteration_completed(self, engine: Engine) -> None:
        self.take(engine.state.output)

    def take(self, outputs: list[dict]) -> None:
        """A scored batch's outputs: kept as rows (without a dataset) and written unless a scoring process did."""
        batch = [(item, item[self.scores_key]) for item in outputs]
        if self.dataset is None:  # nothing to read the rows back from
            self.rows.update({safe_id(row["id"]): row for _, row in batch})
        unwritten = [(item, row) for item, row in batch if not item.get(WRITTEN)]  # a scoring process wrote the rest
        if unwritten:
            self.queue.submit_batch(self.subject_writer(), unwritten)

    def completed(self, engine: Engine) -> None:
        self.queue.drain()
        self.queue.close()
        summary = self.tables.write(self.rows if self.dataset is None else None)
        engine.state.metrics.update(summary)
