"""What a trained model means, stored in its checkpoint: the frame, the architecture and the fit it was calibrated with.

A decoder's weights are only meaningful with the frame its points were expressed in (label, resampling, orientation,
coordinate scale) and the architecture that holds them; its healthy reference is only valid for codes fitted the way
it was calibrated, from the same kind of observation (every voxel, or a few slices: ``transforms.Observed``).
Training stores all of these with the weights (``ModelSettings``), and scoring (``settings_for_scoring``) builds its
network and chain from the checkpoint: a setting the user does not give is taken from the model, one that contradicts
it is refused, except fit and observation settings, which the user may change at the price of a calibration that no
longer holds (recorded in the outputs), or recalibrate the model for (configs/calibrate.json).
"""

from .model import ModelSettings, bundle_version
from .scoring import settings_for_scoring, training_defaults
from .types import OPTION_TYPES, TYPES, SettingTypeError, coerce, typed
from .vocabulary import (
    ARCHITECTURE,
    CALIBRATED,
    CALIBRATION,
    FIT,
    FRAME,
    INPUT,
    MODEL_SETTINGS,
    OBSERVATION,
    SettingsError,
    migrated,
    same,
)

__all__ = [
    "OPTION_TYPES",
    "TYPES",
    "ARCHITECTURE",
    "CALIBRATED",
    "CALIBRATION",
    "FIT",
    "FRAME",
    "INPUT",
    "MODEL_SETTINGS",
    "OBSERVATION",
    "ModelSettings",
    "SettingTypeError",
    "SettingsError",
    "bundle_version",
    "coerce",
    "migrated",
    "same",
    "settings_for_scoring",
    "training_defaults",
    "typed",
]
