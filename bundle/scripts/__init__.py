"""Custom code of the muscle_shape_inr_anomaly bundle, importable as ``scripts`` when the bundle root is on the path.

The modules at this level are the ones the configs use; ``study`` and ``synthetic`` hold the cross-validation study
and the synthetic cohorts. Importing the package changes nothing global: workflows install the bundle's one-line
error reporting (``errors.install_excepthook``) when they start.
"""

from . import checkpoints, layout, runtime, settings, switches, tracking, validation  # noqa: E402  (named in configs)

__all__ = ["checkpoints", "layout", "runtime", "settings", "switches", "tracking", "validation"]
