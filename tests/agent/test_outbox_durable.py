"""The outbox is the gate's durable event log: committed rows survive, order and bounds hold."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from agent.outbox import (
    CHECKPOINT_EVERY,
    CHECKPOINT_FORCED,
    PRIORITY_HIT,
    PRIORITY_ROUTINE,
    Outbox,
    OutboxError,
    read_outbox_stats,
)
from tests.support.clock import FakeClock
from tests.support.paths import REPO


def rows_in_file(path) -> list[tuple[int, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, msg_id FROM outbox ORDER BY seq").fetchall()
    finally:
        db.close()


def test_append_is_committed_and_visible_to_another_connection_on_return(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seq = box.append("decision", "m1", b"body", priority=PRIORITY_ROUTINE)
    assert rows_in_file(tmp_path / "o.db") == [(seq, "m1")]
    mode = box._db.execute("PRAGMA journal_mode").fetchone()[0]
    sync = box._db.execute("PRAGMA synchronous").fetchone()[0]
    assert (mode, sync) == ("wal", 2)  # 2 = FULL
    box.close()


def test_seq_strictly_increases_across_ack_drop_and_reopen(tmp_path):
    box = Outbox(tmp_path / "o.db", max_rows=2)
    seqs = [box.append("decision", f"m{i}", b"x", priority=PRIORITY_ROUTINE) for i in range(4)]
    box.ack(["m2", "m3"])
    box.close()
    box = Outbox(tmp_path / "o.db", max_rows=2)
    seqs.append(box.append("decision", "m4", b"x", priority=PRIORITY_ROUTINE))
    assert seqs == [1, 2, 3, 4, 5]
    assert box.last_seq == 5


def test_encoded_body_carries_the_seq_it_was_given(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.append("decision", "a", b"x", priority=0)
    seq = box.append_with_seq("decision", "b", lambda s: f"seq={s}".encode(), priority=0)
    assert box.pending(10)[1].body == f"seq={seq}".encode() == b"seq=2"


def test_pending_lists_hits_first_then_by_seq(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for i, prio in enumerate([0, 0, PRIORITY_HIT, 0, PRIORITY_HIT]):
        box.append("decision", f"m{i}", b"x", priority=prio)
    assert [r.msg_id for r in box.pending(10)] == ["m2", "m4", "m0", "m1", "m3"]
    assert [r.msg_id for r in box.pending(2)] == ["m2", "m4"]
    assert [r.msg_id for r in box.pending(2, skip={"m2", "m0"})] == ["m4", "m1"]  # the link's rows out already


def test_pending_reads_the_rows_due_again_by_seq_then_each_class_from_its_start(tmp_path):
    """``again``: the link's rows due again below its ``start`` (docs/protocol.md "Delivery" 6), hits first."""
    box = Outbox(tmp_path / "o.db")
    for i, prio in enumerate([0, PRIORITY_HIT, 0, 0, PRIORITY_HIT, 0]):
        box.append("decision", f"m{i + 1}", b"x", priority=prio)
    assert [r.msg_id for r in box.pending(10, start=(5, 5), again=([2], [4, 1]))] == ["m2", "m5", "m1", "m4", "m6"]
    assert [r.msg_id for r in box.pending(3, start=(5, 5), again=([2], [4, 1]))] == ["m2", "m5", "m1"]
    box.close()


def test_full_outbox_drops_oldest_routine_never_hits_and_counts_persistently(tmp_path):
    box = Outbox(tmp_path / "o.db", max_rows=3)
    box.append("decision", "hit0", b"x", priority=PRIORITY_HIT)
    for i in range(4):
        box.append("decision", f"r{i}", b"x", priority=PRIORITY_ROUTINE)
    assert sorted(r.msg_id for r in box.pending(10)) == ["hit0", "r2", "r3"]
    assert box.dropped == 2 and box.depth() == 3
    box.close()
    box = Outbox(tmp_path / "o.db", max_rows=3)
    assert box.dropped == 2
    assert read_outbox_stats(tmp_path / "o.db", now=0)["dropped"] == 2


