"""Delivery properties (RELIABILITY 17-25) against a real Mosquitto, real outboxes and the real central node."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from nacl.signing import SigningKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.protocol import topics
from tests.faketime import ClockedGateProcess, needs_faketime
from tests.support.link import make_central, make_gate
from tests.support.netproxy import NetProxy
from tests.support.paths import REPO
from tests.support.wait import wait_until


def assert_exactly_once_in_order(store, gate_id: str, emitted: list[str]) -> None:
    stored = store.events(gate_id)
    ids = [e["msg_id"] for e in stored]
    assert len(ids) == len(set(ids)), "duplicate id at the centre"
    assert set(ids) == set(emitted), f"missing {len(set(emitted) - set(ids))}, extra {len(set(ids) - set(emitted))}"
    routine = [e["seq"] for e in stored if not e["is_hit"]]
    assert routine == sorted(routine), "routine events arrived out of order"
    assert routine == list(range(routine[0], routine[0] + len(routine))), "gap in the per-gate sequence"


def test_p17_broker_puback_is_not_delivery_event_stays_until_central_ack(mq, tmp_path, keys):
    """A subscriber gets the events (PUBACKs happen) but no central node acks: nothing leaves the outbox."""
    from tools.central.store import CentralStore

    store = CentralStore(tmp_path / "central.db")
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=store)
    seen: list[bytes] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="central", protocol=mqtt.MQTTv5)
    sub.username_pw_set(*mq.central)
    sub.on_message = lambda _c, _u, m: seen.append(m.payload)
    sub.connect(mq.host, mq.port)
    sub.subscribe(topics.gate("gate-a", topics.EVENT), qos=1)
    sub.loop_start()
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(20)
        assert wait_until(lambda: len(seen) >= 20, 10)
        time.sleep(0.3)
        assert gate.outbox.depth() == 20, "a PUBACK removed events from the outbox"
        sub.loop_stop()
        sub.disconnect()
        central = make_central(mq, tmp_path / "central.db", keys)
        try:
            gate.link.window.ack_timeout = 0.5  # resend what the dead subscriber swallowed
            assert wait_until(lambda: gate.outbox.depth() == 0, 15)
            assert_exactly_once_in_order(central.store, "gate-a", gate.emitted)
        finally:
            central.stop()
    finally:
        gate.stop()


@pytest.mark.parametrize(
    ("total", "outage"),
    [pytest.param(1000, 1.5, id="1000-events-short-outage"),
     pytest.param(1000, 60.0, id="1000-events-one-minute", marks=pytest.mark.slow)],
)
def test_p18_broker_stopped_1000_events_arrive_exactly_once_in_order(mq, tmp_path, keys, total, outage):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store)
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(total // 4)
        mq.stop()  # mid-stream: some in flight, some acked
        stop_at = time.monotonic()
        gate.emit(total // 2)
        while time.monotonic() - stop_at < outage:
            time.sleep(0.1)
        assert gate.outbox.depth() > 0
        mq.start()
        gate.emit(total - len(gate.emitted))
        assert wait_until(lambda: gate.outbox.depth() == 0, 60), gate.link.stats
        assert wait_until(lambda: central.store.count_events() >= total, 10)
        assert_exactly_once_in_order(central.store, "gate-a", gate.emitted)
    finally:
        gate.stop()
        central.stop()


def _run_gate_proc(mq, state: Path, keys, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.gate_proc", "--gate", "gate-k", "--port", str(mq.port), "--user", "gate-k",
         f"--password={mq.credentials['gate-k']}", "--state", str(state), "--node-pub", bytes(keys.node.verify_key).hex(),
         "--count", str(count)],
        cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.mark.parametrize("runs", [pytest.param(4, id="4-runs"), pytest.param(50, id="50-runs", marks=pytest.mark.slow)])
def test_p19_gate_kill9_mid_burst_every_shown_event_arrives_once(mq, tmp_path, keys, runs):
    from nacl.signing import SigningKey

    rng = random.Random(19)
    state = tmp_path / "gate"
    state.mkdir()
    key = SigningKey.generate()
    (state / "device.key").write_bytes(bytes(key))
    central = make_central(mq, tmp_path / "central.db", keys)
    central.store.enrol("gate-k", bytes(key.verify_key), time.time())
    mq.add_gate("gate-k")
    shown: list[str] = []
    try:
        for run in range(runs):
            broker_down = run % 3 == 2
            if broker_down:
                mq.stop()
            proc = _run_gate_proc(mq, state, keys, 400)
            kill_after = rng.randint(20, 300)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("A "):
                    shown.append(line.split()[1])  # committed: the indicator may act now
                    kill_after -= 1
                if kill_after <= 0 or line.startswith("DONE"):
                    break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if broker_down:
                mq.start()
        proc = _run_gate_proc(mq, state, keys, 0)
        try:
            # committed-but-not-yet-reported rows arrive too: wait for every shown one, not for a count
            assert wait_until(lambda: set(shown) <= {e["msg_id"] for e in central.store.events("gate-k")}, 60)
        finally:
            proc.kill()
            proc.wait()
        stored = [e["msg_id"] for e in central.store.events("gate-k")]
        assert len(stored) == len(set(stored))
        assert set(shown) <= set(stored), f"{len(set(shown) - set(stored))} shown events lost"
        seqs = [e["seq"] for e in central.store.events("gate-k")]
        assert seqs == sorted(seqs)
    finally:
        central.stop()


def test_p20_refused_puback_keeps_event_pending_and_raises_alarm(mq, tmp_path, keys):
    """Credentials of gate-a but configured as gate-b: the ACL refuses gate-b's topics with PUBACK 0x87."""
    mq.add_gate("gate-a")
    gate = make_gate(mq, tmp_path / "g", keys, "gate-b", username="gate-a")
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(3)
        assert wait_until(lambda: gate.link.stats.refused >= 3, 10)
        assert gate.outbox.depth() == 3
        assert "publish_refused" in gate.link.status()["alarms"]
        assert gate.link.status()["outbox"]["depth"] == 3
    finally:
        gate.stop()


