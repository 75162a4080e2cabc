"""Run a bench's gate as the appliance runs the agent: with the CPU and I/O priority its systemd unit gives it.

    from bench.appliance import run_as_unit
    print(run_as_unit())   # before the gate's threads start: "gate threads at nice -5, I/O best-effort 0 (...)"

``images/systemd/sharaka-gate.service`` sets ``Nice=``, ``IOSchedulingClass=`` and ``IOSchedulingPriority=``
(docs/online-query.md "Priority" says why). Linux keeps both per thread and a new thread inherits them from the
thread that starts it, so ``run_as_unit`` sets them on the calling thread: every gate thread started afterwards
(reader, link, outbox) runs as on the appliance, while a broker or central node started before keeps its own.
A negative nice needs root (or CAP_SYS_NICE), as systemd has when it starts the unit.
"""

from __future__ import annotations

import configparser
import os
import subprocess
import threading
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "images" / "systemd" / "sharaka-gate.service"
IO_CLASSES = {"realtime": "1", "best-effort": "2", "idle": "3"}  # ionice -c


def unit_priority(unit: Path = UNIT) -> tuple[int, str, int]:
    """(Nice, IOSchedulingClass, IOSchedulingPriority) of the unit's [Service] (systemd's defaults when unset)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    service = parser["Service"]
    return (int(service.get("Nice", "0")), service.get("IOSchedulingClass", "best-effort"),
            int(service.get("IOSchedulingPriority", "4")))


def run_as_unit(unit: Path = UNIT) -> str:
    """Give the calling thread (and the threads it starts from now on) the unit's priorities; says what it set.
    Raises PermissionError for a negative nice without the privilege to set it."""
    nice, io_class, io_priority = unit_priority(unit)
    tid = threading.get_native_id()
    os.setpriority(os.PRIO_PROCESS, tid, nice)
    subprocess.run(["ionice", "-c", IO_CLASSES[io_class], "-n", str(io_priority), "-p", str(tid)], check=True)
    return f"gate threads at nice {nice}, I/O {io_class} {io_priority} (as {unit.name})"
