"""What made a run's outputs, recorded with them, so that a later run reuses only what it would have made itself.

A folder may hold the outputs of an earlier run. An inference run reuses a subject's files only when the earlier run
used the same model file (its SHA-256), the same bundle version, the same settings (the model's, with the user's label
and decision level, and the scoring options that change a score or a decision) and the same input (the file's SHA-256
and its observed slices). A training run resumes only a checkpoint of the same subjects (ids and file digests), fold
and settings. What does not match is made again (``resume`` true), or the run refuses in one line naming what differs
(``resume`` strict); ``resume`` false never reuses anything.
"""

from .digests import RESUME_MODES, ResumeError, differences, file_digest, resume_mode
from .runs import ReusedOutputs, RunRecord
from .training import TrainingRecord

__all__ = [
    "RESUME_MODES",
    "ResumeError",
    "ReusedOutputs",
    "RunRecord",
    "TrainingRecord",
    "differences",
    "file_digest",
    "resume_mode",
]
