"""Bundle metadata: valid against MONAI's schema offline, and consistent with the pinned requirements."""

from __future__ import annotations

import json
import re
import shutil

import jsonschema
from conftest import BUNDLE_ROOT, REPO_ROOT, run_bundle_cli

SCHEMA = REPO_ROOT / "tests" / "data" / "meta_schema.json"
METADATA = BUNDLE_ROOT / "configs" / "metadata.json"
VERSION_KEYS = {"monai": "monai_version", "torch": "pytorch_version", "numpy": "numpy_version"}


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_metadata_validates_with_jsonschema():
    jsonschema.validate(json.loads(METADATA.read_text()), json.loads(SCHEMA.read_text()))


def test_metadata_validates_with_monai_verify_metadata(tmp_path):
    schema_copy = tmp_path / "meta_schema.json"  # present already, so MONAI does not download it
    shutil.copy(SCHEMA, schema_copy)
    result = run_bundle_cli(
        "monai.bundle",
        "verify_metadata",
        "--meta_file",
        str(METADATA),
        "--filepath",
        str(schema_copy),
        env={"no_proxy": "*", "HTTPS_PROXY": "http://127.0.0.1:9"},
    )
    assert result.returncode == 0, result.stderr
    assert "metadata is verified with no error" in result.stdout + result.stderr


def test_every_pinned_requirement_matches_the_metadata():
    metadata = json.loads(METADATA.read_text())
    pins = _pins(REPO_ROOT / "requirements.txt")
    assert pins, "requirements.txt pins nothing"
    packages = {k.lower(): v for k, v in metadata["required_packages_version"].items()}
    for name, version in pins.items():
        recorded = metadata[VERSION_KEYS[name]] if name in VERSION_KEYS else packages.get(name)
        assert recorded == version, f"{name}: requirements.txt pins {version}, metadata.json says {recorded}"
    assert set(packages) <= set(pins), f"metadata lists packages that are not pinned: {set(packages) - set(pins)}"


def test_every_requirement_is_pinned_and_agrees_with_the_constraints():
    constraints = _pins(REPO_ROOT / "constraints.txt")
    for path in (REPO_ROOT / "requirements.txt", REPO_ROOT / "requirements-dev.txt"):
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                assert "==" in line, f"{path.name}: {line!r} is not pinned"
        for name, version in _pins(path).items():
            assert constraints.get(name) == version, f"{name}=={version} disagrees with constraints.txt"


def test_the_project_and_the_bundle_have_one_version():
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == json.loads((BUNDLE_ROOT / "configs" / "metadata.json").read_text())["version"]
