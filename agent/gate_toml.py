"""Writes a gate's configuration file (docs/config.md): the one place a gate.toml is made, by
``sharaka-gate provision`` on the gate, the demo and the tests.

    >>> write_gate_config(tmp, gate_id="gate-a", site="site-a", hitlist={"records": "listed.jsonl"})
    PosixPath('.../gate.toml')

Sections are plain mappings of the keys docs/config.md lists; values are strings, numbers, booleans or
lists of those. Nothing is validated here: `agent.config.load_config` is the judge, and tests hand it
bad values on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.durable import atomic_write


def gate_toml(
    *,
    gate_id: str,
    site: str,
    state_dir: str = "state",
    reader: str = "sim://reader?framing=lines",
    indicators: str = "sim://pca9685",
    **sections: Mapping[str, Any],
) -> str:
    """The TOML text of a gate: ``[gate]`` and ``[devices]`` from the arguments, then ``sections`` in order
    (a ``devices`` mapping adds to the reader and indicators)."""
    tables: dict[str, dict[str, Any]] = {
        "gate": {"id": gate_id, "site": site, "state_dir": state_dir},
        "devices": {"reader": reader, "indicators": indicators},
    }
    for name, values in sections.items():
        tables.setdefault(name, {}).update(values)
    return "\n".join(
        f"[{name}]\n" + "".join(f"{key} = {_value(value)}\n" for key, value in values.items())
        for name, values in tables.items()
    )


def write_gate_config(directory: Path, **kwargs: Any) -> Path:
    """Write ``directory/gate.toml`` (see `gate_toml` for the arguments) and return its path."""
    return write_config_file(Path(directory) / "gate.toml", **kwargs)


def write_config_file(path: Path, **kwargs: Any) -> Path:
    """Write the config at ``path`` durably (``atomic_write``: a power cut leaves the old or the new file; it
    names key files but holds no secret, mode 0644) and return it. See `gate_toml` for the arguments."""
    atomic_write(Path(path), gate_toml(**kwargs).encode(), mode=0o644)
    return Path(path)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"gate.toml value {value!r}: expected a string, number, boolean or list of those")
