"""Small durable state files (sequence numbers, trusted time, keys, status): written atomically and fsynced."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync the directory.

    ``exclusive``: create ``path`` only if it does not exist (FileExistsError otherwise; a hard link
    instead of the rename, so nothing existing is ever replaced)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if not exclusive:
        durable_replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)


def durable_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` over ``dst`` and fsync the directory, so the rename survives a power cut."""
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)


def fsync_dir(directory: Path) -> None:
    """fsync a directory, so the names created or renamed in it survive a power cut."""
    dfd = os.open(directory, os.O_RDONLY)
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
