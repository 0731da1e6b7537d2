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
    to ``lr_final_fraction``. A subject stops moving when its loss reaches a plateau (``PlateauStop``); every subject's
    result depends on its own points only, not on the batch it was fitted in. With ``restarts > 1`` every subject is
    fitted from several starts (the prior's mean, then random training codes) and keeps the best fit; the spread of the
    restarts' point Dice is its stability. With ``translation`` each subject's points are also moved by a shift of its
    own, fitted with the code (model units, returned as ``translation``): a partial observation's centre of mass is not
    the muscle's.
    """

    RECORDED = ("iterations", "lr", "prior_weight", "points_per_iteration", "restarts", "patience", "min_improvement")

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
        translation: bool = False,
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
            translation: fit a shift of each subject's points with its code (the decoder sees ``points + shift``).

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
        self.translation = translation
        self.loss = OccupancyLoss()

    def settings(self) -> dict:
        """The fit settings (``fit_<name>``) a healthy reference calibrated with this fitter depends on."""
        return {f"fit_{name}": getattr(self, name) for name in self.RECORDED}

    def _learning_rate(self, iteration: int) -> float:
        """The cosine decay from ``lr`` to ``lr_final_fraction`` of it over the iterations."""
        cosine = 0.5 * (1 + math.cos(math.pi * (iteration - 1) / self.iterations))
        return self.lr * (self.lr_final_fraction + (1 - self.lr_final_fraction) * cosine)

    def _losses(self, decoder, codes, points, occupancy):
        with torch.autocast(device_type=points.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = decoder.decode_points(codes, points)
        logits = logits.float()
        return logits, self.loss(logits, occupancy)["total"]

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
        codes = torch.nn.Parameter(initial_codes(mean, train_codes, batch, self.restarts, self.seed))
        shift = torch.nn.Parameter(torch.zeros(len(codes), 1, 3, device=device)) if self.translation else None
        all_points = points.repeat(self.restarts, 1, 1)
        all_occupancy = occupancy.repeat(self.restarts, 1, 1)
        moving = [codes] if shift is None else [codes, shift]
        optimizer = torch.optim.Adam(moving, lr=self.lr)
        frozen = [p for p in decoder.parameters() if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        plateau = PlateauStop(len(codes), self.iterations, self.patience, self.min_improvement, self.loss_smoothing)
        try:
            for iteration in range(1, self.iterations + 1):
                for group in optimizer.param_groups:
                    group["lr"] = self._learning_rate(iteration)
                take = torch.randperm(num_points, generator=generator)[: self.points_per_iteration].to(device)
                sampled = all_points[:, take] if shift is None else all_points[:, take] + shift
                _, losses = self._losses(decoder, codes, sampled, all_occupancy[:, take])
                losses = losses + self.prior_weight * prior_energy(codes, mean, precision)
                settled = plateau.settled.to(device)
                kept = [value.detach()[settled].clone() for value in moving]
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                with torch.no_grad():  # a settled subject stops moving (its momentum would carry it on)
                    for value, held in zip(moving, kept, strict=True):
                        value[settled] = held
                if plateau.update(losses.detach().cpu(), iteration):
                    break
        finally:
            for p in frozen:
                p.requires_grad_(True)
        with torch.no_grad():  # every fit on all of its points, then each subject's best restart
            placed = all_points if shift is None else all_points + shift
            logits, data_losses = self._losses(decoder, codes.detach(), placed, all_occupancy)
            prior = self.prior_weight * prior_energy(codes.detach(), mean, precision)
            dice = point_dice(logits, all_occupancy)
        fits = {"code": codes.detach(), "fit_loss": data_losses, "fit_prior": prior, "fit_point_dice": dice}
        if shift is not None:
            fits["translation"] = shift.detach()[:, 0]
        return best_restarts(fits, self.restarts, plateau.done_at)


def initial_codes(mean: torch.Tensor, train_codes: torch.Tensor, batch: int, restarts: int, seed: int) -> torch.Tensor:
    """``[restarts * batch, D]`` starting codes: the prior's mean, then training codes drawn at random.

    Every subject gets the same starts, whatever batch it is in; their generator (``seed + 1``) is separate from the
    point sampling's, so that restart 0 is the fit without restarts.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    order = torch.randperm(len(train_codes), generator=generator)
    starts = [mean.reshape(1, -1).expand(batch, -1)]
    for restart in range(1, restarts):
        starts.append(train_codes[int(order[(restart - 1) % len(order)])].reshape(1, -1).expand(batch, -1))
    return torch.cat(starts).detach().clone()


def prior_energy(codes: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor | None) -> torch.Tensor:
    """Each code's squared Mahalanobis distance from the healthy codes (a plain squared norm without a precision)."""
    if precision is None:
        return codes.pow(2).sum(dim=1)
    diff = codes - mean
    return torch.einsum("bd,de,be->b", diff, precision, diff)


class PlateauStop:
    """Per-subject early stop: a subject whose loss, smoothed with weight ``smoothing`` on the past, has not improved
    by ``min_improvement`` (relative) for ``patience`` iterations is settled; ``done_at`` is the iteration it settled
    at (``iterations`` if it never did). Each subject depends on its own losses only, not on its batch."""

    def __init__(self, count: int, iterations: int, patience: int, min_improvement: float, smoothing: float) -> None:
        self.patience, self.min_improvement, self.smoothing, self.iterations = (
            patience,
            min_improvement,
            smoothing,
            iterations,
        )
        self.smoothed = torch.full((count,), float("inf"))
        self.best = self.smoothed.clone()
        self.stale = torch.zeros(count, dtype=torch.long)
        self.done_at = torch.full((count,), float(iterations))

    @property
    def settled(self) -> torch.Tensor:
        return self.stale >= self.patience

    def update(self, losses: torch.Tensor, iteration: int) -> bool:
        """Take this iteration's losses (on the CPU); whether every subject is settled."""
        weight = self.smoothing
        self.smoothed = torch.where(torch.isinf(self.smoothed), losses, weight * self.smoothed + (1 - weight) * losses)
        improved = self.smoothed < self.best * (1 - self.min_improvement)
        self.best = torch.where(improved, self.smoothed, self.best)
        self.stale = torch.where(improved, torch.zeros_like(self.stale), self.stale + 1)
        newly = (self.stale == self.patience) & (self.done_at == self.iterations)
        self.done_at = torch.where(newly, iteration, self.done_at)
        return bool(self.settled.all())


def best_restarts(fits: dict[str, torch.Tensor], restarts: int, done_at: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each subject's restart of lowest loss (data + prior) out of ``[restarts * batch, ...]`` fits, with the spread
    of the restarts' point Dice (``fit_stability``) and the iteration its fit settled at."""
    batch = len(fits["code"]) // restarts
    losses = (fits["fit_loss"] + fits["fit_prior"]).reshape(restarts, batch)
    best = losses.argmin(dim=0)
    pick = torch.arange(batch, device=best.device)
    out = {name: value.reshape(restarts, batch, *value.shape[1:])[best, pick] for name, value in fits.items()}
    out["fit_stability"] = fits["fit_point_dice"].reshape(restarts, batch).std(dim=0, unbiased=False)
    out["fit_iterations"] = done_at.reshape(restarts, batch)[best.cpu(), pick.cpu()].to(fits["code"].device)
    return out
