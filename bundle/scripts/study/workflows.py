"""Running the bundle's own configs from Python, as ``python -m monai.bundle run`` would, and knowing their ids."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from contextlib import chdir

from ..layout import BUNDLE_ROOT, config_file

CONFIGS = ("train.json", "inference.json", "evaluate.json", "calibrate.json")


def config_ids() -> set[str]:
    """Every id the bundle's configs declare (nested ones as ``a#b``): what a study override may name."""
    from ..configs import declared_ids

    return declared_ids([config_file(name) for name in CONFIGS])


def parse_configs(configs: list[str], **overrides):
    """``configs`` (names under ``configs/``, merged in order) with ``overrides``, parsed as a workflow parses them: in
    the bundle root, where the configs' shared chains (``%configs/...`` macros) resolve. The one place that knows
    this; ``get_parsed_content`` may be called from anywhere afterwards.

    Returns:
        The parsed ``monai.bundle.ConfigParser``.
    """
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([config_file(name) for name in configs])
    parser.update({"bundle_root": str(BUNDLE_ROOT), **overrides})
    with chdir(BUNDLE_ROOT):
        parser.parse()
    return parser


def run_workflow(configs: list[str], workflow_type: str, timed: Sequence[str] = (), **overrides) -> dict[str, float]:
    """One workflow of ``configs`` (merged in order) with ``overrides``, initialised, run and finalised.

    Returns:
        The run time in seconds of each engine named in ``timed`` (config ids such as ``evaluator``), as Ignite
        recorded it (what a benchmark compares), or nothing when none is named.
    """
    from monai.bundle import ConfigWorkflow

    files = [config_file(name) for name in configs]
    with chdir(BUNDLE_ROOT):  # where the configs' %configs/... macros resolve
        workflow = ConfigWorkflow(
            config_file=files, workflow_type=workflow_type, bundle_root=str(BUNDLE_ROOT), **overrides
        )
        workflow.initialize()
        try:
            workflow.run()
            return {engine: workflow.parser.get_parsed_content(engine).state.times["COMPLETED"] for engine in timed}
        finally:
            workflow.finalize()
            del workflow
            gc.collect()


def config_ids_of(names: list[str]) -> set[str]:
    """The top-level ids of ``names``: which study overrides a workflow of those configs takes."""
    from ..configs import top_level_ids

    return top_level_ids(names)
