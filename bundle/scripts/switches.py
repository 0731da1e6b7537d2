"""On/off settings as the command line gives them: ``--save_meshes false`` must mean off.

``python -m monai.bundle run`` hands the config a command-line value that is not a Python literal as a string, and the
string ``"false"`` is true in Python: without this, ``--resume false`` would silently resume and ``--save_meshes
false`` would still write meshes. The configs read every on/off id through ``switches`` once, and use its values.
"""

from __future__ import annotations

from .errors import InputError

ON = ("true", "yes", "on", "1")
OFF = ("false", "no", "off", "0")


class SwitchError(InputError):
    """An on/off setting given a value that is neither."""


def switch(value, name: str) -> bool | None:
    """``value`` as a bool (``None`` stays ``None``: the model's own setting); anything else is one line naming it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ON + OFF:
        return value.strip().lower() in ON
    raise SwitchError(f"--{name}: expected true or false, got {value!r}")


def switches(**values) -> dict[str, bool | None]:
    """Every on/off id of a config, read once: ``{"resume": True, ...}``."""
    return {name: switch(value, name) for name, value in values.items()}
