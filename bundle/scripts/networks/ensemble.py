"""Ensembles of decoders: K members of one architecture whose reconstruction is the mean of their occupancies.

Fitting and training noise make one model's residual noisy; K models trained with different seeds on the same healthy
subjects make different errors. An ensemble is used as one model: a subject's code is its K members' codes side by side
(``[B, K * D]``, one row of the ensemble's latent table), ``decode_points`` returns one logit per member (``[B, N,
K]``), and the ensemble's shape is where the members' mean occupancy probability exceeds one half. Each member's part of
the code is fitted against its own decoder (the parts do not interact), the healthy reference is calibrated on the
ensemble's reconstructions and codes as a whole, and the model file holds every member (``build_decoder`` rebuilds it
from its settings). ``bench/detection_power.py`` compared this with averaging each member's calibrated scores: the
mean occupancy separated as well or better and costs one set of metrics instead of K.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .decoder import OccupancyDecoder


class DecoderEnsemble(nn.Module):
    """``ensemble_size`` decoders of one architecture (see the module docstring); ``latent_dim`` is each member's.

    Args:
        ensemble_size: number of members K (at least 2; one member is a plain ``OccupancyDecoder``).
        latent_dim, hidden_dim, num_layers, inject_layers, fourier_features, residual: each member's architecture.
    """

    def __init__(
        self,
        ensemble_size: int,
        latent_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 8,
        inject_layers: Sequence[int] = (0, 4),
        fourier_features: int = 0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if ensemble_size < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {ensemble_size}")
        architecture = {
            "latent_dim": latent_dim,
            "hidden_dim": hidden_dim,
            "num_layers": num_layers,
            "inject_layers": inject_layers,
            "fourier_features": fourier_features,
            "residual": residual,
        }
        self.members = nn.ModuleList([OccupancyDecoder(**architecture) for _ in range(ensemble_size)])
        self.member_dim = latent_dim
        self.latent_dim = latent_dim * ensemble_size  # the size of a subject's code: every member's part

    def architecture(self) -> dict:
        return {**self.members[0].architecture(), "ensemble_size": len(self.members)}

    def decode_points(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, N, K]``, channel k from member k with its part of the codes (``[B, K * D]`` or per point
        ``[B, N, K * D]``)."""
        parts = codes.split(self.member_dim, dim=-1)
        return torch.cat([m.decode_points(part, coords) for m, part in zip(self.members, parts, strict=True)], dim=-1)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Channel-first field ``[B, K * D + 3, *spatial]`` to one logit channel per member ``[B, K, *spatial]``."""
        points = field.flatten(2).transpose(1, 2)
        logits = self.decode_points(points[..., : self.latent_dim], points[..., self.latent_dim :])
        return logits.transpose(1, 2).reshape([field.shape[0], len(self.members), *field.shape[2:]])


def build_decoder(ensemble_size: int = 1, **architecture) -> nn.Module:
    """The decoder a model's settings describe: an ``OccupancyDecoder``, or a ``DecoderEnsemble`` of several.

    Args:
        ensemble_size: members K; 1 gives a single decoder.
        architecture: ``latent_dim``, ``hidden_dim``, ``num_layers``, ``inject_layers``, ``fourier_features``,
            ``residual``.

    Returns:
        The decoder, untrained.
    """
    if ensemble_size == 1:
        return OccupancyDecoder(**architecture)
    return DecoderEnsemble(ensemble_size, **architecture)


def inside(logits: torch.Tensor) -> torch.Tensor:
    """Whether points lie inside the shape: the members' mean occupancy probability (last axis) above one half.

    For a single decoder this is ``logit > 0``.
    """
    if logits.shape[-1] == 1:
        return logits[..., 0] > 0
    return torch.sigmoid(logits.float()).mean(dim=-1) > 0.5