def test_the_ids_of_dropped_rows_are_handed_to_the_reader_once_and_kept_only_once_it_asks(tmp_path):
    """``gone``: the link forgets what it keeps of a row dropped unacknowledged (docs/protocol.md "Delivery" 7);
    an outbox nobody reads from (a gate without a link, or a link stopped: ``keep=False``) records no ids."""
    box = Outbox(tmp_path / "o.db", max_rows=2)
    for i in range(3):
        box.append("decision", f"r{i}", b"x", priority=PRIORITY_ROUTINE)
    assert box._gone is None and box.gone() == []  # r0 dropped before anyone asked
    box.append("decision", "hit", b"x", priority=PRIORITY_HIT)
    box.append("decision", "r3", b"x", priority=PRIORITY_ROUTINE)
    assert box.gone() == ["r1", "r2"] and box.gone() == []
    box.append("decision", "r4", b"x", priority=PRIORITY_ROUTINE)  # drops r3
    assert box.gone(keep=False) == ["r3"]
    box.append("decision", "r5", b"x", priority=PRIORITY_ROUTINE)  # drops r4, with no one to ask
    assert box._gone is None and box.gone() == []
    box.close()


def test_outbox_full_of_hits_keeps_every_hit_and_drops_new_routine(tmp_path):
    box = Outbox(tmp_path / "o.db", max_rows=2)
    for i in range(3):
        box.append("decision", f"hit{i}", b"x", priority=PRIORITY_HIT)
    assert box.append("decision", "routine", b"x", priority=PRIORITY_ROUTINE) == 4
    assert sorted(r.msg_id for r in box.pending(10)) == ["hit0", "hit1", "hit2"]
    assert box.dropped == 1
    box.close()
    assert Outbox(tmp_path / "o.db", max_rows=2).append("decision", "next", b"x", priority=PRIORITY_HIT) == 5


def test_ack_removes_only_acknowledged_rows_and_ignores_unknown_ids(tmp_path):
    box = Outbox(tmp_path / "o.db")
    for i in range(3):
        box.append("decision", f"m{i}", b"x", priority=0)
    assert box.ack(["m0", "m2", "never-sent"]) == 2
    assert [r.msg_id for r in box.pending(10)] == ["m1"]
    assert box.depth() == 1 and rows_in_file(tmp_path / "o.db") == [(2, "m1")]


def test_duplicate_msg_id_is_refused_and_nothing_queued(tmp_path):
    box = Outbox(tmp_path / "o.db")
    box.append("decision", "same", b"x", priority=0)
    with pytest.raises(OutboxError, match="'same'"):
        box.append("decision", "same", b"y", priority=0)
    assert box.depth() == 1 and box.last_seq == 1


def test_oldest_age_uses_injected_clock(tmp_path):
    clock = FakeClock(1_800_000_000.0)
    box = Outbox(tmp_path / "o.db", clock=clock)
    assert box.oldest_age() == 0.0
    box.append("decision", "m0", b"x", priority=0)
    clock.now += 42.5
    box.append("decision", "m1", b"x", priority=0)
    assert box.oldest_age() == pytest.approx(42.5)
    assert read_outbox_stats(tmp_path / "o.db", now=clock.now + 1)["oldest_age_s"] == pytest.approx(43.5)


