"""``python -m monai.bundle run`` refuses an override that no config of the run declares, naming the closest id."""

from __future__ import annotations

import pytest
from conftest import BUNDLE_ROOT, run_bundle_cli

from scripts.overrides import UndeclaredOverrideError, check_overrides

RUN = ["/site-packages/monai/bundle/__main__.py", "run"]  # what sys.argv holds under python -m monai.bundle run
INFERENCE = str(BUNDLE_ROOT / "configs" / "inference.json")
TRAIN_AND_CALIBRATE = f"['{BUNDLE_ROOT / 'configs' / 'train.json'}','{BUNDLE_ROOT / 'configs' / 'calibrate.json'}']"


@pytest.mark.parametrize(
    "override, closest",
    [
        (["--fit_iteration", "300"], "--fit_iterations"),
        (["--sparse_step=4"], None),
        (["--outputdir", "x"], "--output_dir"),
    ],
)
def test_an_undeclared_override_is_refused_with_the_closest_declared_id(override, closest):
    with pytest.raises(UndeclaredOverrideError) as refused:
        check_overrides([*RUN, "--config_file", INFERENCE, *override])
    message = str(refused.value)
    assert message.startswith(f"{override[0].split('=')[0]}: no config of this run") and "would be ignored" in message
    assert (f"did you mean {closest}?" in message) if closest else "did you mean" not in message


def test_declared_ids_nested_ids_and_other_commands_pass():
    check_overrides([*RUN, "--config_file", INFERENCE, "--fit_iterations", "300", "--ckpt_path", "m.pt"])
    check_overrides(
        [*RUN, "--config_file", TRAIN_AND_CALIBRATE, "--network_def#hidden_dim", "64", "--source_ckpt", "m.pt"]
    )
    check_overrides([*RUN, "--config_file", INFERENCE, "--save_execute_config", "false"])  # read by MONAI itself
    check_overrides(["/somewhere/scripts/__main__.py", "study", "--anything", "1"])  # the study checks its own


def test_the_command_line_exits_with_one_line(tmp_path):
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", "--fit_iteration", "300")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: --fit_iteration: no config of this run")