def test_the_largest_keepalive_and_will_delay_the_config_takes_still_connect(mq, tmp_path, keys):
    """[link] keepalive_s and will_delay_s take up to what MQTT's fields hold (docs/config.md); beyond it paho raised
    struct.error on every connect, which the config let through."""
    from agent.config import MAX_KEEPALIVE_S, MAX_WILL_DELAY_S

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, keepalive=MAX_KEEPALIVE_S,
                     will_delay=MAX_WILL_DELAY_S)
    try:
        assert gate.link.wait_for_connected(10)
    finally:
        gate.stop()
        central.stop()


def _refused_by_the_centre(gate, n: int) -> list[str]:
    """``n`` decision events sealed to a node key the centre does not have: it refuses each as ``sealed``, and
    acknowledges none (docs/protocol.md "Sealed events")."""
    import uuid

    import msgpack

    from agent.outbox import PRIORITY_ROUTINE

    ids = [uuid.uuid4().hex for _ in range(n)]
    for msg_id in ids:
        body = msgpack.packb({"v": 2, "type": "decision", "id": msg_id, "sealed_to": "00" * 8, "sealed": b"x" * 48})
        gate.outbox.append("decision", msg_id, body, priority=PRIORITY_ROUTINE)
    return ids


def test_events_the_centre_refuses_stay_queued_and_never_block_the_events_behind_them(mq, tmp_path, keys):
    """docs/protocol.md "Delivery" 6: more refused events than the window holds, oldest in the outbox: they stay
    queued (not lost, sent again at growing intervals), and every event behind them is delivered."""
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, window=4,
                     ack_timeout=0.5, ack_timeout_max=1.0)
    try:
        refused = _refused_by_the_centre(gate, 6)
        good = gate.emit(10)
        gate.link.start()
        assert wait_until(lambda: {e["msg_id"] for e in central.store.events("gate-a")} == set(good), 20), \
            central.store.events("gate-a")
        assert wait_until(lambda: gate.outbox.depth() == 6, 5)
        assert {r.msg_id for r in gate.outbox.pending(100)} == set(refused)
        assert central.store.rejects_by_gate()["gate-a"]["sealed"] >= 6
        assert wait_until(lambda: gate.link.status()["link"]["unacked"] == 6, 5), gate.link.status()["link"]
        assert "unacknowledged" in gate.link.status()["alarms"]
    finally:
        gate.stop()
        central.stop()


