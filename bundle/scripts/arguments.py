"""How the command line's values are read: Python literals, fold lists, positive numbers, config overrides.

Every bad value ends as one line naming the option (``CommandLineError`` or argparse's own error), exit code 2.
"""

from __future__ import annotations

import argparse
import ast


class CommandLineError(ValueError):
    """A bad option or value on the command line."""


def literal(text: str):
    """A command-line value as Python: numbers, lists, booleans, None; anything else stays text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def fold_list(text: str) -> list[int]:
    value = literal(text)
    folds = [value] if isinstance(value, int) else value
    if not isinstance(folds, (list, tuple)) or not all(isinstance(f, int) and f >= 0 for f in folds) or not folds:
        raise argparse.ArgumentTypeError(f"expected fold numbers such as 3 or [0,2], got {text!r}")
    return [int(f) for f in folds]


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def config_overrides(tokens: list[str]) -> dict:
    """``--id value`` pairs left over by the parser, checked against the ids the configs declare."""
    from .study.workflows import config_ids

    if len(tokens) % 2 or not all(t.startswith("--") and len(t) > 2 for t in tokens[::2]):
        raise CommandLineError(f"expected --<config id> <value> pairs, got {' '.join(tokens)}")
    overrides = {key[2:]: literal(value) for key, value in zip(tokens[::2], tokens[1::2], strict=True)}
    known = config_ids()
    unknown = [key for key in overrides if key not in known]
    if unknown:
        raise CommandLineError(f"unknown option(s) {', '.join('--' + k for k in unknown)}: not an id of the configs")
    return overrides


def demo_bf16(choice: str) -> bool:
    """The demo's ``--bf16``: true, false, or auto (where it pays on the device the workflows use)."""
    if choice != "auto":
        return choice == "true"
    import torch

    from .precision import bf16_pays

    return bf16_pays("cuda" if torch.cuda.is_available() else "cpu")
