"""The occupancy auto-decoder: an MLP decoder f(z, x) and the table of per-subject latent codes.

The decoder has two entry points with the same weights. ``decode_points(codes, coords)`` is the fast path the
engines use: a subject's code is constant over its points, so its contribution to every layer that receives the
input is computed once per subject and added as a bias, instead of concatenating the code to every point.
``forward(field)`` takes a channel-first field ``[B, code_dim + 3, *spatial]`` (code and coordinates as channels) and
returns ``[B, 1, *spatial]``, the form MONAI's ``verify_net_in_out`` and TorchScript export expect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class OccupancyDecoder(nn.Module):
    """DeepSDF-style MLP: ``num_layers`` hidden layers of ``hidden_dim`` units, conditioned on a ``latent_dim`` code.

    Layers listed in ``inject_layers`` receive the input ``[z, gamma(x)]`` (concatenated after the previous
    activation, DeepSDF's "latent in"); the others get a residual link ``h + relu(W h + b)`` when ``residual``.
    ``gamma`` is the identity or, with ``fourier_features > 0``, a random Fourier encoding of the coordinates.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 8,
        inject_layers: Sequence[int] = (0, 4),
        residual: bool = True,
        coord_dim: int = 3,
        fourier_features: int = 0,
        fourier_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if 0 not in inject_layers or any(not 0 <= i < num_layers for i in inject_layers):
            raise ValueError(f"inject_layers must include 0 and lie in [0, {num_layers}), got {list(inject_layers)}")
        self.latent_dim = latent_dim
        if latent_dim < 1 or hidden_dim < 1 or num_layers < 1:
            raise ValueError(
                f"latent_dim, hidden_dim and num_layers must be positive, got {latent_dim}, {hidden_dim}, {num_layers}"
            )
        self.hidden_dim = hidden_dim
        self.coord_dim = coord_dim
        self.inject_layers: list[int] = sorted(int(i) for i in inject_layers)
        self.residual = residual
        frequencies = torch.randn(fourier_features, coord_dim) * fourier_scale
        self.register_buffer("frequencies", frequencies)
        self.encoded_dim = coord_dim + 2 * fourier_features
        layers = []
        for i in range(num_layers):
            previous = self.hidden_dim if i > 0 else 0
            extra = latent_dim + self.encoded_dim if i in self.inject_layers else 0
            layers.append(nn.Linear(previous + extra, self.hidden_dim))
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(self.hidden_dim, 1)

    def architecture(self) -> dict:
        """The settings that rebuild this decoder (what a checkpoint records about it)."""
        return {
            "latent_dim": self.latent_dim,
            "hidden_dim": self.hidden_dim,
            "num_layers": len(self.layers),
            "inject_layers": list(self.inject_layers),
            "fourier_features": int(self.frequencies.shape[0]),
            "residual": self.residual,
            "ensemble_size": 1,
        }

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        if self.frequencies.shape[0] == 0:
            return coords
        projected = 2 * math.pi * coords @ self.frequencies.t()
        return torch.cat([coords, torch.sin(projected), torch.cos(projected)], dim=-1)

    def decode_points(self, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, N, 1]`` for codes ``[B, D]`` (one per subject, fast) or ``[B, N, D]`` (one per point).

        At an injection layer the code's part of the weights gives a per-subject bias, which ``baddbmm`` adds
        inside the matrix product of the other inputs: every pass over ``N x width`` activations costs as much
        as the product itself at this width, so the fewer passes the faster.
        """
        encoded = self.encode(coords)
        if codes.dim() == 3:  # one code per point: fold it into the points' inputs
            return self._decode_with_point_codes(codes, encoded)
        hidden = torch.zeros(0)
        for i, layer in enumerate(self.layers):
            if i in self.inject_layers:
                start = self.hidden_dim if i > 0 else 0
                weight = layer.weight
                code_bias = (codes @ weight[:, start : start + self.latent_dim].t() + layer.bias).unsqueeze(1)
                point_weight = weight[:, start + self.latent_dim :]
                inputs = encoded
                if i > 0:
                    point_weight = torch.cat([weight[:, :start], point_weight], dim=1)
                    inputs = torch.cat([hidden, encoded], dim=-1)
                batch_weight = point_weight.t().unsqueeze(0).expand(inputs.shape[0], -1, -1)
                hidden = torch.relu(torch.baddbmm(code_bias, inputs, batch_weight))
            else:
                activated = torch.relu(layer(hidden))
                hidden = hidden + activated if self.residual else activated
        return self.head(hidden)

    def _decode_with_point_codes(self, codes: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([codes, encoded], dim=-1)
        hidden = inputs
        for i, layer in enumerate(self.layers):
            if i in self.inject_layers:
                hidden = torch.relu(layer(inputs if i == 0 else torch.cat([hidden, inputs], dim=-1)))
            else:
                activated = torch.relu(layer(hidden))
                hidden = hidden + activated if self.residual else activated
        return self.head(hidden)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Channel-first field ``[B, latent_dim + 3, *spatial]`` to logits ``[B, 1, *spatial]``."""
        points = field.flatten(2).transpose(1, 2)
        logits = self.decode_points(points[..., : self.latent_dim], points[..., self.latent_dim :])
        out_shape = [field.shape[0], 1] + list(field.shape[2:])
        return logits.transpose(1, 2).reshape(out_shape)
