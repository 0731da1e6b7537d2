"""What a run reads and writes: datalists and folds, the subjects of a run, file writing and voxel/world geometry.

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .datalist import DatalistError, load_split, read_datalist, validation_items
from .datasets import SubjectDataset
from .inputs import calibration_items, file_items, inference_items, list_labelmaps

__all__ = [
    "DatalistError",
    "SubjectDataset",
    "calibration_items",
    "file_items",
    "inference_items",
    "list_labelmaps",
    "load_split",
    "read_datalist",
    "validation_items",
]
