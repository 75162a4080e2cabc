"""Run a bench's gate as the appliance runs the agent: with the CPU and I/O priority its systemd unit gives it.

    from bench.appliance import run_as_unit
    print(run_as_unit())   # before the gate's threads start: "gate threads at nice -5, I/O best-effort 0 (...)"

``images/systemd/sharaka-gate.service`` sets ``Nice=``, ``IOSchedulingClass=`` and ``IOSchedulingPriority=``
(docs/online-query.md "Priority" says why). Linux keeps both per thread and a new thread inherits them from the
thread that starts it, so ``run_as_unit`` sets them on the calling thread: every gate thread started afterwards
(reader, link, outbox) runs as on the appliance, while a broker or central node started before keeps its own.
A negative nice needs root (or CAP_SYS_NICE), as systemd has when it starts the unit.

With the kernel's autogroup on (sched(7); this VM has it), a thread's nice ranks it only among the threads of
its own session, and sessions share the CPU by their autogroup's nice instead: the other helpers' jobs at nice
10 each take a session's full share beside the gate. The appliance turns autogroup off
(``images/rootfs/etc/sysctl.d/10-sharaka.conf``), so there ``Nice=`` ranks each of the agent's threads among
all tasks. On a host that has it on, ``run_as_unit`` starts a session of its own and gives that session's
autogroup the unit's nice: the gate then goes ahead of other sessions by the unit's weight as one group, less
than on the appliance (where each gate thread outweighs a nice-10 task 28 to 1).
"""

from __future__ import annotations

import configparser
import os
import subprocess
import threading
from pathlib import Path

UNIT = Path(__file__).resolve().parents[1] / "images" / "systemd" / "sharaka-gate.service"
IO_CLASSES = {"realtime": "1", "best-effort": "2", "idle": "3"}  # ionice -c
AUTOGROUP = Path("/proc/sys/kernel/sched_autogroup_enabled")


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
    Exits with what to do (not a PermissionError traceback) for a negative nice without the privilege to set it."""
    nice, io_class, io_priority = unit_priority(unit)
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    except PermissionError:
        raise SystemExit(f"--priority unit (the default) gives the gate's threads {unit.name}'s Nice={nice}, which "
                         "needs root or CAP_SYS_NICE: run as root, or pass --priority inherited") from None
    subprocess.run(["ionice", "-c", IO_CLASSES[io_class], "-n", str(io_priority), "-p", str(tid)], check=True)
    return f"gate threads at nice {nice}, I/O {io_class} {io_priority} (as {unit.name}; {own_autogroup(nice)})"


def own_autogroup(nice: int) -> str:
    """Where the kernel groups sessions (autogroup on), move this process into a session of its own and give
    its autogroup ``nice`` (see the module docstring); says what it did."""
    if not AUTOGROUP.exists() or AUTOGROUP.read_text().strip() != "1":
        return "no autogroup"
    try:
        os.setsid()
    except PermissionError:  # already a process group's leader: it stays in the caller's session
        return "autogroup on: in the caller's session, the nice ranks the gate within it only"
    Path("/proc/self/autogroup").write_text(str(nice))
    return f"autogroup on: own session at autogroup nice {nice}"
