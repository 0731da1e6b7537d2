"""What MONAI's stock engines are given rather than copied: the ``PrepareBatch`` and ``Inferer`` of training and of
the latent fit (``iterations``), the fit itself (``fitting``) and the decoding of a code on a grid (``decoding``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .fitting import LatentFitter
from .iterations import AutoDecoderPrepareBatch, FitPrepareBatch, LatentFitInferer

__all__ = ["AutoDecoderPrepareBatch", "FitPrepareBatch", "LatentFitInferer", "LatentFitter"]
