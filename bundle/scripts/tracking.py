"""The embedded MLflow store, safe to open from several processes at once.

MLflow creates and migrates a new SQLite store on first use; two processes doing that at the same moment (two
inference runs into one folder, parallel study folds) race and one of them fails. Opening the store here, under
an exclusive file lock, leaves every later open with nothing to create.
"""

from __future__ import annotations

import fcntl
import re
from pathlib import Path

from monai.utils import path_to_sqlite_uri


def sqlite_tracking_uri(db_path: str | Path) -> str:
    """The ``sqlite:///`` URI of ``db_path``, with its schema created once (folders included).

    Args:
        db_path: the store's SQLite file; a ``.lock`` file beside it makes the first creation exclusive.

    Returns:
        The store's ``sqlite:///`` URI, as MLflow's ``tracking_uri`` takes it.
    """
    from mlflow.tracking import MlflowClient

    path = Path(db_path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    uri = path_to_sqlite_uri(str(path))
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates and migrates the schema
    return uri


def mlflow_params(values: dict) -> dict[str, str]:
    """``values`` as MLflow parameters: names MLflow accepts (a config id such as ``network_def#hidden_dim`` becomes
    ``network_def.hidden_dim``) and values as text within MLflow's length limit."""
    params = {}
    for name, value in values.items():
        key = re.sub(r"[^A-Za-z0-9_\-. /]", ".", str(name))[:250]
        params[key] = str(value)[:6000]
    return params
