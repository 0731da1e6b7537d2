"""The inference summary page in a real headless browser: surfaces drawn in 3D, nothing fetched from the network."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import TINY_TRAINING, cli_overrides, run_bundle_cli

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's Chromium is not installed (.ci/run installs it)")


def render(page, folder):
    """Open ``page`` in headless Chromium (software WebGL): its screenshot (RGB floats) and the URLs it requested.

    Requests Chromium makes for itself (initiator "not an origin") are not the page's and are left out.
    """
    screenshot, net_log = folder / "shot.png", folder / "net.json"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-unsafe-swiftshader",
        "--use-angle=swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={folder / 'profile'}",
        "--window-size=1200,1400",
        "--virtual-time-budget=20000",
        f"--log-net-log={net_log}",
        f"--screenshot={screenshot}",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=180, check=True)
    log = json.loads(net_log.read_text())
    start = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    jobs = [e.get("params", {}) for e in log["events"] if start.get(e["type"]) == "URL_REQUEST_START_JOB"]
    urls = [
        job["url"]
        for job in jobs
        if job.get("url")
        and job.get("initiator") != "not an origin"
        and not job["url"].startswith(("file:", "data:", "blob:"))
    ]
    from matplotlib.image import imread

    return imread(screenshot)[..., :3], urls


def test_inference_summary_page_turns_surfaces_offline(tiny_model, tiny_cohort, tmp_path):
    args = {
        "dataset_dir": str(tiny_cohort),
        "ckpt_path": str(tiny_model / "models" / "model.pt"),
        "output_dir": str(tmp_path / "out"),
        "coarse_mm": TINY_TRAINING["coarse_mm"],
        "save_overlays": "False",
    }
    result = run_bundle_cli("monai.bundle", "run", "--config_file", "configs/inference.json", *cli_overrides(args))
    assert result.returncode == 0, result.stderr[-3000:]
    page = tmp_path / "out" / "report.html"
    text = page.read_text()
    assert text.count("id='view3d-") == 7 and text.count("plotly.js v") == 1  # every subject; the script once
    image, requests = render(page, tmp_path)
    assert requests == []
    colourful = (image.max(axis=-1) - image.min(axis=-1)) > 0.3  # surfaces in the deviation colours
    assert colourful.sum() > 5000, colourful.sum()
