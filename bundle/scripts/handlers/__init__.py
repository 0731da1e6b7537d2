"""Ignite handlers: checkpoints that survive a killed run and the best model (``checkpoints``), training's loss,
progress, curves and final validation (``training``), the healthy reference calibrated at the end of training
(``reference``), each subject scored and written in worker processes (``scoring_pool``), and the scores a run writes
per subject (``writers``, ``subject_writer``) and as tables, group summaries and a page (``run_tables``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .checkpoints import BestModelSaver, ResumableCheckpoint, SafeCheckpointLoader
from .reference import HealthyReferenceHandler
from .run_tables import RunTables
from .saving import AtomicDiskSaver
from .scoring_pool import ScoringPool
from .subject_writer import SubjectWriter
from .training import (
    AutoDecoderLossHandler,
    EpochProgressBar,
    EveryEpochs,
    FinalValidationHandler,
    MeanOf,
    SubjectProgressBar,
    TrainingCurvesHandler,
)
from .writers import ScoresWriter

__all__ = [
    "AtomicDiskSaver",
    "BestModelSaver",
    "ResumableCheckpoint",
    "SafeCheckpointLoader",
    "AutoDecoderLossHandler",
    "EpochProgressBar",
    "EveryEpochs",
    "FinalValidationHandler",
    "HealthyReferenceHandler",
    "MeanOf",
    "RunTables",
    "ScoresWriter",
    "ScoringPool",
    "SubjectWriter",
    "SubjectProgressBar",
    "TrainingCurvesHandler",
]
