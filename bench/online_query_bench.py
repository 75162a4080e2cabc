"""Swipe-to-indicator latency with the online query on: centre answering, centre gone, and local only.

    python bench/online_query_bench.py [--count 2000] [--gone-count 100] [--deadline-ms 300] [--busy-thread]
                                       [--settle run|none]

One run, three modes on the same machine, documents and pipeline (docs/online-query.md):
  local-only     the peer: no query, the gate's own list decides (as bench/gate_latency.py);
  centre         [link] query on, a real Mosquitto and a real central node (its own process, as in the
                 field) answering from its current records (tools/central/online.py), which list 1 % of
                 the documents the gate's list lacks;
  centre gone    the same gate with the central node's process killed (broker up): every decision waits
                 out the deadline, then the local answer stands.
Each document is written to a real pseudo-terminal by the simulated reader; the gate reads it through the
real serial backend and framer, parses, looks up, asks the centre, commits its event (SQLite, WAL,
synchronous=FULL) and drives the PCA9685 driver over the simulated I2C bus. Latency runs from the write of
the last MRZ byte to the first PCA9685 register write of that decision. Goals (issue 11): centre answering
p99 <= 20 ms; centre gone p99 <= deadline + 5 ms. The gate's threads run with the CPU and I/O priority of the
appliance's unit (``--priority unit``, the default; bench/appliance.py), the broker and the centre as started.
The gate process is settled as `sharaka-gate run` settles it (start-up objects frozen, GIL switch interval
1 ms: agent/app.py ``settle_for_travellers``; ``--settle none`` keeps CPython's defaults), with ``--busy-thread``
beside a CPU-bound Python thread (other work of the agent's). The disk's own fdatasync latency is measured first, as the
commit stage's peer, and the load average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from nacl.signing import SigningKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.appliance

import hal  # noqa: E402
from agent.app import settle_for_travellers  # noqa: E402
from agent.config import ScreeningConfig  # noqa: E402
from agent.hitlist.memory import MemoryHitList  # noqa: E402
from agent.link import GateLink, LinkConfig  # noqa: E402
from agent.outbox import Outbox  # noqa: E402
from agent.screening import HIT, Screener  # noqa: E402
from agent.screening.events import EventSealer  # noqa: E402
from agent.screening.pipeline import IDLE_STATE  # noqa: E402
from bench.appliance import run_as_unit  # noqa: E402
from hal.reader.sim import SimReaderDevice  # noqa: E402
from tools.central.node import CentralConfig, CentralNode  # noqa: E402
from tools.central.online import RECORDS_FILE, OnlineLists  # noqa: E402
from tools.central.store import CentralStore  # noqa: E402
from tools.mosquitto import Broker  # noqa: E402
from tools.specimens import stream  # noqa: E402

PCA9685_ADDRESS = 0x40


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


class Rig:
    """A gate (pty reader, I2C board, outbox, optional link) screening one document at a time."""

    def __init__(self, tmp: Path, hitlist: MemoryHitList, node_key: SigningKey, link: GateLink | None,
                 deadline_s: float, name: str) -> None:
        self.device = SimReaderDevice(framing="lines")
        self.reader = hal.open_reader(f"serial://{self.device.port}?framing=lines&baud=115200")
        self.indicators = hal.open_indicators("sim://pca9685")
        self.outbox = Outbox(tmp / f"outbox-{name}.sqlite3", max_rows=1_000_000)
        self.screener = Screener(
            gate_id="bench", site="bench", reader_id="sim", rules=ScreeningConfig(duplicate_window_s=0.0),
            hitlist=hitlist, outbox=self.outbox, indicators=self.indicators,
            sealer=EventSealer(node_key.verify_key), centre=link.queries if link is not None else None,
            centre_deadline_s=deadline_s)
        self.first_write = 0
        self.stages: list[tuple[float, ...]] = []  # (total, to handle, decide incl. wait, commit, indicator) ms
        self.hops: list[tuple[float, float]] = []  # answered queries: (asked -> reply at the gate, reply -> woken) ms
        self.held: list[tuple[float, float]] = []  # held commits: (commit, wait's end - deadline from the read) ms
        self.deadline_ms = deadline_s * 1e3
        self.pending = None
        if link is not None:  # keep each query's Pending to time its hops (asked, answered: time.monotonic)
            start = link.queries.start

            def spy(subject):  # type: ignore[no-untyped-def]
                self.pending = start(subject)
                return self.pending

            link.queries.start = spy  # type: ignore[method-assign]
        thread = threading.get_ident()

        def on_write(addr: int, _reg: int | None, _value: int) -> None:
            if addr == PCA9685_ADDRESS and not self.first_write and threading.get_ident() == thread:
                self.first_write = time.perf_counter_ns()

        self.indicators.bus.on_write = on_write

    def run(self, docs: list[tuple[str, str]], warmup: int, interval: float = 0.0) -> tuple[list[float], dict[str, int]]:
        """Latencies in ms (after ``warmup`` documents) and the outcome counts; ``interval`` seconds (untimed)
        between documents. ``stages`` and ``hops`` hold this run's breakdown."""
        self.stages, self.hops, self.held = [], [], []
        lat: list[float] = []
        outcomes: dict[str, int] = {}
        for n, (line1, line2) in enumerate(docs):
            raw = f"{line1}\r\n{line2}\r\n".encode()
            self.device.write(raw[:-3])
            self.first_write = 0
            t0 = time.perf_counter_ns()
            self.device.write(raw[-3:])
            item = None
            while item is None:
                item = self.reader.read(timeout=1.0)
            decision = self.screener.handle(item)
            if decision is None:
                raise SystemExit(f"no decision for {line2[:9]!r}")
            if n >= warmup and self.first_write:
                lat.append((self.first_write - t0) / 1e6)
                t = self.screener.times
                self.stages.append(((self.first_write - t0) / 1e6, (t.start - t0) / 1e6, (t.decided - t.start) / 1e6,
                                    (t.committed - t.decided) / 1e6, (self.first_write - t.committed) / 1e6))
                if t.held:  # the silent case's event committed during the wait: its commit, and when the wait
                    # ended against the deadline counted from the framed read (negative: before it)
                    self.held.append(((t.held - t.held_from) / 1e6, (t.decided - t.start) / 1e6 - self.deadline_ms))
                p = self.pending
                if p is not None and p.answered_at is not None and decision.centre == "answered":
                    self.hops.append(((p.answered_at - p.asked_at) * 1e3, (t.decided / 1e9 - p.answered_at) * 1e3))
                key = f"{decision.verdict}/{decision.centre or 'local'}"
                outcomes[key] = outcomes.get(key, 0) + 1
            self.screener.show(IDLE_STATE)
            time.sleep(interval)
        return sorted(lat), outcomes

    def close(self) -> None:
        self.indicators.close()
        self.reader.close()
        self.device.close()
        self.outbox.close()


