"""The bundle's packages build on each other in one order: no module imports from a layer above its own."""

from __future__ import annotations

import ast

from conftest import BUNDLE_ROOT

ROOT = BUNDLE_ROOT / "scripts"
# lowest first; a module may import its own layer and those below
LAYERS = (
    {
        "errors",
        "layout",
        "configs",
        "settings",
        "records",
        "checkpoints",
        "tracking",
        "runtime",
        "precision",
        "overrides",
    },
    {"data"},
    {"scoring", "networks"},
    {"engines"},
    {"transforms"},
    {"visualize"},
    {"handlers"},
    {
        "synthetic",
        "study",
        "assemble",
        "progression",
        "change_calibration",
        "progression_options",
        "arguments",
        "cli",
        "__main__",
        "__init__",
    },
)


def _layer(name: str) -> int:
    found = [index for index, members in enumerate(LAYERS) if name in members]
    assert found, f"scripts/{name} belongs to no layer of tests/test_layers.py"
    return found[0]


def _imports(path) -> list[str]:
    """The bundle modules ``path`` imports (relative imports), as their top-level names."""
    package = path.relative_to(ROOT).parts[:-1]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = list(package[: len(package) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [alias.name for alias in node.names][:1])
            names.append(target[0])
    return names


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        own = _layer(parts[0][:-3] if len(parts) == 1 else parts[0])
        upward += [f"{path.relative_to(ROOT)} -> {name}" for name in _imports(path) if _layer(name) > own]
    assert upward == []
