"""Tracking to a real ``mlflow server`` on 127.0.0.1, with MONAI's own ``--tracking mlflow`` switched on too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import free_port, train_tiny
from mlflow.tracking import MlflowClient


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"mlflow server exited: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("mlflow server did not become healthy within 120 s")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_training_logs_to_a_real_server(mlflow_server, tiny_cohort, tmp_path):
    result = train_tiny(
        tiny_cohort,
        tmp_path,
        epochs="2",
        val_interval="2",
        tracking_uri=mlflow_server,
        experiment_name="server_test",
        run_name="tiny",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (tmp_path / "eval" / "mlruns.db").exists()  # nothing went to the embedded store

    # MONAI's tracking derives the executed config's path wrongly from a literal --output_dir, so name it here
    executed = tmp_path / "monai_tracking" / "executed_config.json"
    again = train_tiny(
        tiny_cohort,
        tmp_path / "monai_tracking",
        epochs="2",
        val_interval="2",
        tracking="mlflow",
        tracking_uri=mlflow_server,
        experiment_name="server_test",
        run_name="tiny_monai_tracking",
        save_execute_config=str(executed),
    )
    assert again.returncode == 0, again.stderr[-3000:]

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("server_test")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"tiny", "tiny_monai_tracking"}
    for name, run in runs.items():
        assert run.data.params["epochs"] == "2" and "coordinate_scale" in run.data.params
        assert {"train_loss", "train_dice_loss", "val_mean_dice"} <= set(run.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model.pt", "training_curves.png", "train.json"} <= artifacts, (name, artifacts)
        local = client.download_artifacts(run.info.run_id, "model.pt", str(tmp_path / name))
        assert os.path.getsize(local) > 100_000
    logged = {a.path for a in client.list_artifacts(runs["tiny_monai_tracking"].info.run_id)}
    assert executed.name in logged and executed.is_file()  # MONAI's executed config