def centre_process(broker_addr: tuple[str, int, str, str], db: Path, node_seed: bytes, lists: Path,
                   ready: threading.Event) -> None:
    """The central node in its own process (a real centre is not in the gate's process or GIL)."""
    host, port, user, password = broker_addr
    node = CentralNode(CentralConfig(host=host, port=port, username=user, password=password), CentralStore(db),
                       SigningKey(node_seed), [], online=OnlineLists(lists))
    node.start()
    if node.wait_for_connected(10):
        ready.set()
    threading.Event().wait()  # until killed


def report(label: str, lat: list[float], outcomes: dict[str, int], goal: str = "", rig: Rig | None = None) -> None:
    print(f"  {label:13s} n={len(lat):5d}  p50 {percentile(lat, 0.5):7.2f} ms  p99 {percentile(lat, 0.99):7.2f} ms"
          f"  max {lat[-1]:7.2f} ms  {goal}")
    print(f"  {'':13s} slowest {', '.join(f'{v:.1f}' for v in lat[-3:])} ms")
    print(f"  {'':13s} outcomes {json.dumps(outcomes, sort_keys=True)}")
    if rig is None:
        return
    for i, name in ((1, "read"), (2, "decide+wait"), (3, "commit"), (4, "indicator")):
        v = sorted(r[i] for r in rig.stages)
        print(f"  {'':13s} {name:12s} p50 {percentile(v, 0.5):7.2f}  p99 {percentile(v, 0.99):7.2f}  max {v[-1]:7.2f} ms")
    if rig.hops:
        for i, name in ((0, "centre rtt"), (1, "wake-up")):
            v = sorted(h[i] for h in rig.hops)
            print(f"  {'':13s} {name:12s} p50 {percentile(v, 0.5):7.2f}  p99 {percentile(v, 0.99):7.2f}  max {v[-1]:7.2f} ms")
    if rig.held:
        for i, name in ((0, "held commit"), (1, "end-deadline")):
            v = sorted(h[i] for h in rig.held)
            print(f"  {'':13s} {name:12s} p50 {percentile(v, 0.5):7.2f}  p99 {percentile(v, 0.99):7.2f}  max {v[-1]:7.2f} ms"
                  f"  ({len(v)} decisions)")
    worst = max(rig.stages, key=lambda r: r[0])
    print(f"  {'':13s} slowest: total {worst[0]:.1f} = read {worst[1]:.1f} + decide/wait {worst[2]:.1f} + commit "
          f"{worst[3]:.1f} + indicator {worst[4]:.1f} ms")


