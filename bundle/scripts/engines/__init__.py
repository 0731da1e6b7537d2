"""What MONAI's stock engines are given rather than copied: the ``PrepareBatch`` and ``Inferer`` of training and of
the latent fit (``iterations``), the fit itself (``fitting``), the decoding of a code on a grid (``decoding``) and the
learning-rate schedule (``schedules``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .fitting import LatentFitter
from .iterations import AutoDecoderPrepareBatch, FitPrepareBatch, LatentFitInferer
from .schedules import CosineToFraction

__all__ = ["AutoDecoderPrepareBatch", "CosineToFraction", "FitPrepareBatch", "LatentFitInferer", "LatentFitter"]