def test_backlog_figures_stay_right_through_commits_acks_drops_and_a_restart_reading_the_file_only_on_change(
        tmp_path):
    """The screen asks the outbox's depth and oldest age four times a second (agent/screen/__init__.py
    ``_backlog``). Depth is a counter; the oldest age is read from the file (a scan of every queued row, under the
    lock a traveller's commit waits for) only when rows that may have been the oldest left: the queue waiting
    offline, however long, costs no read. Each figure agrees with a fresh read of the file (``read_outbox_stats``)
    after appends (one stamped earlier, a wall clock stepped back), acks of the oldest or of a newer row, drops
    of a full outbox and a reopen."""
    path, clock = tmp_path / "o.db", FakeClock(1_800_000_000.0)
    box = Outbox(path, clock=clock, max_rows=4)
    scans: list[str] = []

    def trace(db: Outbox) -> None:
        db._db.set_trace_callback(lambda sql: scans.append(sql) if "min(created)" in sql else None)

    def agrees(reads: int) -> None:
        now = clock.now + 1
        stats = read_outbox_stats(path, now)
        for _ in range(8):  # two seconds of the screen's refreshes
            assert (box.depth(), box.oldest_age(now)) == pytest.approx((stats["depth"], stats["oldest_age_s"]))
        assert len(scans) == reads, scans
        scans.clear()

    trace(box)
    agrees(reads=1)  # nothing known at open: read once
    for i in range(3):
        box.append("decision", f"m{i}", b"x", priority=PRIORITY_ROUTINE)
        clock.advance(60)
        agrees(reads=0)
    box.append("decision", "early", b"x", priority=PRIORITY_ROUTINE, now=clock.now - 3600)  # a clock set back
    agrees(reads=0)
    box.ack(["m1"])  # a newer row: the oldest may have stayed, but an ack does not say
    agrees(reads=1)
    box.ack(["early"])
    agrees(reads=1)
    box.append("decision", "hit", b"x", priority=PRIORITY_HIT)
    box.append("decision", "m3", b"x", priority=PRIORITY_ROUTINE)
    agrees(reads=0)
    box.append("decision", "m4", b"x", priority=PRIORITY_ROUTINE)  # full: m0, the oldest routine row, dropped
    assert [r.msg_id for r in box.pending(10)] == ["hit", "m2", "m3", "m4"]
    agrees(reads=1)
    box.close()
    box = Outbox(path, clock=clock, max_rows=4)  # a restart
    trace(box)
    agrees(reads=1)
    box.ack(["hit", "m2", "m3", "m4"])
    agrees(reads=0)  # empty: nothing to read
    box.close()


def test_stats_of_a_missing_outbox_is_an_error_not_a_new_file(tmp_path):
    with pytest.raises(OutboxError):
        read_outbox_stats(tmp_path / "absent.db", now=0)
    assert not (tmp_path / "absent.db").exists()


WRITER = textwrap.dedent("""
    import sys
    from agent.outbox import Outbox
    box = Outbox(sys.argv[1])
    i = 0
    while True:
        seq = box.append("decision", f"m{i}", b"x" * 300, priority=(10 if i % 7 == 0 else 0))
        sys.stdout.write(f"{seq}\\n")
        sys.stdout.flush()
        i += 1
""")


@pytest.mark.parametrize("delay", [0.15, 0.4], ids=["early", "later"])
def test_kill_9_keeps_every_committed_row(tmp_path, delay):
    path = tmp_path / "o.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = [proc.stdout.readline() for _ in range(11)]  # appending has begun, whatever the start-up took
    time.sleep(delay)  # then appends for `delay`, killed in the middle of them
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    acknowledged = [int(line) for line in "".join(first).split() + out.split()]  # printed after append returned
    assert len(acknowledged) > 10
    box = Outbox(path)
    kept = {r.seq for r in box.pending(10**6)}
    assert set(acknowledged) <= kept
    assert sorted(kept) == list(range(1, len(kept) + 1))  # no gap, no torn row
    assert box.append("decision", "after", b"x", priority=0) == len(kept) + 1


