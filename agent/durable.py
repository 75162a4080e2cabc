"""Small durable state files (sequence numbers, trusted time, keys, status): written atomically and fsynced."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    durable_replace(tmp, path)


def durable_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` over ``dst`` and fsync the directory, so the rename survives a power cut."""
    os.replace(src, dst)
    dfd = os.open(Path(dst).parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """Read a JSON state file; a missing file gives ``default``. Raises ValueError on a corrupt file."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return dict(default)
    if not isinstance(data, dict):
        raise ValueError(f"state file {str(path)!r} holds {data!r}, expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically write a JSON state file."""
    atomic_write(path, json.dumps(data, sort_keys=True).encode())
