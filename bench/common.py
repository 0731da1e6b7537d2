"""What every benchmark shares: the bundle on the import path, the demo cohort, machine facts, the JSON record.

Figures are only comparable with the machine they were measured on, so each result file carries the CPU, its
vector extensions, the thread count, the library versions and the load average before and after the run.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "bundle"
RESULTS = REPO / "bench" / "results"
if str(BUNDLE) not in sys.path:
    sys.path.insert(0, str(BUNDLE))

from scripts.layout import demo_dir  # noqa: E402  (the bundle is on the path from here)

DEMO_DIR = Path(demo_dir(BUNDLE))


def cpu_facts() -> dict:
    """Model name and the vector/matrix extensions that decide whether bf16 pays off on a CPU."""
    facts = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return facts
    for line in text.splitlines():
        if line.startswith("model name"):
            facts["model"] = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")
            facts["flags"] = [f for f in wanted if f in flags]
            break
    return facts


def load_average() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def machine_facts() -> dict:
    import monai
    import torch

    return {
        "cpu": cpu_facts(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.is_available(),
        "loadavg_before": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children), in MB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024.0


def bundle_config(name: str, **overrides):
    """The bundle's ``configs/<name>.json`` as a parsed ``ConfigParser`` with ``overrides``; ``name`` may list several
    configs (``"inference,evaluate"``). See ``scripts.study.workflows.parse_configs``."""
    from scripts.study.workflows import parse_configs

    return parse_configs([f"{part}.json" for part in name.split(",")], **overrides)


def demo_cohort(dataset_dir: Path | None = None) -> Path:
    """The demo cohort folder, generated on first use exactly as the quick start does."""
    from scripts.synthetic.cohort import ensure_demo_cohort

    folder = Path(dataset_dir) if dataset_dir else DEMO_DIR
    ensure_demo_cohort(folder)
    return folder


def demo_test_files(count: int) -> list[str]:
    """The first ``count`` of the demo cohort's fold 0 test subjects' files (the cohort generated on first use)."""
    from scripts.layout import cohort_datalist

    cohort = demo_cohort()
    datalist = json.loads(Path(cohort_datalist(cohort)).read_text())
    images = {s["id"]: str(cohort / s["image"]) for s in datalist["subjects"]}
    return [images[i] for i in datalist["folds"][0]["test"][:count]]


def write_one_fold_datalist(path: Path, name: str, generator: dict, subjects: list[dict], split: dict) -> None:
    """A benchmark cohort's datalist: one fold (``split``: train, val, test ids), label 1."""
    datalist = {"name": name, "generator": generator, "label": 1, "num_folds": 1, "subjects": subjects}
    path.write_text(json.dumps({**datalist, "folds": [split]}, indent=1))


def synchronize(device) -> None:
    """Wait for work queued on a GPU, so that a clock read next measures it (nothing to wait for on a CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def stopwatch(record: dict, key: str, device="cpu"):
    """Seconds spent in the block, GPU work included, into ``record[key]``."""
    start = time.perf_counter()
    yield
    synchronize(device)
    record[key] = time.perf_counter() - start


def write_result(name: str, figures: dict, facts: dict, output: Path | None = None) -> Path:
    """Print the figures and save them with the machine facts as ``bench/results/<name>.json``."""
    facts = {**facts, "loadavg_after": load_average()}
    path = Path(output) if output else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "machine": facts, "figures": figures}, indent=2))
    print(json.dumps(figures, indent=2))
    print(
        f"machine: {facts['cpu']['model']} flags={facts['cpu']['flags']} threads={facts['torch_threads']} "
        f"torch={facts['torch']} loadavg before={facts['loadavg_before']} after={facts['loadavg_after']}"
    )
    print(f"written to {path}")
    return path
