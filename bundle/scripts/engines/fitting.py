"""Test-time fitting of latent codes with a frozen decoder: what validation, evaluation and inference run per batch."""

from __future__ import annotations

import math

import torch

from ..networks.decoder import OccupancyDecoder
from ..networks.losses import OccupancyLoss, point_dice


class LatentFitter:
    """Test-time optimisation of codes with a frozen decoder, for a batch of subjects at once, under a healthy prior.

    Each iteration draws ``points_per_iteration`` of each subject's points; the loss is the training loss (BCE +
    Dice) plus ``prior_weight`` x the squared Mahalanobis distance of the code from the healthy codes (the reference's
    shrinkage Gaussian; a plain squared norm without one). The prior keeps the fit on shapes the healthy subjects make
    likely: an abnormal detail is not reproduced, and shows in the residual. The learning rate follows a cosine decay
    to ``lr_final_fraction``. A subject whose smoothed loss has not improved by ``min_improvement`` (relative) for
    ``patience`` iterations stops moving; every subject's result depends on its own points only, not on the batch it
    was fitted in. With ``restarts > 1`` every subject is fitted from several starts (the prior's mean, then random
    training codes) and keeps the best fit; the spread of the restarts' point Dice is its stability.
    """

    def __init__(
        self,
        iterations: int = 100,
        lr: float = 0.02,
        prior_weight: float = 1e-3,
        points_per_iteration: int = 1024,
        restarts: int = 1,
        patience: int = 50,
        min_improvement: float = 2e-3,
        bf16: bool = False,
        seed: int = 0,
        lr_final_fraction: float = 0.1,
        loss_smoothing: float = 0.9,
    ) -> None:
        """
        Args:
            iterations: Adam steps per fit; lr: their initial learning rate, decayed on a cosine to
                ``lr_final_fraction`` of it.
            prior_weight: weight of the squared Mahalanobis distance from the healthy codes in the loss.
            points_per_iteration: points of each subject drawn per step (from the points it was given).
            restarts: starts per subject (the prior's mean, then training codes); the best fit is kept.
            patience, min_improvement: a subject whose loss, smoothed with weight ``loss_smoothing`` on the past,
                has not improved by ``min_improvement`` (relative) for ``patience`` steps stops moving.
            bf16: the decoder under bfloat16 autocast; seed: of the point draws and of the restarts' starts.

        Raises:
            ValueError: a non-positive number of iterations, points or learning rate, or a negative prior weight.
        """
        if iterations < 1 or lr <= 0 or prior_weight < 0 or points_per_iteration < 1:
            raise ValueError(
                f"invalid fit: iterations={iterations}, lr={lr}, prior_weight={prior_weight}, "
                f"points_per_iteration={points_per_iteration}"
            )
        self.iterations, self.lr, self.prior_weight = iterations, lr, prior_weight
        self.points_per_iteration, self.restarts = points_per_iteration, max(1, restarts)
        self.patience, self.min_improvement = patience, min_improvement
        self.bf16, self.seed = bf16, seed
        self.lr_final_fraction, self.loss_smoothing = lr_final_fraction, loss_smoothing
        self.loss = OccupancyLoss()

    def settings(self) -> dict:
        """The fit settings a healthy reference calibrated with this fitter depends on."""
        return {
            "fit_iterations": self.iterations,
            "fit_lr": self.lr,
            "fit_prior_weight": self.prior_weight,
            "fit_points_per_iteration": self.points_per_iteration,
            "fit_restarts": self.restarts,
            "fit_patience": self.patience,
            "fit_min_improvement": self.min_improvement,
        }

    def initial_codes(self, mean: torch.Tensor, train_codes: torch.Tensor, batch: int) -> torch.Tensor:
        """``[restarts * batch, D]`` starting codes: the prior's mean, then training codes drawn at random.

        Every subject gets the same starts, whatever batch it is in; their generator is separate from the point
        sampling's, so that restart 0 is the fit without restarts.
        """
        generator = torch.Generator().manual_seed(self.seed + 1)
        order = torch.randperm(len(train_codes), generator=generator)
        starts = [mean.reshape(1, -1).expand(batch, -1)]
        for restart in range(1, self.restarts):
            starts.append(train_codes[int(order[(restart - 1) % len(order)])].reshape(1, -1).expand(batch, -1))
        return torch.cat(starts).detach().clone()

    def _losses(self, decoder, codes, points, occupancy):
        with torch.autocast(device_type=points.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = decoder.decode_points(codes, points)
        return logits.float(), self.loss(logits.float(), occupancy)["total"]

    def _prior(self, codes: torch.Tensor, mean, precision) -> torch.Tensor:
        if precision is None:
            return codes.pow(2).sum(dim=1)
        diff = codes - mean
        return torch.einsum("bd,de,be->b", diff, precision, diff)

    def fit(
        self,
        decoder: OccupancyDecoder,
        points: torch.Tensor,
        occupancy: torch.Tensor,
        train_codes: torch.Tensor,
        prior_mean: torch.Tensor | None = None,
        prior_precision: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        batch, num_points = points.shape[:2]
        device = points.device
        train_codes = train_codes.to(device)
        mean = train_codes.mean(dim=0) if prior_mean is None else prior_mean.to(device=device, dtype=torch.float32)
        precision = None if prior_precision is None else prior_precision.to(device=device, dtype=torch.float32)
        generator = torch.Generator().manual_seed(self.seed)
        codes = torch.nn.Parameter(self.initial_codes(mean, train_codes, batch))
        all_points = points.repeat(self.restarts, 1, 1)
        all_occupancy = occupancy.repeat(self.restarts, 1, 1)
        optimizer = torch.optim.Adam([codes], lr=self.lr)
        frozen = [p for p in decoder.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        smoothed = torch.full((len(codes),), float("inf"))
        best = smoothed.clone()
        stale = torch.zeros(len(codes), dtype=torch.long)
        done_at = torch.full((len(codes),), float(self.iterations))
        try:
            for iteration in range(1, self.iterations + 1):
                for group in optimizer.param_groups:
                    cosine = 0.5 * (1 + math.cos(math.pi * (iteration - 1) / self.iterations))
                    group["lr"] = self.lr * (self.lr_final_fraction + (1 - self.lr_final_fraction) * cosine)
                take = torch.randperm(num_points, generator=generator)[: self.points_per_iteration].to(device)
                _, losses = self._losses(decoder, codes, all_points[:, take], all_occupancy[:, take])
                losses = losses + self.prior_weight * self._prior(codes, mean, precision)
                settled = (stale >= self.patience).to(device)
                kept = codes.detach()[settled].clone()
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                with torch.no_grad():  # a settled subject stops moving (its momentum would carry it on)
                    codes[settled] = kept
                current = losses.detach().cpu()
                weight = self.loss_smoothing
                smoothed = torch.where(torch.isinf(smoothed), current, weight * smoothed + (1 - weight) * current)
                improved = smoothed < best * (1 - self.min_improvement)
                best = torch.where(improved, smoothed, best)
                stale = torch.where(improved, torch.zeros_like(stale), stale + 1)
                done_at = torch.where((stale == self.patience) & (done_at == self.iterations), iteration, done_at)
                if bool((stale >= self.patience).all()):
                    break
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return self._select(decoder, codes.detach(), all_points, all_occupancy, batch, done_at, mean, precision)

    @torch.no_grad()
    def _select(self, decoder, codes, points, occupancy, batch: int, done_at, mean, precision) -> dict:
        """Evaluate every fit on all of its points and keep each subject's best restart."""
        logits, data_losses = self._losses(decoder, codes, points, occupancy)
        prior = self.prior_weight * self._prior(codes, mean, precision)
        losses = (data_losses + prior).reshape(self.restarts, batch)
        dice = point_dice(logits, occupancy).reshape(self.restarts, batch)
        best = losses.argmin(dim=0)
        pick = torch.arange(batch, device=best.device)
        return {
            "code": codes.reshape(self.restarts, batch, -1)[best, pick],
            "fit_loss": data_losses.reshape(self.restarts, batch)[best, pick],
            "fit_prior": prior.reshape(self.restarts, batch)[best, pick],
            "fit_point_dice": dice[best, pick],
            "fit_stability": dice.std(dim=0, unbiased=False),
            "fit_iterations": done_at.reshape(self.restarts, batch)[best.cpu(), pick.cpu()].to(codes.device),
        }
