"""What makes a shape abnormal, in the order a score is made: reconstruction metrics (``metrics``), surface
deviations and sections (``deviation``, ``sections``), the healthy norms (``norms``), calibrated thresholds
(``calibration``), the abnormal axis from labelled cases (``axis``) and the healthy reference that holds them all
(``reference``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .axis import AbnormalAxis, AxisError
from .calibration import ScoreCalibration, decision_threshold, normal_threshold
from .norms import LatentNorm, RegionalNorm
from .reference import HealthyReference

__all__ = [
    "AbnormalAxis",
    "AxisError",
    "HealthyReference",
    "LatentNorm",
    "RegionalNorm",
    "ScoreCalibration",
    "decision_threshold",
    "normal_threshold",
]
