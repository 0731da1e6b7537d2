"""Custom code of the muscle_shape_inr_anomaly bundle, importable as ``scripts`` when the bundle root is on the path."""

from .errors import install_excepthook

install_excepthook()
