"""Durable writes, the one set every part uses (STYLE rule 7): state files, keys, the hit-list store.

A file is written in full (``os.write`` may write less than asked: the rest is written again), fsynced,
renamed over its final name and its directory fsynced, so a power cut leaves the old or the new file.
``step`` is called after every write, fsync and rename with a label: the hit-list store's
crash-injection hook (tests/hitlist/test_crash.py kills the installer at each of them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Step = Callable[[str], None]


def _no_step(_label: str) -> None:
    pass


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd``, looping on short writes."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view):]


def write_file(path: Path, chunks: Iterable[bytes | memoryview], *, mode: int = 0o600, step: Step = _no_step) -> None:
    """Create (or truncate) ``path`` with ``chunks`` written in full, then fsync it (not yet its directory)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        for chunk in chunks:
            write_all(fd, chunk)
            step(f"write {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    step(f"fsync {path}")


def fsync_dir(path: Path, *, step: Step = _no_step) -> None:
    """fsync a directory, so the names created or renamed in it survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    step(f"fsync dir {path}")


def fsync_file(path: Path) -> None:
    """fsync a file by name. After a rename on vfat (the boot partition) the entry holding the file's first
    cluster and size is written with the file's inode, not with the directory's fsync."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, *, mode: int = 0o777) -> None:
    """``mkdir -p`` whose new directories survive a power cut: each one's parent is fsynced after it."""
    path = Path(path)
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue
        fsync_dir(directory.parent)


def durable_replace(src: Path, dst: Path, *, step: Step = _no_step) -> None:
    """Rename ``src`` (a file or a directory) over ``dst`` and fsync the directory."""
    os.replace(src, dst)
    step(f"rename {dst}")
    fsync_dir(Path(dst).parent, step=step)


def atomic_write(
    path: Path, data: bytes, *, mode: int = 0o600, exclusive: bool = False, step: Step = _no_step
) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename, fsync the directory.

    ``exclusive``: create ``path`` only if it does not exist (FileExistsError otherwise; a hard link
    instead of the rename, so nothing existing is ever replaced)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write_file(tmp, [data], mode=mode, step=step)
    if not exclusive:
        durable_replace(tmp, path, step=step)
        return
    try:
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent, step=step)


def read_json(path: Path, default: dict[str, Any]) -> dict[str, Any]:
    """Read a JSON state file; a missing file gives ``default``. Raises ValueError on a corrupt file."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return dict(default)
    if not isinstance(data, dict):
        raise ValueError(f"state file {str(path)!r} holds {data!r}, expected a JSON object")
    return data


def write_json(path: Path, data: dict[str, Any], *, mode: int = 0o600) -> None:
    """Atomically write a JSON state file (``mode``: as ``atomic_write``)."""
    atomic_write(path, json.dumps(data, sort_keys=True).encode(), mode=mode)