def _window_rows_of(window, msg_ids: set[str]) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Which of ``msg_ids`` each of the window's per-row maps still holds (as a key or a value)."""
    held = {}
    for name, rows in vars(window).items():
        if isinstance(rows, dict):
            found = (set(rows) | {v for v in rows.values() if isinstance(v, str)}) & msg_ids
            if found:
                held[name] = found
    return held


def test_rows_the_outbox_drops_unacknowledged_leave_every_map_of_the_window(mq, tmp_path, keys):
    """A row sent and never acknowledged (the centre refuses it, or it cannot be sealed) that the full outbox drops
    stayed in the window's ``_rows`` (and ``_timeouts``) for ever: on a gate running for months with a flaky
    centre, without bound. Now the link forgets the rows the outbox dropped (``Outbox.gone``) at its next drain."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, ack_timeout=0.3,
                     ack_timeout_max=0.3, refused_retry=60.0)
    window = gate.link.window
    try:
        gate.outbox.max_rows = 6
        old = set(_refused_by_the_centre(gate, 4))
        for _ in range(2):  # refused at sealing: held back as refused
            big = uuid.uuid4().hex
            gate.outbox.append("decision", big, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
            old.add(big)
        gate.link.start()
        assert wait_until(lambda: window.unacked == 4 and window.held >= 2, 20), gate.link.status()["link"]
        assert set(window._rows) == old
        good = gate.emit(6)  # the outbox is full: each new row drops the oldest
        assert wait_until(lambda: {e["msg_id"] for e in central.store.events("gate-a")} == set(good), 20)
        assert gate.outbox.dropped == 6 and not {r.msg_id for r in gate.outbox.pending(100)} & old
        assert wait_until(lambda: not _window_rows_of(window, old | set(good)), 5), {
            name: len(rows) for name, rows in _window_rows_of(window, old | set(good)).items()}
        assert all(m not in window._held for _, m in window._holds)  # stale entries only (DeliveryWindow.forget)
        assert window.out == window.held == window.unacked == 0
        gate.link.stop()  # no drain after it: the outbox records no more ids to forget
        assert gate.outbox._gone is None
    finally:
        gate.stop()
        central.stop()


def test_event_too_big_to_seal_stays_queued_with_an_alarm_and_the_events_behind_it_go(mq, tmp_path, keys):
    """An outbox row whose body is over the 200 KiB every receiver refuses: ``seal`` refuses it, the link holds it
    back as refused (kept, alarm ``publish_refused``) instead of stopping at it."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, ack_timeout=0.5)
    try:
        big = uuid.uuid4().hex
        gate.outbox.append("decision", big, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
        good = gate.emit(3)
        gate.link.start()
        assert wait_until(lambda: {e["msg_id"] for e in central.store.events("gate-a")} == set(good), 10)
        assert wait_until(lambda: gate.outbox.depth() == 1, 5) and gate.outbox.pending(10)[0].msg_id == big
        assert "publish_refused" in gate.link.status()["alarms"] and gate.link.stats.refused >= 1
    finally:
        gate.stop()
        central.stop()


def test_a_row_held_back_is_not_read_from_the_outbox_again_until_it_can_be_due(mq, tmp_path, keys):
    """Every drain (each new row, each refill after acks) read the held-back rows from the outbox only to skip them:
    here a 200 KiB body the link cannot seal, read twenty times in a second. While every queued row is out or held
    back the link queries nothing; a new row is read and sent, and the held row is tried again once its wait is
    over (statements traced on the outbox's own SQLite connection)."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, ack_timeout=0.5,
                     refused_retry=4.0)
    reads: list[str] = []
    gate.outbox._db.set_trace_callback(lambda q: reads.append(q) if q.startswith("SELECT seq, msg_id") else None)
    try:
        gate.outbox.append("decision", uuid.uuid4().hex, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
        good = gate.emit(2)
        gate.link.start()
        assert wait_until(lambda: {e["msg_id"] for e in central.store.events("gate-a")} == set(good), 10)
        assert wait_until(lambda: gate.outbox.depth() == 1 and len(gate.link.window) == 0, 5)
        time.sleep(0.2)
        assert gate.link.stats.refused == 1 and gate.link.window.held == 1
        reads.clear()
        for _ in range(20):  # a drain each, as new rows or acks bring
            gate.link.notify()
            time.sleep(0.05)
        assert reads == [], f"{len(reads)} outbox reads with nothing to send but the held row"
        new = gate.emit(1)
        assert wait_until(lambda: new[0] in {e["msg_id"] for e in central.store.events("gate-a")}, 10)
        assert reads, "a new row was sent without reading it"
        assert wait_until(lambda: gate.link.stats.refused >= 2, 10), "the held row was not tried again"
    finally:
        gate.stop()
        central.stop()


def test_a_drain_with_rows_to_send_reads_only_those_not_the_rows_held_back_or_in_flight(mq, tmp_path, keys):
    """A drain that had rows to send read the held-back rows with them (the query took ``window + held`` rows from
    the oldest and the link skipped those out already): here a 200 KiB body the link cannot seal, read again with
    every new event. Now the query leaves out the ids in flight or held back, and each new row is read once (rows
    counted as SQLite hands them to the outbox's own connection)."""
    import uuid
    from collections import Counter

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, ack_timeout=5.0,
                     refused_retry=60.0)
    read: Counter[str] = Counter()

    def counted(cursor, row):  # type: ignore[no-untyped-def]
        if [c[0] for c in cursor.description][:2] == ["seq", "msg_id"]:
            read[row[1]] += 1
        return row

    gate.outbox._db.row_factory = counted
    try:
        big = uuid.uuid4().hex
        gate.outbox.append("decision", big, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
        gate.link.start()
        assert wait_until(lambda: gate.link.window.held == 1, 10), "the unsealable row was not held back"
        read.clear()
        new = gate.emit(5)  # a burst: drains while earlier rows are in flight
        for _ in range(5):  # then one at a time, each acknowledged before the next
            assert wait_until(lambda: gate.outbox.depth() == 1, 10), "not every new row was acknowledged"
            new += gate.emit(1)
        assert wait_until(lambda: gate.outbox.depth() == 1, 10)
        assert read[big] == 0, f"the held-back row was read {read[big]} times with rows to send"
        assert read == Counter(dict.fromkeys(new, 1)), "a row was read again while in flight"
    finally:
        gate.stop()
        central.stop()


def test_rows_the_link_cannot_seal_filling_the_window_do_not_stop_the_rows_behind_them(mq, tmp_path, keys):
    """A row refused at sealing freed its window slot only for the next drain, and nothing brought one: with as
    many such rows at the head as the window had room for, the query read only those, and the good rows behind
    them waited for a new row (each retry of the refused ones read the same rows again). Now a refusal at sealing
    drains again at once."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, start=False, window=4,
                     refused_retry=60.0)
    try:
        for _ in range(4):
            gate.outbox.append("decision", uuid.uuid4().hex, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
        good = gate.emit(3)
        gate.link.start()
        assert wait_until(lambda: {e["msg_id"] for e in central.store.events("gate-a")} == set(good), 10), \
            "the rows behind the unsealable ones were not sent"
        assert wait_until(lambda: gate.outbox.depth() == 4, 5) and gate.link.window.held == 4
    finally:
        gate.stop()
        central.stop()


def _query_steps(gate) -> list[int]:  # type: ignore[no-untyped-def]
    """SQLite virtual-machine steps of each of the drain's outbox queries (``Outbox.pending``'s), as they run."""
    steps: list[int] = []
    current = [False]

    def traced(sql: str) -> None:
        current[0] = sql.startswith("SELECT seq, msg_id")
        if current[0]:
            steps.append(0)

    def step() -> int:
        if current[0]:
            steps[-1] += 1
        return 0

    gate.outbox._db.set_trace_callback(traced)
    gate.outbox._db.set_progress_handler(step, 1)
    return steps


def test_a_drains_query_costs_the_same_however_many_rows_are_held_back(mq, tmp_path, keys):
    """The query left out the rows in flight or held back by their ids, from the oldest row on: SQLite stepped
    over every held row's entry and read the ids' list at each drain, so 150 rows held back made each new row's
    query about 25 times longer. Now the query starts after the rows the link took out (``DeliveryWindow.start``)
    and lists only the rows out above that (none here): the same steps with 150 held back as with none."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    central = make_central(mq, tmp_path / "central.db", keys)
    per_query = {}
    try:
        for held in (0, 150):
            gate = make_gate(mq, tmp_path / f"g{held}", keys, f"gate-{held}", store=central.store, start=False,
                             refused_retry=60.0)
            try:
                for _ in range(held):
                    gate.outbox.append("decision", uuid.uuid4().hex, b"x" * (200 * 1024 + 1),
                                       priority=PRIORITY_ROUTINE)
                gate.link.start()
                assert wait_until(lambda: gate.link.window.held == held, 20)  # noqa: B023
                steps = _query_steps(gate)
                for _ in range(5):  # one at a time, each acknowledged before the next: a query each
                    gate.emit(1)
                    assert wait_until(lambda: gate.outbox.depth() == held, 10)  # noqa: B023
                assert steps, "no query ran"
                per_query[held] = max(steps)
            finally:
                gate.stop()
        assert per_query[150] <= 1.2 * per_query[0] + 20, per_query
    finally:
        central.stop()


def test_a_drains_query_costs_the_same_however_many_rows_are_out_behind_a_row_coming_due(mq, tmp_path, keys):
    """A row coming due again (here its refusal over) moved the query's start back to it, so the next query stepped
    over every row still out behind it and read their ids to leave them out: 150 rows in flight made it about 40
    times longer. Now the row due again is read by its seq (``DeliveryWindow.again``) and the query goes on from
    where it was: the same steps with 150 rows out behind it as with none."""
    import uuid

    from agent.outbox import PRIORITY_ROUTINE

    per_query = {}
    for behind in (0, 150):
        gate = make_gate(mq, tmp_path / f"g{behind}", keys, f"gate-{behind}", start=False, ack_timeout=600.0,
                         refused_retry=0.5)  # no centre: the rows behind stay in flight
        try:
            gate.outbox.append("decision", uuid.uuid4().hex, b"x" * (200 * 1024 + 1), priority=PRIORITY_ROUTINE)
            gate.link.start()
            assert wait_until(lambda: gate.link.window.held == 1, 10)  # noqa: B023
            gate.emit(behind)
            assert wait_until(lambda: len(gate.link.window) == behind, 20)  # noqa: B023
            steps = _query_steps(gate)
            refused = gate.link.stats.refused
            assert wait_until(lambda: gate.link.stats.refused >= refused + 2, 10)  # noqa: B023
            assert steps, "no query ran"
            per_query[behind] = max(steps)
        finally:
            gate.stop()
    assert per_query[150] <= 1.2 * per_query[0] + 20, per_query


def test_p21_half_open_link_noticed_within_two_keepalives_and_backlog_delivered(mq, tmp_path, keys):
    keepalive = 2
    proxy = NetProxy(mq.port).start()
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, tmp_path / "g", keys, "gate-a", store=central.store, port=proxy.port,
                     keepalive=keepalive)
    try:
        assert gate.link.wait_for_connected(10)
        gate.emit(10)
        assert wait_until(lambda: gate.outbox.depth() == 0, 10)
        proxy.blackhole()
        t0 = time.monotonic()
        gate.emit(50)  # screening goes on: appends commit while the link is dead
        assert wait_until(lambda: not gate.link.is_connected, 2 * keepalive + 5)
        noticed = time.monotonic() - t0
        assert noticed <= 2 * keepalive + 5
        assert gate.outbox.depth() == 50
        proxy.passthrough()
        t1 = time.monotonic()
        assert wait_until(lambda: gate.outbox.depth() == 0, 60)
        assert time.monotonic() - t1 < 60
        assert_exactly_once_in_order(central.store, "gate-a", gate.emitted)
    finally:
        gate.stop()
        central.stop()
        proxy.close()


