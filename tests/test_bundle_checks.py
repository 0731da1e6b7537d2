"""The checks a MONAI Model Zoo bundle must pass: workflow properties, network I/O, TorchScript export."""

from __future__ import annotations

import pytest
import torch
from conftest import BUNDLE_ROOT, bundle_config, free_port, run_bundle_cli
from monai.bundle import ConfigWorkflow

CONFIGS = BUNDLE_ROOT / "configs"


@pytest.mark.parametrize(
    "workflow_type, files",
    [
        ("train", ["train.json"]),
        ("train", ["train.json", "multi_gpu_train.json"]),
        ("infer", ["inference.json"]),
        ("infer", ["inference.json", "evaluate.json"]),
    ],
)
def test_workflow_properties_are_complete(tiny_cohort, tiny_model, tmp_path, workflow_type, files, monkeypatch):
    monkeypatch.syspath_prepend(str(BUNDLE_ROOT))
    monkeypatch.chdir(BUNDLE_ROOT)  # where the configs' %configs/... macros resolve, as for `monai.bundle run`
    model = (
        {"ckpt_dir": str(tmp_path)} if workflow_type == "train" else {"ckpt_path": str(tiny_model / "models/model.pt")}
    )
    if files == ["inference.json", "evaluate.json"]:
        model = {"ckpt_dir": str(tiny_model / "models")}
    workflow = ConfigWorkflow(
        workflow_type=workflow_type,
        config_file=[str(CONFIGS / f) for f in files],
        logging_file=False,
        bundle_root=str(BUNDLE_ROOT),
        dataset_dir=str(tiny_cohort),
        output_dir=str(tmp_path),
        **model,
    )
    if "multi_gpu_train.json" in files:  # a one-process gloo group, as torchrun would set up
        for name, value in {
            "RANK": "0",
            "WORLD_SIZE": "1",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(free_port()),
        }.items():
            monkeypatch.setenv(name, value)
    workflow.initialize()
    try:
        assert workflow.check_properties() == []
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    "files, engine",
    [
        (["train.json"], "train#trainer"),
        (["train.json"], "validate#evaluator"),
        (["train.json", "calibrate.json"], "validate#evaluator"),
        (["inference.json"], "evaluator"),
    ],
)
def test_every_engine_runs_its_network_on_the_configured_device(tiny_cohort, tiny_model, tmp_path, files, engine):
    """The configs choose the device and each engine must move its own network there: calibration runs the validator
    alone, without the trainer that moves the shared decoder in training. The ``meta`` device stands in for CUDA."""
    paths = {"dataset_dir": str(tiny_cohort), "output_dir": str(tmp_path), "ckpt_dir": str(tmp_path / "ckpt")}
    if "inference.json" in files:
        paths["ckpt_path"] = str(tiny_model / "models" / "model.pt")
    parser = bundle_config(*files, **paths, device="$torch.device('meta')")
    devices = {parameter.device.type for parameter in parser.get_parsed_content(engine).network.parameters()}
    assert devices == {"meta"}, (files, engine, devices)


def test_network_input_and_output_match_the_metadata():
    result = run_bundle_cli(
        "monai.bundle",
        "verify_net_in_out",
        "--net_id",
        "network_def",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "configs/inference.json",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "data shape of network is verified with no error" in result.stdout + result.stderr


def test_shipped_model_exports_to_torchscript(tmp_path):
    exported = tmp_path / "model.ts"
    result = run_bundle_cli(
        "monai.bundle",
        "ckpt_export",
        "--net_id",
        "network_def",
        "--filepath",
        str(exported),
        "--ckpt_file",
        "models/model.pt",
        "--key_in_ckpt",
        "network_def",
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        "configs/inference.json",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    scripted = torch.jit.load(str(exported))
    state = torch.load(BUNDLE_ROOT / "models" / "model.pt", weights_only=True)["network_def"]
    field = torch.randn(1, 131, 3, 4, 5)
    from scripts.networks.decoder import OccupancyDecoder

    decoder = OccupancyDecoder().eval()
    decoder.load_state_dict(state)
    torch.testing.assert_close(scripted(field), decoder(field))


def test_no_config_reaches_into_a_list_by_position():
    """Rank-0-only handlers say so where they are declared (``_disabled_: @is_not_rank0``): an overlay that disabled
    ``handlers#2`` would silently hit another handler once one is added before it."""
    import json
    import re

    for path in sorted(CONFIGS.glob("*.json")):
        keys = list(json.loads(path.read_text()))
        assert [k for k in keys if re.search(r"#\d+(#|$)", k)] == [], path.name


def test_every_config_target_documents_its_arguments():
    """What a ``_target_`` user reads first: the class or function's Args section."""
    import importlib
    import inspect
    import re

    targets = set()
    for path in CONFIGS.glob("*.json"):
        targets |= set(re.findall(r'"_target_": "(scripts\.[\w.]+)"', path.read_text()))
    assert len(targets) > 30
    undocumented = []
    for target in sorted(targets):
        module, name = target.rsplit(".", 1)
        obj = getattr(importlib.import_module(module), name)
        own = (obj.__doc__ or "") + ((obj.__init__.__doc__ or "") if inspect.isclass(obj) else "")
        if "Args:" not in own:
            undocumented.append(target)
    assert undocumented == []
