"""A model that describes itself: scoring runs take the frame, architecture and fit from the checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import BUNDLE_ROOT, TINY_TRAINING, bundle_config, cli_overrides, run_bundle_cli, train_tiny

from scripts.settings import (
    FIT,
    MODEL_SETTINGS,
    OBSERVATION,
    ModelSettings,
    SettingsError,
    same,
    settings_for_scoring,
)
from scripts.synthetic.cohort import generate_cohort

# one xdist worker runs this module: its `custom_model` fixture is built once and shared by its tests
pytestmark = pytest.mark.xdist_group("test_settings")

# Every setting that defines the frame or the architecture away from train.json's defaults.
CUSTOM = {
    "label": "2",
    "coordinate_scale": "0.025",
    "target_spacing": "[3.0,3.0,3.0]",
    "latent_dim": "32",
    "hidden_dim": "48",
}


@pytest.fixture(scope="session")
def custom_model(tmp_path_factory):
    """A tiny model of label 2 in a multi-label cohort, trained with non-default frame and architecture."""
    root = tmp_path_factory.mktemp("custom")
    counts = {"n_young": 4, "n_older": 4, "n_sarcopenic": 2, "num_folds": 3}
    generate_cohort(root / "cohort", spacing=(2.5, 2.5, 2.5), multilabel=True, muscle_label=2, progress=False, **counts)
    result = train_tiny(root / "cohort", root / "run", **CUSTOM)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _score(config, root, out, **extra):
    quiet = {"save_overlays": "False", "save_meshes": "False", "save_summary_page": "False"}  # scores are compared
    args = {"dataset_dir": str(root / "cohort"), "output_dir": str(out), **quiet, **extra}
    if config == "inference":
        args["ckpt_path"] = str(root / "run" / "models" / "model.pt")
        return run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    args["ckpt_dir"] = str(root / "run" / "models")
    files = "['configs/inference.json','configs/evaluate.json']"
    return run_bundle_cli("monai.bundle", "run", "--config_file", files, *cli_overrides(args))


def _subjects(path):
    return {s["id"]: s for s in json.loads(path.read_text())["subjects"]}


@pytest.mark.parametrize("config, scores", [("inference", "scores.json"), ("evaluate", "evaluation_fold0/scores.json")])
def test_scoring_without_overrides_reproduces_a_run_that_restates_them(custom_model, tmp_path, config, scores):
    fit = {k: TINY_TRAINING[k] for k in ("fit_points", "fit_points_per_iteration", "fit_iterations", "coarse_mm")}
    plain = _score(config, custom_model, tmp_path / "plain", coarse_mm=TINY_TRAINING["coarse_mm"])
    restated = _score(config, custom_model, tmp_path / "restated", **CUSTOM, **fit)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert restated.returncode == 0, restated.stderr[-3000:]
    a, b = _subjects(tmp_path / "plain" / scores), _subjects(tmp_path / "restated" / scores)
    assert sorted(a) == sorted(b) and len(a) >= 4
    for subject in a:
        for name in ("dice", "asd_mm", "latent_distance", "combined", "combined_z", "volume_input_ml"):
            assert a[subject][name] == pytest.approx(b[subject][name], rel=1e-6, abs=1e-9), (subject, name)
    document = json.loads((tmp_path / "plain" / scores).read_text())
    assert document["model_settings"]["latent_dim"] == 32 and document["model_settings"]["label"] == 2
    assert document["calibration_holds"] is True and document["uncalibrated_settings"] == {}


def test_a_contradicting_override_is_refused_in_one_line(custom_model, tmp_path):
    result = _score("inference", custom_model, tmp_path, coordinate_scale="0.02")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = [x for x in result.stderr.splitlines() if x.startswith("error: ")][-1]
    assert "--coordinate_scale 0.02 contradicts the model" in line and "coordinate_scale = 0.025" in line
    assert not (tmp_path / "scores.json").exists()


def test_a_changed_fit_setting_is_refused_or_recorded_as_uncalibrated(custom_model, tmp_path):
    refused = _score("inference", custom_model, tmp_path / "refused", fit_iterations="3")
    line = [x for x in refused.stderr.splitlines() if x.startswith("error: ")][-1]
    assert refused.returncode == 1 and "--fit_iterations 3 contradicts" in line and "--allow_uncalibrated" in line
    accepted = _score("inference", custom_model, tmp_path / "accepted", fit_iterations="3", allow_uncalibrated="true")
    assert accepted.returncode == 0, accepted.stderr[-3000:]
    assert "no longer hold at the stated level" in accepted.stdout + accepted.stderr
    document = json.loads((tmp_path / "accepted" / "scores.json").read_text())
    assert document["calibration_holds"] is False
    assert document["uncalibrated_settings"] == {"fit_iterations": {"model": 10, "used": 3}}


def test_a_checkpoint_without_settings_loads_with_the_configs_values(tiny_model, tmp_path, caplog):
    """A model written before checkpoints stored their settings (train.json's frame) still scores, with a warning."""
    state = torch.load(tiny_model / "models" / "model.pt", weights_only=True)
    state.pop("settings")
    legacy = tmp_path / "legacy.pt"
    torch.save(state, legacy)
    requested = dict.fromkeys(MODEL_SETTINGS)
    requested["target_spacing"] = [2.5, 2.5, 2.5]
    with caplog.at_level("WARNING"):
        settings = settings_for_scoring(str(legacy), requested)
    assert "before models stored their settings" in caplog.text
    assert settings["target_spacing"] == [2.5, 2.5, 2.5] and settings["latent_dim"] == 128
    assert settings.versions["bundle"].startswith("unknown")


def test_settings_compare_by_meaning_and_refuse_a_foreign_resume():
    assert same(1, 1.0) and same((1, 2.5), [1.0, 2.5]) and not same([1, 2], [1, 2, 3]) and not same(True, 1)
    stored = ModelSettings(dict.fromkeys(MODEL_SETTINGS, 1))
    running = ModelSettings({**dict.fromkeys(MODEL_SETTINGS, 1), "latent_dim": 64}, source="training in x")
    with pytest.raises(SettingsError, match=r"training in x: latent_dim = 64 contradicts the checkpoint"):
        running.load_state_dict(stored.state_dict())
    assert set(FIT) < set(MODEL_SETTINGS)


def test_sparse_slices_of_older_models_read_as_the_parallel_observation():
    """Models written before 0.4.0 stored ``sparse_step``/``sparse_axis``; they mean the same observation now."""
    old = {**dict.fromkeys(set(MODEL_SETTINGS) - set(OBSERVATION), 1), "sparse_step": 4, "sparse_axis": 1}
    state = {"values": json.dumps(old), "versions": "{}"}
    loaded = ModelSettings()
    loaded.load_state_dict(state)
    assert loaded["observation"] == "parallel" and loaded["observation_step"] == 4 and loaded["observation_axis"] == 1
    assert "sparse_step" not in loaded.values
    full = ModelSettings()
    full.load_state_dict({"values": json.dumps({**old, "sparse_step": 1}), "versions": "{}"})
    assert full["observation"] == "full"


def test_the_python_defaults_agree_with_the_configs():
    """A class used without the configs behaves as the configs declare it."""
    import inspect

    from scripts.engines.fitting import LatentFitter
    from scripts.networks.decoder import OccupancyDecoder
    from scripts.transforms.observation import Observed
    from scripts.transforms.sampling import SamplePointsd

    config = bundle_config("train.json")
    fitter = inspect.signature(LatentFitter).parameters
    for arg, setting in {
        "iterations": "fit_iterations",
        "lr": "fit_lr",
        "prior_weight": "fit_prior_weight",
        "points_per_iteration": "fit_points_per_iteration",
        "restarts": "fit_restarts",
        "patience": "fit_patience",
        "min_improvement": "fit_min_improvement",
    }.items():
        assert fitter[arg].default == config[setting], arg
    decoder = inspect.signature(OccupancyDecoder).parameters
    for name in ("latent_dim", "hidden_dim", "num_layers", "fourier_features", "residual"):
        assert decoder[name].default == config[name], name
    assert list(decoder["inject_layers"].default) == config["inject_layers"]
    observed = inspect.signature(Observed).parameters
    for arg in ("step", "axis", "thickness_mm"):
        assert observed[arg].default == config[f"observation_{arg}"], arg
    assert observed["mode"].default == config["observation"]
    assert list(observed["offsets_mm"].default) == config["observation_offsets_mm"]
    sampler = inspect.signature(SamplePointsd).parameters
    assert sampler["surface_fraction"].default == config["surface_fraction"]
    assert sampler["coordinate_scale"].default == config["coordinate_scale"]


def test_every_model_setting_is_declared_recorded_and_requested():
    """Adding a model setting to ``settings/vocabulary.py`` fails here until train.json declares it and records it in
    its ``settings`` (which inference.json requests by macro) and inference.json declares it (null: the model decides);
    a config id in the vocabulary left out of either would be silently ignored."""
    train, inference = bundle_config("train.json"), bundle_config("inference.json")
    recorded, requested = train["settings"], inference["model_settings"]["requested"]
    assert recorded["_target_"] == requested["_target_"] == "scripts.settings.typed"  # each read as its type
    assert sorted(recorded) == sorted(requested) == sorted([*MODEL_SETTINGS, "_target_"])
    for name in MODEL_SETTINGS:
        assert name in train and name in inference, name
        assert recorded[name] == f"@{name}" and requested[name] == f"@{name}", name
    with pytest.raises(ValueError, match="left out \\['latent_dim'\\]"):
        settings_for_scoring("unused.pt", {k: None for k in MODEL_SETTINGS if k != "latent_dim"})


def test_configs_read_model_settings_through_the_settings_they_were_resolved_to():
    """Inference sets every model-setting id to null (the model file decides), so a config entry must read
    ``$@settings['x']``, never ``@x``; only the recorded and requested mappings (and the on/off switches, which parse
    the raw values) name the ids themselves."""
    import json
    import re

    allowed = {"settings", "model_settings", "switches"}
    found = []

    def walk(value, path: list[str], name: str) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, path + [key], name)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                walk(child, path + [str(index)], name)
        elif isinstance(value, str) and path[0] not in allowed:
            found.extend(f"{name}: {'#'.join(path)}" for m in re.findall(r"@(\w+)", value) if m in MODEL_SETTINGS)

    for path in sorted((BUNDLE_ROOT / "configs").glob("*.json")):
        walk(json.loads(path.read_text()), [], path.name)
    assert found == []


def test_training_validation_and_inference_share_one_chain():
    """inference.json takes its chains from train.json: after parsing, they are the same declarations."""
    train = bundle_config("train.json")
    inference = bundle_config("inference.json")
    for name in (
        "load_transforms",
        "keep_input",
        "shape_transforms",
        "fit_sampling",
        "scoring_preprocessing",
        "network_def",
        "fitter",
        "fit_inferer",
        "fit_prepare_batch",
        "decoding_postprocessing",
        "subject_scoring",
    ):
        assert inference.get(name) == train.get(name), name
    assert train.get("scoring_postprocessing") == "$@decoding_postprocessing + @subject_scoring"
    assert train.get("validate#preprocessing") == "@scoring_preprocessing" == inference.get("preprocessing")
    assert train.get("validate#inferer") == "@fit_inferer" == inference.get("inferer")
    evaluate = bundle_config("inference.json", "evaluate.json")
    assert evaluate.get("scoring_pool") == inference.get("scoring_pool")
