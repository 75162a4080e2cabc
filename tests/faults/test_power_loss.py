"""RELIABILITY 53: every durable write is write -> fsync -> rename -> fsync(directory), seen by strace.

The real writers (the outbox, a hit-list install, a device key, trusted time, the gate config) run under
strace; tests/support/syscalls.py replays the trace and reports whatever a power cut could still undo
when an operation had returned. Each mutant removes one fsync on purpose and the check must catch it."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.support.hitlist_central import T0, Central, doc
from tests.support.syscalls import durable_order, trace_python

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace missing: ./tools/dev installs it")

WRITERS = """
import os, sys, types
from pathlib import Path
import agent.durable
from agent import keys as keyfiles
from agent.outbox import Outbox
from agent.hitlist.store import HitListStore
from agent.protocol.trusted_time import TrustedClock
from agent.gate_toml import write_gate_config

root = Path({root!r})
state = root / "state"
MUTANT = {mutant!r}
real_fsync = os.fsync
if MUTANT == "file_fsync":  # agent.durable forgets to fsync a file before renaming it
    agent.durable.os = types.SimpleNamespace(**{{**vars(os), "fsync": lambda fd: None if os.path.isfile(
        os.readlink(f"/proc/self/fd/{{fd}}")) else real_fsync(fd)}})
elif MUTANT == "dir_fsync":  # agent.durable forgets to fsync the directory after a rename
    agent.durable.fsync_dir = lambda path, step=None: None

def mark(label):
    print("MARK " + label, flush=True)

agent.durable.make_dirs(state)
mark("mkdir")
write_gate_config(root, gate_id="gate-p", site="site-p", reader="sim://reader")
mark("config")
keyfiles.generate(state / "device.key")
mark("device key")
clock = TrustedClock(state / "trusted_time.json", wall=lambda: 1.9e9)  # agrees: no leap (docs/adr/0009-time-leaps.md)
clock.observe(1.9e9, "head")
mark("trusted time")
box = Outbox(state / "outbox.sqlite3")
if MUTANT == "outbox_sync":  # the outbox commits without syncing its log
    box._db.execute("PRAGMA synchronous=NORMAL")
mark("outbox open")
box.append("decision", "e1", b"event-1", priority=0)
mark("outbox append")
box.append("decision", "e2", b"event-2", priority=10)
mark("outbox append hit")
box.ack(["e1"])
mark("outbox ack")
store = HitListStore(state / "hitlist", bytes.fromhex({root_pub!r}))
store.install((root / "snapshot.bin").read_bytes(), now={now!r})
mark("list install")
"""


def run_writers(root: Path, mutant: str = "") -> list[str]:
    central = Central()
    (root / "snapshot.bin").write_bytes(central.snapshot([doc(i) for i in range(50)], 1))
    script = textwrap.dedent(WRITERS.format(root=str(root), mutant=mutant, root_pub=central.root_pub.hex(), now=T0))
    lines = trace_python(script, root=root)
    return durable_order(lines, root=root, existing={str(p) for p in root.rglob("*")})


def test_p53_every_durable_write_is_synced_before_it_is_renamed_and_its_directory_after(tmp_path):
    problems = run_writers(tmp_path)
    assert problems == []


def test_p53_trace_sees_each_writer(tmp_path):
    """The check is not vacuous: each writer's files appear in the trace, synced."""
    central = Central()
    (tmp_path / "snapshot.bin").write_bytes(central.snapshot([doc(1)], 1))
    script = textwrap.dedent(WRITERS.format(root=str(tmp_path), mutant="", root_pub=central.root_pub.hex(), now=T0))
    trace = "\n".join(trace_python(script, root=tmp_path))
    for name in ("gate.toml", "device.key", "trusted_time.json", "outbox.sqlite3-wal", "hitlist"):
        assert name in trace, name
    assert "fsync(" in trace and "fdatasync(" in trace
    assert trace.count("MARK ") == 9


@pytest.mark.parametrize("mutant,expected", [
    ("file_fsync", "before its data was fsynced"),
    ("dir_fsync", "its directory"),
    ("outbox_sync", "outbox.sqlite3-wal written but not fsynced"),
], ids=["file-fsync-removed", "directory-fsync-removed", "outbox-commit-not-synced"])
def test_p53_check_fails_when_one_fsync_is_removed(tmp_path, mutant, expected):
    problems = run_writers(tmp_path, mutant)
    assert any(expected in p for p in problems), problems