def disk_sync_ms(directory: Path, n: int = 200, gap_s: float = 0.01) -> dict[str, list[float]]:
    """The disk's own latency, the commit stage's peer: ``fdatasync`` of one 4 KiB block written past the end
    of a file (the file system must commit the new size in its journal) and over a block already written (as
    the outbox's WAL is rewritten, docs/online-query.md "Commit"); the two alternate, ``gap_s`` apart."""
    out: dict[str, list[float]] = {"appending": [], "overwriting": []}
    fds = {mode: os.open(directory / f"disk-{mode}", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600) for mode in out}
    try:
        os.pwrite(fds["overwriting"], bytes(4096 * n), 0)
        os.fsync(fds["overwriting"])
        for i in range(n):
            for mode, fd in fds.items():
                os.pwrite(fd, os.urandom(4096), 4096 * i)
                t = time.perf_counter()
                os.fdatasync(fd)
                out[mode].append((time.perf_counter() - t) * 1e3)
                time.sleep(gap_s)
    finally:
        for mode, fd in fds.items():
            os.close(fd)
            (directory / f"disk-{mode}").unlink()
    return {mode: sorted(v) for mode, v in out.items()}


def spin() -> None:
    """Python bytecode for ever: holds the GIL whenever the deciding thread does not (``--busy-thread``)."""
    n = 0
    while True:
        n = (n + 1) % 1_000_003


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def gc_pauses() -> list[float]:
    """Durations (ms) of this process's garbage collections, appended as they happen."""
    pauses: list[float] = []
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - started[0]) * 1e3)

    gc.callbacks.append(on_gc)
    return pauses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="documents per mode (local-only and centre)")
    ap.add_argument("--gone-count", type=int, default=100, help="documents with the centre gone (each waits)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--deadline-ms", type=int, default=300)
    ap.add_argument("--listed", type=float, default=0.01, help="fraction listed by the centre only")
    ap.add_argument("--interval-ms", type=float, default=25.0,
                    help="pause between travellers with the query on (the centre admits 50 queries/s per gate)")
    ap.add_argument("--priority", choices=("unit", "inherited"), default="unit",
                    help="unit: the gate's threads (not the broker's or the centre's) run with the appliance unit's "
                         "Nice= and I/O class (bench/appliance.py); inherited: as this process was started")
    ap.add_argument("--settle", choices=("run", "none"), default="run",
                    help="run: settle the gate process as `sharaka-gate run` does (agent/app.py settle_for_travellers); "
                         "none: CPython's defaults (no gc.freeze, 5 ms GIL switch interval), to compare")
    ap.add_argument("--busy-thread", action="store_true",
                    help="a CPU-bound Python thread in the gate process all along (a stand-in for other work of the "
                         "agent's, such as the officer's screen rendering)")
    args = ap.parse_args(argv)
    deadline = args.deadline_ms / 1000
    docs = list(stream(args.warmup + max(args.count, args.gone_count), seed=11))
    step = max(1, round(1 / args.listed))
    online_only = [{"kind": "document", "issuing_state": "UTO", "document_number": l2[:9].rstrip("<"),
                    "reason": "stolen", "ref": f"new-{i}"} for i, (_l1, l2) in enumerate(docs) if i % step == 0]

    with tempfile.TemporaryDirectory() as tmp_name, Broker(Path(tmp_name) / "broker") as broker:
        tmp = Path(tmp_name)
        node_key = SigningKey.generate()
        device_key = SigningKey.generate()
        lists = tmp / "lists"
        (lists / "sltd").mkdir(parents=True)
        (lists / "sltd" / RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in online_only))
        store = CentralStore(tmp / "central.db")
        store.enrol("bench", bytes(device_key.verify_key), time.time())
        store.close()
        fork = multiprocessing.get_context("fork")
        ready = fork.Event()
        centre = fork.Process(target=centre_process, args=((broker.host, broker.port, *broker.central),
                                                           tmp / "central.db", bytes(node_key), lists, ready),
                              daemon=True)  # an early exit (no privilege for the unit's nice) must not wait on it
        centre.start()
        if not ready.wait(15):
            raise SystemExit("central node did not connect")
        priority = run_as_unit() if args.priority == "unit" else f"gate threads at inherited nice {os.nice(0)}"
        gate_user, gate_password = broker.add_gate("bench")
        link = GateLink(LinkConfig(gate_id="bench", host=broker.host, port=broker.port, username=gate_user,
                                   password=gate_password), Outbox(tmp / "link-outbox.sqlite3"), device_key,
                        node_keys=[node_key.verify_key], command_keys=[], state_dir=tmp / "link")
        link.start()
        if not link.wait_for_connected(10):
            raise SystemExit("gate link did not connect")
        hitlist = MemoryHitList([], version=1)  # the gate's own list knows none of the centre's new entries
        print(f"online query bench: deadline {args.deadline_ms} ms, {len(online_only)} entries listed at the "
              f"centre only (1 in {step}), real Mosquitto {broker.port}, real central node; python {sys.version.split()[0]}")
        print(f"  {time.strftime('%H:%M:%S', time.gmtime())} UTC, load average {loadavg()}; {priority}")
        disk = disk_sync_ms(tmp)
        print("  disk peer     fdatasync of 4 KiB: " + "; ".join(
            f"{mode} p50 {percentile(v, 0.5):.2f} p99 {percentile(v, 0.99):.2f} max {v[-1]:.2f} ms"
            for mode, v in disk.items()))
        local = Rig(tmp, hitlist, node_key, None, deadline, "local")
        online = Rig(tmp, hitlist, node_key, link, deadline, "online")
        if args.settle == "run":
            settle_for_travellers()  # as `sharaka-gate run` does once the gate is open
        if args.busy_thread:
            threading.Thread(target=spin, daemon=True).start()
        print(f"  gate process: settle {args.settle} (GIL switch interval {sys.getswitchinterval() * 1e3:g} ms, "
              f"{gc.get_freeze_count()} objects frozen){'; a busy Python thread beside it' if args.busy_thread else ''}")
        pauses = gc_pauses()
        try:
            n = args.warmup + args.count
            lat_local, out_local = local.run(docs[:n], args.warmup)
            report("local-only", lat_local, out_local, "(peer: no query)", local)
            lat_online, out_online = online.run(docs[:n], args.warmup, args.interval_ms / 1000)
            hits = sum(v for k, v in out_online.items() if k.startswith(HIT))
            report("centre", lat_online, out_online, f"goal p99 <= 20 ms; {hits} online hits", online)
            centre.kill()  # the centre goes away (kill -9); the broker stays
            centre.join()
            lat_gone, out_gone = online.run(docs[: args.warmup // 5 + args.gone_count], args.warmup // 5,
                                            args.interval_ms / 1000)
            report("centre gone", lat_gone, out_gone, f"goal p99 <= {args.deadline_ms + 5} ms", online)
        finally:
            local.close()
            online.close()
            link.stop()
            if centre.is_alive():
                centre.kill()
        print(f"  gate process GC: {len(pauses)} collections, longest {max(pauses, default=0):.1f} ms")
        print(f"  {time.strftime('%H:%M:%S', time.gmtime())} UTC, load average {loadavg()}")
        print(f"  query counters {json.dumps(link.queries.stats.as_dict(), sort_keys=True)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
