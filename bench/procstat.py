"""Process accounting for the benches: CPU seconds and resident memory of a process and its descendants,
read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid``'s children, grandchildren, ... (those alive now)."""
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in descendants(k)]


def cpu_s(pid: int, tree: bool = True) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and, with ``tree``, its living descendants (0 when
    gone)."""
    total = 0
    for p in [pid, *(descendants(pid) if tree else [])]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def rss_mb(pid: int, tree: bool = False) -> float:
    """Resident memory of ``pid`` (and with ``tree`` its descendants) in MiB (0 when gone)."""
    total = 0.0
    for p in [pid, *(descendants(pid) if tree else [])]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total
