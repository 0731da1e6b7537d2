"""Settings typed on the command line read as their declared types, or are refused in one line naming id and value."""

from __future__ import annotations

import pytest
import torch
from conftest import bundle_config, parsing_error

from scripts.settings import MODEL_SETTINGS, OPTION_TYPES, TYPES, SettingTypeError, coerce

# a value of the wrong type for each declared type, as fire hands it over
WRONG = {
    "bool": "maybe",
    "int": "6.5",
    "float": "fast",
    "str": "",
    "list[int]": "[0,'x']",
    "list[float]": "1.0",
    "resume": "perhaps",
}


@pytest.mark.parametrize("text", ["true", "True", "YES", "on", "1", True, 1])
def test_words_for_on(text):
    assert coerce("save_meshes", text) is True


@pytest.mark.parametrize("text", ["false", "False", "no", "Off", "0", False, 0])
def test_words_for_off(text):
    assert coerce("save_meshes", text) is False


def test_numbers_and_lists_as_people_type_them():
    assert coerce("latent_dim", "64") == 64 and coerce("latent_dim", 64.0) == 64 and coerce("fit_lr", "2e-2") == 0.02
    assert coerce("target_spacing", "[1, 1, 2.5]") == [1.0, 1.0, 2.5] and coerce("inject_layers", (0, 4)) == [0, 4]
    assert coerce("label", None) is None  # the model's own
    with pytest.raises(SettingTypeError, match=r"--latent_dim: expected a whole number, got 6.5"):
        coerce("latent_dim", 6.5)
    with pytest.raises(SettingTypeError, match=r"--residual: expected true or false, got 2"):
        coerce("residual", 2)


def test_every_model_setting_and_option_has_a_declared_type():
    assert set(TYPES) == set(MODEL_SETTINGS)
    switches = set(bundle_config("train.json").get("switches")) | set(bundle_config("inference.json").get("switches"))
    assert switches - {"_target_"} <= set(OPTION_TYPES)


TRAINING_OPTIONS = ("resume", "bf16", "abnormal_axis", "mlflow_tracking")  # the others are inference's


@pytest.mark.parametrize("name", sorted(TYPES) + sorted(OPTION_TYPES))
def test_every_declared_setting_refuses_a_value_of_another_type_in_one_line(name):
    kind = TYPES.get(name) or OPTION_TYPES[name]
    config = "train.json" if name in TYPES or name in TRAINING_OPTIONS else "inference.json"
    parsed = "settings" if name in TYPES else "switches"
    error = parsing_error(bundle_config(config, **{name: WRONG[kind]}), parsed)
    assert str(error).startswith(f"--{name}: expected ") and repr(WRONG[kind]) in str(error)


def test_residual_false_builds_a_decoder_without_residual_links():
    """``--residual false`` arrives as the string "false": read as off, recorded as off, and the links are gone."""
    parser = bundle_config("train.json", residual="false", latent_dim="16", hidden_dim="8", num_layers="6")
    decoder = parser.get_parsed_content("network_def")
    assert decoder.residual is False and decoder.architecture()["residual"] is False
    assert parser.get_parsed_content("model_settings")["residual"] is False
    with_links = bundle_config("train.json", residual="true", latent_dim="16", hidden_dim="8", num_layers="6")
    linked = with_links.get_parsed_content("network_def")
    linked.load_state_dict(decoder.state_dict())
    points, code = torch.randn(1, 5, 3), torch.randn(1, 16)
    assert not torch.allclose(decoder.decode_points(code, points), linked.decode_points(code, points))


@pytest.mark.parametrize("tracking, disabled", [(None, False), ("false", True), (False, True), ("true", False)])
def test_mlflow_tracking_false_turns_off_every_mlflow_handler_of_training_and_inference(tmp_path, tracking, disabled):
    """``--mlflow_tracking false`` (a machine without MLflow, or a run to keep out of the store) disables every
    MLflow handler the configs declare, wherever it sits; by default they all track."""
    overrides = {"output_dir": str(tmp_path)} | ({} if tracking is None else {"mlflow_tracking": tracking})
    found = 0
    for config, lists in (("train.json", ("train#handlers", "validate#handlers")), ("inference.json", ("handlers",))):
        parser = bundle_config(config, **overrides)
        for handlers in lists:
            for index, handler in enumerate(parser.get(handlers)):
                if isinstance(handler, str):  # a reference to a component declared at the top level
                    handler = parser.get(handler.removeprefix("@"))
                if handler.get("_target_") == "MLFlowHandler":
                    found += 1
                    assert parser.get_parsed_content(f"{handlers}#{index}#_disabled_") is disabled, (config, index)
    assert found == 3
    assert not list(tmp_path.iterdir())  # nothing was created by asking
