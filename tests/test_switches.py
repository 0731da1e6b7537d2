"""On/off settings typed on the command line read as people mean them, or are refused in one line."""

from __future__ import annotations

import pytest

from scripts.switches import SwitchError, switch, switches


@pytest.mark.parametrize("text", ["true", "True", "YES", "on", "1", True, 1])
def test_words_for_on(text):
    assert switch(text, "resume") is True


@pytest.mark.parametrize("text", ["false", "False", "no", "Off", "0", False, 0])
def test_words_for_off(text):
    assert switch(text, "resume") is False


def test_none_means_the_model_decides_and_anything_else_is_refused():
    assert switches(remove_islands=None, bf16="false") == {"remove_islands": None, "bf16": False}
    with pytest.raises(SwitchError, match=r"--save_meshes: expected true or false, got 'maybe'"):
        switch("maybe", "save_meshes")
    with pytest.raises(SwitchError):
        switch(2, "resume")


@pytest.mark.parametrize("tracking, disabled", [(None, False), ("false", True), (False, True), ("true", False)])
def test_mlflow_tracking_false_turns_off_every_mlflow_handler_of_training_and_inference(tmp_path, tracking, disabled):
    """``--mlflow_tracking false`` (a machine without MLflow, or a run to keep out of the store) disables every
    MLflow handler the configs declare, wherever it sits; by default they all track."""
    from conftest import bundle_config

    overrides = {"output_dir": str(tmp_path)} | ({} if tracking is None else {"mlflow_tracking": tracking})
    found = 0
    for config, lists in (("train.json", ("train#handlers", "validate#handlers")), ("inference.json", ("handlers",))):
        parser = bundle_config(config, **overrides)
        for handlers in lists:
            for index, handler in enumerate(parser.get(handlers)):
                if handler.get("_target_") == "MLFlowHandler":
                    found += 1
                    assert parser.get_parsed_content(f"{handlers}#{index}#_disabled_") is disabled, (config, index)
    assert found == 3
    assert not list(tmp_path.iterdir())  # nothing was created by asking
