"""Ensembles: K decoders used as one model, assembled from members trained separately, calibrated, scored."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TINY_TRAINING, cli_overrides, run_bundle_cli, train_tiny

from scripts.assemble import assemble
from scripts.checkpoints import load_checkpoint
from scripts.networks.decoder import OccupancyDecoder
from scripts.networks.ensemble import DecoderEnsemble, build_decoder, inside
from scripts.settings import ModelSettings, SettingsError

# one xdist worker runs this module: its `second_member` fixture is built once and shared by its tests
pytestmark = pytest.mark.xdist_group("test_ensemble")


def test_an_ensemble_decodes_each_member_with_its_part_of_the_code_and_keeps_the_mean_occupancy():
    torch.manual_seed(0)
    ensemble = build_decoder(ensemble_size=3, latent_dim=8, hidden_dim=16, num_layers=4, inject_layers=(0, 2))
    assert isinstance(ensemble, DecoderEnsemble) and ensemble.latent_dim == 24
    assert isinstance(build_decoder(latent_dim=8), OccupancyDecoder)
    codes, coords = torch.randn(2, 24), torch.rand(2, 50, 3)
    logits = ensemble.decode_points(codes, coords)
    assert logits.shape == (2, 50, 3)
    for k, member in enumerate(ensemble.members):
        torch.testing.assert_close(logits[..., k : k + 1], member.decode_points(codes[:, 8 * k : 8 * (k + 1)], coords))
    assert torch.equal(inside(logits), torch.sigmoid(logits).mean(dim=-1) > 0.5)
    assert torch.equal(inside(logits[..., :1]), logits[..., 0] > 0)  # one member: the sign of its logit
    field = torch.cat([codes[:, :, None].expand(-1, -1, 50), coords.transpose(1, 2)], dim=1)
    torch.testing.assert_close(ensemble(field), logits.transpose(1, 2))
    assert ensemble.architecture()["ensemble_size"] == 3 and ensemble.architecture()["latent_dim"] == 8


@pytest.fixture(scope="session")
def second_member(tiny_cohort, tmp_path_factory):
    """Another tiny model trained like ``tiny_model`` on the same subjects, with another seed."""
    run_dir = tmp_path_factory.mktemp("tiny_member")
    result = train_tiny(tiny_cohort, run_dir, seed=1)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir / "models" / "model.pt"


def _with_setting(source, target, **values):
    state = load_checkpoint(source)
    settings = ModelSettings(source=str(source))
    settings.load_state_dict(state["settings"])
    settings.values.update(values)
    state["settings"] = settings.state_dict()
    torch.save(state, target)
    return target


def test_members_of_another_frame_or_subjects_are_refused(tiny_model, second_member, tmp_path):
    first = tiny_model / "models" / "model.pt"
    other = _with_setting(second_member, tmp_path / "other.pt", coordinate_scale=0.03)
    with pytest.raises(SettingsError, match=r"other\.pt: coordinate_scale = 0.03 differs from .*'s 0.02; the members"):
        assemble([first, other], tmp_path / "ensemble.pt")
    with pytest.raises(SettingsError, match="at least 2 member models"):
        assemble([first], tmp_path / "ensemble.pt")
    assert not (tmp_path / "ensemble.pt").exists()


def test_an_assembled_ensemble_is_calibrated_and_scores(tiny_model, second_member, tiny_cohort, tmp_path):
    """``python -m scripts ensemble`` assembles the members and calibrates the ensemble; inference then builds every
    member from the model file alone, and the file says how many members it holds."""
    members = f"['{tiny_model / 'models' / 'model.pt'}','{second_member}']"
    built = run_bundle_cli(
        "scripts",
        "ensemble",
        "--members",
        members,
        "--dataset_dir",
        str(tiny_cohort),
        "--ckpt_dir",
        "ens",  # named from the user's folder: the calibration runs in the bundle's
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ens" / "model.pt")
    assert json.loads(state["settings"]["values"])["ensemble_size"] == 2
    assert state["latent_table"]["codes.weight"].shape[1] == 2 * json.loads(state["settings"]["values"])["latent_dim"]
    assert not (tmp_path / "ens" / "ensemble_uncalibrated.pt").exists()
    # each member's codes and weights side by side, as trained
    parts = [load_checkpoint(path) for path in (tiny_model / "models" / "model.pt", second_member)]
    width = json.loads(state["settings"]["values"])["latent_dim"]
    for k, part in enumerate(parts):
        codes = state["latent_table"]["codes.weight"][:, k * width : (k + 1) * width]
        assert torch.equal(codes, part["latent_table"]["codes.weight"])
        prefix = f"members.{k}."
        member = {n[len(prefix) :]: v for n, v in state["network_def"].items() if n.startswith(prefix)}
        assert member.keys() == part["network_def"].keys()
        assert all(torch.equal(member[n], v) for n, v in part["network_def"].items())
    args = {
        "ckpt_path": str(tmp_path / "ens" / "model.pt"),
        "dataset_dir": str(tiny_cohort),
        "output_dir": str(tmp_path / "out"),
    }
    args.update(
        coarse_mm=TINY_TRAINING["coarse_mm"], save_overlays="false", save_meshes="false", save_summary_page="false"
    )
    scored = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert scored.returncode == 0, scored.stderr[-3000:]
    document = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert document["model_settings"]["ensemble_size"] == 2 and document["calibration_holds"]
    assert len(document["subjects"]) == len(json.loads((tiny_cohort / "datalist.json").read_text())["folds"][0]["test"])
    validation = json.loads((tiny_cohort / "datalist.json").read_text())["folds"][0]["val"]
    assert document["calibration"]["reference_subjects"] == len(validation)  # calibrated as a whole, on fold 0's val
    for row in document["subjects"]:
        assert row["reference_subjects"] == len(validation)
        assert {"regional_flattening_z", "regional_atrophy_z"} <= set(row)
