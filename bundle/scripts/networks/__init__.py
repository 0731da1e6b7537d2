"""The occupancy decoder f(z, x), the table of latent codes it is trained with, ensembles of decoders used as one,
and the auto-decoder's training loss.

Code inside the bundle imports from the modules themselves; these names are for configs and users.
"""

from .decoder import AutoDecoder, LatentTable, OccupancyDecoder
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
