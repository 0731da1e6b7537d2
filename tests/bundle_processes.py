"""``python -m <module> <args>`` as a user runs it, without paying the imports again for every run.

Most of the suite's commands are the bundle's own (``python -m monai.bundle run ...``, ``python -m scripts ...``),
and importing torch, MONAI, Ignite, MLflow and scipy takes about six CPU-seconds each time: more than the work of
a tiny run. A fork server (``multiprocessing``'s ``forkserver`` context) imports them once, runs nothing, and forks
each command from that state: every command still starts in a process of its own, with its own arguments, working
folder, environment, standard streams and exit code, and its interpreter-exit steps (non-daemon threads joined,
``atexit`` functions) run as they would in a fresh interpreter. Only the import of the preloaded modules is
shared, and importing them changes nothing global (``scripts/__init__.py``).

``BUNDLE_TESTS_FRESH_INTERPRETERS=1`` runs every command in a fresh interpreter instead (``subprocess``), for a
reviewer who wants to rule the fork server out.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

PRELOADED = [
    "torch",
    "numpy",
    "scipy.ndimage",
    "skimage.measure",
    "nibabel",
    "itk",
    "ignite.engine",
    "mlflow",
    "monai.bundle",
    "monai.transforms",
    "monai.engines",
    "monai.handlers",
    "scripts.engines.iterations",
    "scripts.handlers.training",
    "scripts.transforms.loading",
    "scripts.tracking",
    "scripts.study.runner",
    "scripts.cli",
]
FRESH = os.environ.get("BUNDLE_TESTS_FRESH_INTERPRETERS", "") not in ("", "0")
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOADED)


def run_module(module: str, args: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    """``python -m module *args`` in ``cwd`` with exactly ``env``; stdout and stderr captured as text.

    Raises:
        subprocess.TimeoutExpired: the command ran past ``timeout`` seconds (it is killed first).
    """
    command = [sys.executable, "-m", module, *args]
    if FRESH:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="bundle_process_") as streams:
        out, err = Path(streams, "stdout"), Path(streams, "stderr")
        process = _context.Process(target=_main, args=(module, list(args), str(cwd), dict(env), str(out), str(err)))
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(command, timeout, out.read_bytes(), err.read_bytes())
        return subprocess.CompletedProcess(command, process.exitcode, _text(out), _text(err))


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _main(module: str, args: list[str], cwd: str, env: dict, stdout_path: str, stderr_path: str) -> None:
    """The forked child: becomes ``python -m module`` (argv, folder, environment, streams) and exits as it would."""
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.path[0] = cwd  # what ``python -m`` puts first
    sys.argv = [module, *args]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException:  # noqa: BLE001  (an uncaught error: report it as the interpreter would, exit code 1)
        sys.excepthook(*sys.exc_info())
        code = 1
    threading._shutdown()  # what the interpreter does first: its thread-exit hooks, then joining non-daemon threads
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1