def test_p23_new_hit_reaches_centre_within_5s_while_10k_backlog_drains(mq, tmp_path, keys, shm_dir):
    central = make_central(mq, tmp_path / "central.db", keys)
    gate = make_gate(mq, shm_dir / "g", keys, "gate-a", store=central.store, start=False)
    try:
        gate.emit(10_000)
        gate.link.start()
        assert wait_until(lambda: central.store.count_events() >= 200, 20)
        assert gate.outbox.depth() > 2000, "backlog drained before the hit could be tested"
        t0 = time.monotonic()
        (hit_id,) = gate.emit(1, hit=True)
        assert wait_until(lambda: any(e["msg_id"] == hit_id for e in central.store.events("gate-a", hits_only=True)), 5)
        assert time.monotonic() - t0 < 5
        assert wait_until(lambda: gate.outbox.depth() == 0, 60)
        assert_exactly_once_in_order(central.store, "gate-a", gate.emitted)
    finally:
        gate.stop()
        central.stop()


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise OSError("no VmRSS")


@pytest.mark.parametrize("queued", [pytest.param(20_000, id="20k"), pytest.param(200_000, id="200k", marks=pytest.mark.slow)])
def test_p24_queued_events_with_broker_unreachable_bounded_memory(mq, keys, queued, shm_dir):
    mq.stop()  # unreachable for the whole test
    gate = make_gate(mq, shm_dir / "g", keys, "gate-a", start=False)
    try:
        gate.link.start()
        time.sleep(0.3)
        before = _rss_kib()
        batch = 1000
        for _ in range(queued // batch):
            gate.emit(batch)
        time.sleep(1.0)
        grown_mib = (_rss_kib() - before) / 1024
        assert gate.outbox.depth() == queued
        assert grown_mib <= 30, f"resident memory grew by {grown_mib:.1f} MiB"
    finally:
        gate.stop()


@needs_faketime
def test_p25_wall_clock_steps_cause_no_reorder_loss_or_reconnect_storm(mq, tmp_path, keys):
    """The gate process's wall clock really steps (libfaketime), its monotonic clock does not, as on a gate."""
    central = make_central(mq, tmp_path / "central.db", keys)
    key = SigningKey.generate()
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "device.key").write_bytes(bytes(key))
    central.store.enrol("gate-a", bytes(key.verify_key), time.time())
    mq.add_gate("gate-a")
    gate = ClockedGateProcess(mq, tmp_path / "g", "gate-a", bytes(keys.node.verify_key), tmp_path / "clock")
    try:
        gate.emit(100)
        assert wait_until(lambda: central.store.gate_session("gate-a") > 0, 60)  # a process starting on a loaded machine
        session = central.store.gate_session("gate-a")
        gate.step("-1d")
        gate.emit(100)
        gate.step("+1y")
        gate.emit(100)
        assert wait_until(lambda: len(central.store.events("gate-a")) == 300, 30)
        time.sleep(1.0)
        assert central.store.gate_session("gate-a") == session, "clock steps caused reconnects"
        assert_exactly_once_in_order(central.store, "gate-a", gate.emitted)
    finally:
        gate.stop()
        central.stop()
