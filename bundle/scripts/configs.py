"""The bundle's configs as files, and the command line that names them: read here and nowhere else.

The workflows parse configs through MONAI (``study.workflows``); what needs the configs' raw JSON (the ids they
declare, the defaults of the model settings, the bundle's version) or which configs and overrides a ``python -m
monai.bundle run`` command line gives asks this module.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .layout import METADATA_FILE, config_file

RUN_OPTIONS = ("run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file")


def raw(name_or_path: str) -> dict:
    """A config's JSON as written (``train.json``: one of the bundle's configs; any path: that file)."""
    from monai.bundle import ConfigParser

    path = Path(name_or_path)
    return dict(ConfigParser.load_config_file(str(path if path.parent != Path(".") else config_file(str(path)))))


def declared_ids(config_files: list[str]) -> set[str]:
    """Every id the configs declare, nested ones as ``a#b``."""
    ids: set[str] = set()

    def walk(value, prefix: str) -> None:
        if prefix:
            ids.add(prefix)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            walk(child, f"{prefix}#{key}" if prefix else str(key))

    for name in config_files:
        walk(raw(name), "")
    return ids


def top_level_ids(names: list[str]) -> set[str]:
    """The top-level ids of the bundle's configs ``names``."""
    return {key for name in names for key in raw(name)}


def bundle_version() -> str:
    """The bundle's version (``configs/metadata.json``), or "unknown" when it cannot be read."""
    try:
        return str(raw(METADATA_FILE)["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def training_defaults(names) -> dict:
    """The values ``configs/train.json`` declares for the settings ``names``."""
    config = raw("train.json")
    return {name: config[name] for name in names if name in config}


def run_command_line(argv: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """The config files and the ``--id value`` overrides of a ``python -m monai.bundle run`` command line, or None
    when ``argv`` is not one (a study's workflows are checked by the study's own command line)."""
    if not argv or Path(argv[0]).parts[-3:] != ("monai", "bundle", "__main__.py") or "run" not in argv[1:2]:
        return None
    options: dict[str, str] = {}
    tokens = argv[2:]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("--") and "=" in token:
            key, value = token[2:].split("=", 1)
            options[key] = value
        elif token.startswith("--") and index + 1 < len(tokens):
            options[token[2:]] = tokens[index + 1]
            index += 1
        index += 1
    files = options.get("config_file", "")
    parsed = ast.literal_eval(files) if files.strip().startswith("[") else [f for f in files.split(",") if f]
    return [str(f) for f in parsed], {k: v for k, v in options.items() if k not in RUN_OPTIONS}
