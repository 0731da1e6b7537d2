"""Overrides nobody reads: ``python -m monai.bundle run`` takes any ``--id value`` and silently ignores an id that no
config of the run declares (``--sparse_step 4``, an option of an earlier version, or ``--fit_iteration 300``, a typo
of ``fit_iterations``, would score with the defaults). A run refuses them instead, in one line naming the id and the
closest declared one; ``prepare_process`` checks the command line of the process it starts.
"""

from __future__ import annotations

import ast
import difflib
import sys
from pathlib import Path

from .errors import InputError

RUN_OPTIONS = ("run_id", "init_id", "final_id", "meta_file", "config_file", "logging_file", "tracking", "args_file")
MONAI_IDS = ("save_execute_config", "workflow_type", "properties_path")  # read by MONAI's workflow, not by a config


class UndeclaredOverrideError(InputError):
    """An override of an id that no config of the run declares."""


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


def declared_ids(config_files: list[str]) -> set[str]:
    """Every id the configs declare, nested ones as ``a#b``."""
    from monai.bundle import ConfigParser

    ids: set[str] = set()

    def walk(value, prefix: str) -> None:
        if prefix:
            ids.add(prefix)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, child in children:
            walk(child, f"{prefix}#{key}" if prefix else str(key))

    for name in config_files:
        walk(ConfigParser.load_config_file(name), "")
    return ids


def check_overrides(argv: list[str] | None = None) -> None:
    """Refuse (one line) an override on the command line that no config of the run declares."""
    found = run_command_line(list(sys.argv if argv is None else argv))
    if found is None:
        return
    files, overrides = found
    known = declared_ids(files)
    for key in overrides:
        if key in known or key in MONAI_IDS or key.startswith("_meta_"):
            continue
        close = difflib.get_close_matches(key, sorted(i for i in known if "#" not in i), n=1)
        hint = f" (did you mean --{close[0]}?)" if close else ""
        raise UndeclaredOverrideError(
            f"--{key}: no config of this run ({', '.join(files)}) declares this id, so it would be ignored{hint}"
        )
