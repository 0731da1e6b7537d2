"""Dictionary transforms, in the order a subject meets them: loading and checking a labelmap (``loading``), the muscle
in it and its centre (``muscle``), what is observed of it (``observation``), surface and point sampling
(``sampling``), decoding and scoring a fitted code (``postprocessing``, ``validation``), judging its scores against the
healthy reference (``calibrate``) and the files written for it (``outputs``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .calibrate import CalibrateScoresd
from .loading import CheckLabelmapd, LabelmapError, LoadLabelmapd
from .muscle import CentreOnMassd, Islandsd, SelectLabeld
from .observation import ObservationError, Observed
from .outputs import AnomalyMapd, SaveLabelmapd
from .postprocessing import CropToSpatialShaped, DecodeLatentd, ScoreSubjectd
from .sampling import FindSurfaced, SamplePointsd
from .validation import ScoreCalibrationSubjectsd, calibration_dice, subject_dice

__all__ = [
    "AnomalyMapd",
    "CalibrateScoresd",
    "CentreOnMassd",
    "CheckLabelmapd",
    "CropToSpatialShaped",
    "DecodeLatentd",
    "FindSurfaced",
    "Islandsd",
    "LabelmapError",
    "LoadLabelmapd",
    "ObservationError",
    "Observed",
    "SamplePointsd",
    "SaveLabelmapd",
    "ScoreCalibrationSubjectsd",
    "ScoreSubjectd",
    "SelectLabeld",
    "calibration_dice",
    "subject_dice",
]
