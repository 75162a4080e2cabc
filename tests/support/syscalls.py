"""Power-loss check by system-call trace (RELIABILITY 53): what a power cut can undo, seen in strace.

    >>> problems = durable_order(trace_python(script, root=tmp_path), root=tmp_path, existing=set())
    >>> assert problems == []

A page-cache write survives SIGKILL but not a power cut; only ``fsync``/``fdatasync`` makes it durable,
and a new or renamed name is durable only once its directory is fsynced. The traced program prints
``MARK <label>`` on stdout when an operation has returned (the point where the caller is entitled to
trust it: an outbox append before the indicator acts, an install before "installed"). The checker
replays the trace under ``root`` and reports, at each mark, every file written but not synced and
every directory whose new entries are not synced; at each rename or link, a source renamed before
its data was synced. SQLite's shared-memory index (``-shm``) is not durable state and is ignored.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import REPO

TRACED = "openat,mkdir,mkdirat,write,pwrite64,writev,pwritev,ftruncate,fsync,fdatasync,rename,renameat,renameat2," \
         "link,linkat,unlink,unlinkat,rmdir"
_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<(.*?)>)?")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_FD = re.compile(r"^-?\d+<(.*?)>")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
_DIRFD = re.compile(r"(?:AT_FDCWD|-?\d+)<(.*?)>")


def trace_python(script: str, *, root: Path, timeout: float = 120.0) -> list[str]:
    """Run ``script`` with this interpreter under ``strace -f -y`` and return the trace lines."""
    out = root / ".strace.txt"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-s", "64", "-e", f"trace={TRACED}", "-o", str(out), sys.executable, "-c",
         script], capture_output=True, text=True, timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    if proc.returncode != 0:
        raise AssertionError(f"traced program failed ({proc.returncode}): {proc.stderr[-2000:]}")
    lines = out.read_text().splitlines()
    out.unlink()
    return lines


@dataclass
class _State:
    root: str
    existing: set[str]
    dirty: set[str] = field(default_factory=set)  # files written since their last sync
    entries: dict[str, set[str]] = field(default_factory=dict)  # dir -> names created/renamed since its sync
    problems: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)

    def under(self, path: str) -> bool:
        return (path == self.root or path.startswith(self.root + "/")) and not path.endswith("-shm")

    def add_entry(self, path: str) -> None:
        if self.under(path):
            self.entries.setdefault(os.path.dirname(path), set()).add(path)
            self.existing.add(path)

    def drop_entry(self, path: str) -> None:
        self.entries.get(os.path.dirname(path), set()).discard(path)
        self.dirty.discard(path)
        self.existing.discard(path)

    def mark(self, label: str) -> None:
        self.marks.append(label)
        for path in sorted(self.dirty):
            self.problems.append(f"{label}: {path} written but not fsynced when the operation returned")
        for d, names in sorted(self.entries.items()):
            for name in sorted(names):
                self.problems.append(f"{label}: {name} created or renamed but its directory {d} not fsynced")
        self.dirty.clear()
        self.entries.clear()


def _resolve(args: str, index: int) -> str:
    """The ``index``-th string argument, made absolute against the directory fd before it (if any)."""
    strings = _STR.findall(args)
    path = strings[index].encode().decode("unicode_escape")
    if os.path.isabs(path):
        return os.path.normpath(path)
    dirs = _DIRFD.findall(args)
    base = dirs[index] if index < len(dirs) else os.getcwd()
    return os.path.normpath(os.path.join(base, path))


def durable_order(lines: list[str], *, root: Path, existing: set[str] | None = None) -> list[str]:
    """Every place in ``lines`` (strace -f -y output) where a power cut could lose what was promised.

    ``existing``: paths under ``root`` that existed before the trace (opening them with O_CREAT creates
    nothing). Returns problem descriptions, empty when every write was synced in order."""
    state = _State(os.path.realpath(root), set(existing or ()))
    pending: dict[str, str] = {}
    for raw in lines:
        m = _LINE.match(raw)
        if not m:
            continue
        pid, text = m.groups()
        if text.endswith("<unfinished ...>"):
            pending[pid] = text[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = _RESUMED.match(text)
        if resumed:
            text = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
        call = _CALL.match(text)
        if not call:
            continue
        name, args, ret, ret_path = call.group(1), call.group(2), int(call.group(3)), call.group(4)
        if ret < 0:
            continue
        _apply(state, name, args, ret_path)
    return state.problems


def _apply(state: _State, name: str, args: str, ret_path: str | None) -> None:
    fd = _FD.match(args)
    fd_path = fd.group(1) if fd else None
    if name == "openat" and ret_path and "O_CREAT" in args and ret_path not in state.existing:
        state.add_entry(ret_path)
    elif name in ("mkdir", "mkdirat"):
        state.add_entry(_resolve(args, 0))
    elif name in ("write", "pwrite64", "writev", "pwritev", "ftruncate") and fd_path:
        if fd_path.startswith(("pipe:", "/dev/")) or not state.under(fd_path):
            label = _STR.search(args)
            if label and label.group(1).startswith("MARK "):
                state.mark(label.group(1)[5:].replace("\\n", "").strip())
            return
        state.dirty.add(fd_path)
    elif name in ("fsync", "fdatasync") and fd_path:
        state.dirty.discard(fd_path)
        state.entries.pop(fd_path, None)
    elif name in ("rename", "renameat", "renameat2", "link", "linkat"):
        src, dst = _resolve(args, 0), _resolve(args, 1)
        if not state.under(dst):
            return
        if src in state.dirty:
            state.problems.append(f"{src} {name}d to {dst} before its data was fsynced")
        if state.entries.get(src):
            state.problems.append(f"directory {src} {name}d to {dst} before its entries were fsynced")
        if name.startswith("rename"):
            state.drop_entry(src)
            state.entries.pop(src, None)
        state.add_entry(dst)
    elif name in ("unlink", "unlinkat", "rmdir"):
        state.drop_entry(_resolve(args, 0))
