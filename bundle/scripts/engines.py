"""What MONAI's engines need for an auto-decoder: batch preparation, and latent fitting as an inferer.

Training uses ``SupervisedTrainer`` unchanged: ``AutoDecoderPrepareBatch`` hands it the sampled points and the
subjects' table indices, and ``AutoDecoder`` looks the codes up. Validation, evaluation and inference use
``SupervisedEvaluator`` unchanged: its inferer, ``LatentFitInferer``, fits one code per subject with the decoder
frozen (many subjects at once, in one batch) and returns the codes with diagnostics of the fit.
"""

from __future__ import annotations

import math

import torch
from monai.engines.utils import PrepareBatch
from monai.inferers import Inferer

from .losses import OccupancyLoss, point_dice
from .networks import LatentTable, OccupancyDecoder


class AutoDecoderPrepareBatch(PrepareBatch):
    """Batch of subjects to ``(points, occupancy, (), {"case_index": ...})`` for ``AutoDecoder.forward``."""

    def __call__(self, batchdata, device=None, non_blocking=False, **kwargs):
        points = batchdata["points"].to(device=device, non_blocking=non_blocking)
        occupancy = batchdata["occupancy"].to(device=device, non_blocking=non_blocking)
        case_index = torch.as_tensor(batchdata["case_index"]).to(device=device, non_blocking=non_blocking)
        return points, occupancy, (), {"case_index": case_index}


class FitPrepareBatch(PrepareBatch):
    """Batch of subjects to ``(points, label, (), {"occupancy": ...})`` for ``LatentFitInferer``.

    ``label`` (the input masks on their own grids) becomes the evaluator's ``label`` output for postprocessing and
    metrics; it stays on the CPU, where decoding and scoring use it.
    """

    def __call__(self, batchdata, device=None, non_blocking=False, **kwargs):
        points = batchdata["points"].to(device=device, non_blocking=non_blocking)
        occupancy = batchdata["occupancy"].to(device=device, non_blocking=non_blocking)
        return points, batchdata.get("label"), (), {"occupancy": occupancy}


class LatentFitter:
    """Test-time optimisation of codes with a frozen decoder, for a batch of subjects at once.

    Each iteration draws ``points_per_iteration`` of each subject's points; the loss is the training loss (BCE +
    Dice + ``code_weight`` x squared code norm). The learning rate follows a cosine decay to a tenth. Fitting stops
    early once no subject's smoothed loss has improved by ``min_improvement`` (relative) for ``patience``
    iterations. With ``restarts > 1`` every subject is fitted from several starts (the mean training code, then
    random training codes) and keeps the best fit; the spread of the restarts' point Dice is its stability.
    """

    def __init__(
        self,
        iterations: int = 300,
        lr: float = 5e-3,
        code_weight: float = 1e-4,
        points_per_iteration: int = 4096,
        restarts: int = 1,
        patience: int = 50,
        min_improvement: float = 2e-3,
        bf16: bool = False,
        seed: int = 0,
    ) -> None:
        self.iterations, self.lr, self.code_weight = iterations, lr, code_weight
        self.points_per_iteration, self.restarts = points_per_iteration, max(1, restarts)
        self.patience, self.min_improvement = patience, min_improvement
        self.bf16, self.seed = bf16, seed
        self.loss = OccupancyLoss()

    def initial_codes(self, train_codes: torch.Tensor, batch: int) -> torch.Tensor:
        """``[restarts * batch, D]`` starting codes: the mean training code, then random training codes.

        Their generator is separate from the point sampling's, so that restart 0 is the fit without restarts.
        """
        generator = torch.Generator().manual_seed(self.seed + 1)
        starts = [train_codes.mean(dim=0, keepdim=True).expand(batch, -1)]
        for _ in range(1, self.restarts):
            rows = torch.randint(0, len(train_codes), (batch,), generator=generator)
            starts.append(train_codes[rows.to(train_codes.device)])
        return torch.cat(starts).detach().clone()

    def _losses(self, decoder, codes, points, occupancy):
        with torch.autocast(device_type=points.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = decoder.decode_points(codes, points)
        return logits.float(), self.loss(logits.float(), occupancy)["total"]

    def fit(self, decoder: OccupancyDecoder, points, occupancy, train_codes: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, num_points = points.shape[:2]
        generator = torch.Generator().manual_seed(self.seed)
        codes = torch.nn.Parameter(self.initial_codes(train_codes.to(points.device), batch))
        all_points = points.repeat(self.restarts, 1, 1)
        all_occupancy = occupancy.repeat(self.restarts, 1, 1)
        optimizer = torch.optim.Adam([codes], lr=self.lr)
        frozen = [p for p in decoder.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        smoothed = torch.full((len(codes),), float("inf"))
        best = smoothed.clone()
        stale = torch.zeros(len(codes), dtype=torch.long)
        iteration = 0
        try:
            for iteration in range(1, self.iterations + 1):
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * (iteration - 1) / self.iterations)))
                take = torch.randperm(num_points, generator=generator)[: self.points_per_iteration].to(points.device)
                _, losses = self._losses(decoder, codes, all_points[:, take], all_occupancy[:, take])
                losses = losses + self.code_weight * codes.pow(2).sum(dim=1)
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                current = losses.detach().cpu()
                smoothed = torch.where(torch.isinf(smoothed), current, 0.9 * smoothed + 0.1 * current)
                improved = smoothed < best * (1 - self.min_improvement)
                best = torch.where(improved, smoothed, best)
                stale = torch.where(improved, torch.zeros_like(stale), stale + 1)
                if bool((stale >= self.patience).all()):
                    break
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return self._select(decoder, codes.detach(), all_points, all_occupancy, batch, iteration)

    @torch.no_grad()
    def _select(self, decoder, codes, points, occupancy, batch: int, iterations: int) -> dict[str, torch.Tensor]:
        """Evaluate every fit on all of its points and keep each subject's best restart."""
        logits, losses = self._losses(decoder, codes, points, occupancy)
        dice = point_dice(logits, occupancy).reshape(self.restarts, batch)
        losses = losses.reshape(self.restarts, batch)
        best = losses.argmin(dim=0)
        pick = torch.arange(batch, device=best.device)
        return {
            "code": codes.reshape(self.restarts, batch, -1)[best, pick],
            "fit_loss": losses[best, pick],
            "fit_point_dice": dice[best, pick],
            "fit_stability": dice.std(dim=0, unbiased=False),
            "fit_iterations": torch.full((batch,), float(iterations), device=codes.device),
        }


class LatentFitInferer(Inferer):
    """Inferer that fits codes for a batch of subjects: ``inferer(points, decoder, occupancy=...)``.

    ``latent_table`` supplies the training codes the fits start from. The evaluator calls inferers under
    ``torch.no_grad()``; fitting needs gradients with respect to the codes, so it re-enables them locally.
    """

    def __init__(self, fitter: LatentFitter, latent_table: LatentTable) -> None:
        super().__init__()
        self.fitter, self.latent_table = fitter, latent_table

    def __call__(self, inputs: torch.Tensor, network: OccupancyDecoder, *args, occupancy=None, **kwargs):
        if occupancy is None:
            raise ValueError("LatentFitInferer needs the occupancy of the points (occupancy=...)")
        with torch.enable_grad():
            return self.fitter.fit(network, inputs, occupancy, self.latent_table.codes.weight.detach())
