"""Overrides nobody reads: ``python -m monai.bundle run`` takes any ``--id value`` and silently ignores an id that no
config of the run declares (``--sparse_step 4``, an option of an earlier version, or ``--fit_iteration 300``, a typo
of ``fit_iterations``, would score with the defaults). A run refuses them instead, in one line naming the id and the
closest declared one; ``prepare_process`` checks the command line of the process it starts.
"""

from __future__ import annotations

import difflib
import sys

from .configs import declared_ids, run_command_line
from .errors import InputError

MONAI_IDS = ("save_execute_config", "workflow_type", "properties_path")  # read by MONAI's workflow, not by a config


class UndeclaredOverrideError(InputError):
    """An override of an id that no config of the run declares."""


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
