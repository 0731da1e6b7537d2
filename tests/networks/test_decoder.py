"""The decoder's two entry points agree, match a plain concatenating MLP, export to TorchScript; the code table."""

from __future__ import annotations

import math

import pytest
import torch

from scripts.networks.auto_decoder import AutoDecoder, LatentTable
from scripts.networks.decoder import OccupancyDecoder


def _plain_mlp(decoder: OccupancyDecoder, codes: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Reference: concatenate the code to every point and re-inject [z, x] at the inject layers (DeepSDF)."""
    inputs = torch.cat([codes[:, None, :].expand(-1, coords.shape[1], -1), decoder.encode(coords)], dim=-1)
    hidden = None
    for i, layer in enumerate(decoder.layers):
        if i in decoder.inject_layers:
            hidden = torch.relu(layer(inputs if hidden is None else torch.cat([hidden, inputs], dim=-1)))
        else:
            hidden = hidden + torch.relu(layer(hidden))
    return decoder.head(hidden)


@pytest.mark.parametrize("fourier", [0, 4])
def test_fast_path_equals_plain_concatenation(fourier):
    torch.manual_seed(0)
    decoder = OccupancyDecoder(latent_dim=16, num_layers=8, inject_layers=(0, 4), fourier_features=fourier)
    codes, coords = torch.randn(3, 16), torch.randn(3, 50, 3)
    expected = _plain_mlp(decoder, codes, coords)
    torch.testing.assert_close(decoder.decode_points(codes, coords), expected, rtol=1e-5, atol=1e-5)
    per_point = decoder.decode_points(codes[:, None, :].expand(-1, 50, -1), coords)
    torch.testing.assert_close(per_point, expected, rtol=1e-5, atol=1e-5)


def test_field_path_matches_points_and_scripts():
    torch.manual_seed(1)
    decoder = OccupancyDecoder(latent_dim=8).eval()
    codes, coords = torch.randn(2, 8), torch.randn(2, 4 * 5 * 6, 3)
    field = torch.cat([codes[:, :, None].expand(-1, -1, 120), coords.transpose(1, 2)], dim=1).reshape(2, 11, 4, 5, 6)
    out = decoder(field)
    assert out.shape == (2, 1, 4, 5, 6)
    torch.testing.assert_close(out.reshape(2, 1, -1).transpose(1, 2), decoder.decode_points(codes, coords))
    scripted = torch.jit.script(decoder)
    torch.testing.assert_close(scripted(field), out)


def test_architecture_is_configurable_and_checked():
    decoder = OccupancyDecoder(latent_dim=32, hidden_dim=64, num_layers=6, inject_layers=(0, 3), residual=False)
    assert len(decoder.layers) == 6 and decoder.layers[3].in_features == 64 + 32 + 3
    assert decoder.layers[1].in_features == 64 and decoder.head.out_features == 1
    with pytest.raises(ValueError, match="inject_layers"):
        OccupancyDecoder(inject_layers=(1, 4))
    with pytest.raises(ValueError, match="inject_layers"):
        OccupancyDecoder(num_layers=4, inject_layers=(0, 4))


def test_latent_table_initialisation_and_case_ids():
    torch.manual_seed(0)
    table = LatentTable(200, latent_dim=128, case_ids=[f"s{i}" for i in range(200)])
    assert table.codes.weight.std().item() == pytest.approx(1 / math.sqrt(128), rel=0.05)
    other = LatentTable(200, latent_dim=128)
    other.load_state_dict(table.state_dict())
    assert other.case_ids == table.case_ids and torch.equal(other.codes.weight, table.codes.weight)
    with pytest.raises(ValueError, match="case ids"):
        LatentTable(3, case_ids=["a"])
    resumed = LatentTable(200, latent_dim=128, case_ids=[f"t{i}" for i in range(200)])  # training other subjects
    with pytest.raises(ValueError, match=r"codes are for other subjects \(s0 != t0\)"):
        resumed.load_state_dict(table.state_dict())


def test_latent_table_resizes_only_when_asked():
    trained = LatentTable(7, latent_dim=8, case_ids=list("abcdefg"))
    with pytest.raises(RuntimeError, match="size mismatch"):
        LatentTable(2, latent_dim=8).load_state_dict(trained.state_dict())
    loaded = LatentTable(latent_dim=8, resize_on_load=True)
    loaded.load_state_dict(trained.state_dict())
    assert loaded.codes.weight.shape == (7, 8) and loaded.case_ids == list("abcdefg")


@pytest.mark.parametrize("bf16", [False, True])
def test_auto_decoder_returns_float_logits_and_the_codes_used(bf16):
    table = LatentTable(5, latent_dim=8)
    model = AutoDecoder(OccupancyDecoder(latent_dim=8), table, bf16=bf16)
    out = model(torch.randn(2, 30, 3), torch.tensor([4, 1]))
    assert out["logits"].shape == (2, 30, 1) and out["logits"].dtype == torch.float32
    torch.testing.assert_close(out["codes"], table.codes.weight[[4, 1]])
    out["logits"].sum().backward()
    assert table.codes.weight.grad[[4, 1]].abs().sum() > 0 and table.codes.weight.grad[[0, 2, 3]].abs().sum() == 0