DISK_FULL = textwrap.dedent("""
    import json, os, sys
    from agent.outbox import Outbox, OutboxError
    ballast = sys.argv[1] + "/ballast"  # whatever else filled the disk
    with open(ballast, "wb") as fh:
        fh.write(os.urandom(64 * 1024))
    box = Outbox(sys.argv[1] + "/o.db")
    committed, failures = [], 0
    for i in range(100_000):
        try:
            committed.append(box.append("decision", f"m{i}", os.urandom(300), priority=(10 if i % 5 == 0 else 0)))
        except OutboxError as exc:
            failures += 1
            full = str(exc)
            break
    kept = [r.seq for r in box.pending(10**6)]
    os.unlink(ballast)  # space returns
    box.ack([f"m{i}" for i in range(0, len(committed), 2)])  # the central node acknowledged half
    after = box.append("decision", "after-space-returned", b"x" * 300, priority=0)
    box.close()
    print(json.dumps({"committed": committed, "kept": kept, "failures": failures, "full": full, "after": after}))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a size-limited tmpfs in a mount namespace")
def test_disk_full_loses_nothing_committed_and_appends_resume_when_space_returns(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = f"mount -t tmpfs -o size=640k tmpfs {mnt} && exec {sys.executable} -c \"$0\" {mnt}"
    out = subprocess.run(["unshare", "--mount", "sh", "-c", script, DISK_FULL], capture_output=True, text=True,
                         timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["failures"] == 1 and "full" in result["full"]  # SQLITE_FULL from ENOSPC
    assert len(result["committed"]) > 50
    assert sorted(result["kept"]) == result["committed"]  # every committed row, none torn
    assert result["after"] == len(result["committed"]) + 1  # a failed append takes no seq: no gap


LIVE_APPENDS = """
import sys
from pathlib import Path
from agent.outbox import CHECKPOINT_EVERY, Outbox

box = Outbox(Path(sys.argv[1]) / "o.db")
print("MARK open", flush=True)
for cycle in range(2):  # each decision as the screener makes it: commit, (show), then the outbox's upkeep
    for i in range(CHECKPOINT_EVERY):  # ~40 pages each: SQLite would checkpoint by itself within the cycle
        box.append("decision", f"c{cycle}-{i}", bytes(160_000), priority=0)
        print(f"MARK append {cycle}-{i}", flush=True)
        box.checkpoint()
        print("MARK upkeep", flush=True)
box.close()
"""


def calls_between_marks(lines: list[str], root: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """(mark, [(call, file name)]) for each ``MARK`` line of a ``strace -y`` trace: the calls on files under
    ``root`` since the last mark."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    calls: list[tuple[str, str]] = []
    for line in lines:
        mark = re.search(r'write\(1<[^,]*, "MARK ([^"\\]*)', line)
        if mark:
            out.append((mark.group(1), calls))
            calls = []
            continue
        found = re.search(r"\b(pwrite64|write|fsync|fdatasync|ftruncate)\(\d+<([^>]*)>", line)
        if found and found.group(2).startswith(f"{root}/"):
            calls.append((found.group(1), os.path.basename(found.group(2))))
    return out


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace missing: ./tools/dev installs it")
def test_live_append_writes_and_syncs_only_the_wal_once_the_checkpoint_comes_after(tmp_path):
    """A decision's commit is on the traveller's path: it writes its pages to the WAL and syncs that once.
    Copying the WAL into the database (SQLite's automatic checkpoint, here crossed at ~1,000 pages) and
    restarting the WAL (a second sync of its header) are the upkeep after the indicator acted."""
    trace = tmp_path / "trace.txt"
    subprocess.run(["strace", "-f", "-qq", "-y", "-e", "trace=write,pwrite64,fsync,fdatasync,ftruncate", "-o",
                    str(trace), sys.executable, "-c", LIVE_APPENDS, str(tmp_path)], check=True, timeout=120, capture_output=True,
                   cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    marks = calls_between_marks(trace.read_text().splitlines(), tmp_path)
    appends = [(label, calls) for label, calls in marks if label.startswith("append")]
    assert len(appends) == 2 * CHECKPOINT_EVERY
    for label, calls in appends:
        assert {f for _c, f in calls} == {"o.db-wal"}, (label, calls)  # the database file is not touched
        assert [c for c, _f in calls if c in ("fsync", "fdatasync")] == ["fdatasync"], (label, calls)
    upkeep = [calls for label, calls in marks if label == "upkeep"]
    assert sum(("fdatasync", "o.db") in calls for calls in upkeep) == 2  # the upkeep did copy the WAL back
    assert rows_in_file(tmp_path / "o.db") == [(i + 1, f"c{i // CHECKPOINT_EVERY}-{i % CHECKPOINT_EVERY}")
                                               for i in range(2 * CHECKPOINT_EVERY)]


def test_appends_alone_keep_the_wal_bounded(tmp_path):
    """Nobody calls ``checkpoint`` (a tool appending on its own): every CHECKPOINT_FORCED appends checkpoint."""
    box = Outbox(tmp_path / "o.db")
    sizes = []
    for i in range(2 * CHECKPOINT_FORCED + 1):
        box.append("decision", f"m{i}", b"x" * 200, priority=0)
        sizes.append(os.path.getsize(tmp_path / "o.db-wal"))
    box.close()
    first = max(sizes[:CHECKPOINT_FORCED])
    assert max(sizes[CHECKPOINT_FORCED:]) < 1.2 * first  # restarted and rewritten, not grown to twice the size
    assert rows_in_file(tmp_path / "o.db")[-1] == (2 * CHECKPOINT_FORCED + 1, f"m{2 * CHECKPOINT_FORCED}")


def test_held_row_is_durable_but_not_sent_until_released_and_only_a_held_row_is_rewritten(tmp_path):
    """A decision waiting for the centre commits its event held (agent/screening/pipeline.py): durable at once,
    left out of what the link sends, rewritable until released; a restart releases it as committed."""
    box = Outbox(tmp_path / "o.db")
    box.append("decision", "before", b"b", priority=PRIORITY_ROUTINE)
    seq = box.append_with_seq("decision", "waiting", lambda s: b"silent", priority=PRIORITY_ROUTINE, held=True)
    assert rows_in_file(tmp_path / "o.db") == [(1, "before"), (seq, "waiting")]  # durable on return
    assert [r.msg_id for r in box.pending(10)] == ["before"]
    assert [r.msg_id for r in box.pending(1)] == ["before"]
    box.replace(seq, lambda s: f"answered-{s}".encode(), priority=PRIORITY_HIT)
    assert [r.msg_id for r in box.pending(10)] == ["before"]
    box.release(seq)
    assert [(r.msg_id, r.body, r.priority) for r in box.pending(10)] == [
        ("waiting", f"answered-{seq}".encode(), PRIORITY_HIT), ("before", b"b", PRIORITY_ROUTINE)]
    with pytest.raises(OutboxError, match="not held"):
        box.replace(1, lambda s: b"rewritten", priority=PRIORITY_ROUTINE)  # a released or sent row is final
    assert box.pending(10)[1].body == b"b"
    box.append_with_seq("decision", "held-at-crash", lambda s: b"h", priority=PRIORITY_ROUTINE, held=True)
    box.close()
    box = Outbox(tmp_path / "o.db")  # restarted: what was committed is sent
    assert "held-at-crash" in [r.msg_id for r in box.pending(10)]


def test_releasing_a_held_row_does_not_wait_for_another_threads_write_in_progress(tmp_path):
    """On a gate the link shares the outbox: its ack's durable delete may be in progress (an fdatasync the disk
    stalls) when a decision past its deadline releases its held row and shows. The release must not queue
    behind that write (docs/online-query.md "Commit"); here another thread's transaction is held open."""
    box = Outbox(tmp_path / "o.db")
    seq = box.append_with_seq("decision", "waiting", lambda s: b"silent", priority=PRIORITY_ROUTINE, held=True)
    writing, finish = threading.Event(), threading.Event()

    def slow_body(_seq: int) -> bytes:  # runs inside the other thread's write transaction
        writing.set()
        finish.wait(30)
        return b"other"

    writer = threading.Thread(target=box.append_with_seq, args=("decision", "other", slow_body),
                              kwargs={"priority": PRIORITY_ROUTINE})
    writer.start()
    assert writing.wait(10)
    releaser = threading.Thread(target=box.release, args=(seq,))
    releaser.start()
    releaser.join(10)  # returns at once; with the write lock taken it would wait for the writer's 30 s
    released_during_write = not releaser.is_alive()
    finish.set()
    writer.join()
    releaser.join()
    assert released_during_write
    assert [r.msg_id for r in box.pending(10)] == ["waiting", "other"]
