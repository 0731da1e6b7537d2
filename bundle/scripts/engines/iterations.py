"""What MONAI's engines need for an auto-decoder: batch preparation, and latent fitting as an inferer.

Training uses ``SupervisedTrainer`` unchanged: ``AutoDecoderPrepareBatch`` hands it the sampled points and the
subjects' table indices, and ``AutoDecoder`` looks the codes up. Validation, evaluation and inference use
``SupervisedEvaluator`` unchanged: its inferer, ``LatentFitInferer``, fits one code per subject with the decoder
frozen (many subjects at once, in one batch; ``fitting.LatentFitter``) and returns the codes with diagnostics.
"""

from __future__ import annotations

import torch
from monai.engines.utils import PrepareBatch
from monai.inferers import Inferer

from ..networks.auto_decoder import LatentTable
from ..networks.decoder import OccupancyDecoder
from ..scoring.reference import HealthyReference
from .fitting import LatentFitter


class AutoDecoderPrepareBatch(PrepareBatch):
    """Batch of subjects to ``(points, occupancy, (), {"case_index": ...})`` for ``AutoDecoder.forward``.

    Args:
        None at construction. The trainer calls it with ``batchdata`` (a collated batch holding ``points``,
        ``occupancy`` and ``case_index``), ``device`` and ``non_blocking``, and gets all three moved to ``device``.
    """

    def __call__(self, batchdata, device=None, non_blocking=False, **kwargs):
        points = batchdata["points"].to(device=device, non_blocking=non_blocking)
        occupancy = batchdata["occupancy"].to(device=device, non_blocking=non_blocking)
        case_index = torch.as_tensor(batchdata["case_index"]).to(device=device, non_blocking=non_blocking)
        return points, occupancy, (), {"case_index": case_index}


class FitPrepareBatch(PrepareBatch):
    """Batch of subjects to ``(points, label, (), {"occupancy": ...})`` for ``LatentFitInferer``.

    ``label`` (the input masks on their own grids) becomes the evaluator's ``label`` output for postprocessing and
    metrics; it stays on the CPU, where decoding and scoring use it.

    Args:
        None at construction. The evaluator calls it with ``batchdata`` (a collated batch holding ``points``,
        ``occupancy`` and optionally ``label``), ``device`` and ``non_blocking``; only the first two move.
    """

    def __call__(self, batchdata, device=None, non_blocking=False, **kwargs):
        points = batchdata["points"].to(device=device, non_blocking=non_blocking)
        occupancy = batchdata["occupancy"].to(device=device, non_blocking=non_blocking)
        return points, batchdata.get("label"), (), {"occupancy": occupancy}


class LatentFitInferer(Inferer):
    """Inferer that fits codes for a batch of subjects: ``inferer(points, decoder, occupancy=...)``.

    ``latent_table`` supplies the training codes restarts start from; ``reference`` (its shrinkage Gaussian of the
    healthy codes) the fit's prior. The evaluator calls inferers under ``torch.no_grad()``; fitting needs gradients
    with respect to the codes, so it re-enables them locally.

    Args:
        fitter: the fit (iterations, prior weight, restarts...) run on each batch.
        latent_table: the training codes: later restarts start from codes drawn among them (and, without a prior,
            the first from their mean).
        reference: the healthy reference whose latent Gaussian is the prior; None, or one not yet fitted, leaves the
            fitter's prior without a reference (see ``fitting.LatentFitter``).

    Raises:
        ValueError: when called without ``occupancy``.
    """

    def __init__(self, fitter: LatentFitter, latent_table: LatentTable, reference: HealthyReference | None = None):
        super().__init__()
        self.fitter, self.latent_table, self.reference = fitter, latent_table, reference

    def __call__(self, inputs: torch.Tensor, network: OccupancyDecoder, *args, occupancy=None, **kwargs):
        if occupancy is None:
            raise ValueError("LatentFitInferer needs the occupancy of the points (occupancy=...)")
        prior = {}
        if self.reference is not None and self.reference.latent.mean is not None:
            prior = {"prior_mean": self.reference.latent.mean, "prior_precision": self.reference.latent.precision}
        with torch.enable_grad():
            return self.fitter.fit(network, inputs, occupancy, self.latent_table.vectors, **prior)
