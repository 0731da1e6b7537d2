"""The occupancy decoder f(z, x) (``decoder``), the table of latent codes it is trained with (``auto_decoder``),
ensembles of decoders used as one (``ensemble``) and the auto-decoder's training loss (``losses``).

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .auto_decoder import AutoDecoder, LatentTable
from .decoder import OccupancyDecoder
from .ensemble import DecoderEnsemble, build_decoder
from .losses import AutoDecoderLoss, OccupancyLoss

__all__ = [
    "AutoDecoder",
    "AutoDecoderLoss",
    "DecoderEnsemble",
    "LatentTable",
    "OccupancyDecoder",
    "OccupancyLoss",
    "build_decoder",
]
