"""What a bundle process sets up when it starts (a workflow's first ``initialize`` step, or the command line).

Nothing here runs at import: importing ``scripts`` changes no global state. ``prepare_process`` installs the one-line
reporting of input errors, keeps the deprecation notices of the bundle's dependencies, which a user can do nothing
about, out of their logs, and refuses overrides that nothing would read.
"""

from __future__ import annotations

import os
import sys
import warnings

from .errors import install_excepthook

DEPENDENCIES = r"(monai|mlflow|ignite|torch|sklearn|scipy|pandas|statsmodels|itk|nibabel|matplotlib|alembic|pydantic)"


def prepare_process() -> None:
    """Install the error reporting, silence dependencies' deprecation notices and refuse command-line overrides that no
    config of the run declares (``overrides``); idempotent."""
    from .overrides import check_overrides

    install_excepthook()
    check_overrides()
    for category in (DeprecationWarning, FutureWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=DEPENDENCIES + r"(\..*)?$")


def share_process_group() -> None:
    """Hand the process group that ``torch.distributed`` set up to Ignite, whose engines and metrics otherwise see a
    single process: the multi-GPU training overlay calls this after ``init_process_group`` (torchrun's processes)."""
    import ignite.distributed as idist

    idist.sync()


def interactive() -> bool:
    """Whether progress bars can redraw in place: standard error is a terminal, not a log file or a pipe."""
    return sys.stderr.isatty()


def default_workers(most: int = 16) -> int:
    """Worker processes by default: one per core this process may use, at most ``most``; none (the engine's own
    thread) on one core, where a second process only adds its start. ``OMP_NUM_THREADS``, where set (a scheduler's
    share, parallel test workers), bounds the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = os.environ.get("OMP_NUM_THREADS", "").strip()
    if share.isdigit() and int(share) > 0:
        cores = min(cores, int(share))
    return 0 if cores <= 1 else min(most, cores)
