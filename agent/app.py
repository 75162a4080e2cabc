"""The composition root: builds a gate from its config and runs it until told to stop.

    >>> app = GateApp(load_config("gate.toml"))
    >>> app.open()                       # devices, outbox, hit-list; indicators in the safe state
    >>> exit_code = app.run(stop_event)  # returns after stop_event is set, in the safe state

Nothing is global: every part is built here and passed in. One process, threads only for
blocking I/O: the reader thread reads a block and screens it right there (no hand-off on the hot
path); the main thread supervises: systemd watchdog pings while every critical worker is alive,
the end of a CLEAR's relay opening, the status file in the state directory. (The indicator board
re-applies its desired state by itself once a fault clears, RELIABILITY 33.) Stopping (SIGTERM) stops reading, lets the in-flight decision finish (its event is
committed and its state shown), checkpoints the outbox, then leaves the indicators in the safe
state (relay shut, amber) and logs the state it applied.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import hal
from agent import __version__
from agent import keys as keyfiles
from agent.alerts import EarlyWarnings, outbox_report
from agent.config import Config, HitListConfig
from agent.durable import atomic_write, make_dirs
from agent.errors import AgentError
from agent.hitlist.api import HitList
from agent.hitlist.memory import MemoryHitList
from agent.outbox import PRIORITY_HIT, Outbox, OutboxError, open_outbox
from agent.protocol.trusted_time import TrustedClock
from agent.screening.events import (
    EVENT_VERSION,
    EventSealer,
    encode_event,
    is_event_of,
    load_fingerprint_key,
    new_event_id,
)
from agent.screening.listcheck import (
    HITLIST_MISSING,
    HITLIST_UNREADABLE,
    AbsentHitList,
    ListProblem,
    list_problem,
)
from agent.screening.pipeline import Screener
from agent.screening.policy import command_impact
from agent.screening.sources import ListSource
from agent.update.job import UpdateJob
from agent.vehicles import PlateFeed, VehicleCheck
from hal.errors import BadUrlError, HalError
from hal.indicators import MAX_PULSE_S, SAFE_OUTPUT, SAFE_STATE

if TYPE_CHECKING:  # the link (paho) and the screen (aiohttp) are imported only when enabled
    from agent.link.gate import GateLink
    from agent.screen import OfficerScreen

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
ALERTS_FILE = "alerts.msgpack"  # early warnings in force (agent/alerts.py)
CENTRE_STATUS = ("faults", "update")  # of the gate's own status, what its status to the centre carries too
TIME_FILE = "time.json"  # the gate's trusted time (agent/protocol/trusted_time.py)
OUTBOX_FILE = "outbox.sqlite3"
READ_TIMEOUT_S = 0.2  # how often the reader thread looks at the stop flag
SUPERVISE_S = 0.25  # how often the main thread pings the watchdog and refreshes status
WIPE_GRACE_S = 2.0  # after a wipe command, time for its signed result to reach the broker before the link stops
CAMERA_RETRY_S = 5.0  # a configured camera that could not be opened is tried again this often
STATUS_HEARTBEAT_S = 30.0  # status.json rewritten at least this often, else only on change
SWITCH_INTERVAL_S = 0.001  # GIL hand-over: what a woken deciding thread waits at most for another thread's bytecode


def settle_for_travellers() -> None:
    """Once the gate is built, keep the process's own pauses off a traveller's path (docs/online-query.md
    "Pauses"): freeze the objects start-up made (``gc.freeze``: a full collection, which stops every thread,
    no longer traverses them: it costs what was allocated since, not the whole agent), and shorten the GIL's
    switch interval from CPython's 5 ms to ``SWITCH_INTERVAL_S``: the deciding thread takes the GIL again after
    every wait and every device write, and another thread's Python code (the officer's screen, the link) would
    otherwise keep it for up to 5 ms each time. And numpy's arrays no longer ask for transparent huge pages
    (``numpy_small_pages``). Process-wide: ``sharaka-gate run`` calls it once the gate is open
    (agent/commands/run.py), not ``GateApp`` (tests run gates inside one process)."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    numpy_small_pages()


def numpy_small_pages() -> bool:
    """Stop numpy asking the kernel for transparent huge pages for arrays of 4 MiB and more (a camera frame is one):
    each is a fresh mapping (freed after the frame), and the first touch of every 2 MiB page of it zeroes (or
    compacts) the whole page in the faulting thread. The camera gate's locator in a loop, 20-25 s at a time, paused
    for 29-59 ms in 3 of 4 runs with them and at most 19 ms in 3 runs without (docs/online-query.md "Pauses").
    numpy's own switch (what ``NUMPY_MADVISE_HUGEPAGE=0`` sets at import); the previous setting is returned."""
    import numpy

    core = getattr(numpy, "_core", None) or numpy.core  # numpy 2; numpy 1.26 (the tflite-runtime environment)
    return bool(core.multiarray._set_madvise_hugepage(False))


class StartupError(AgentError, RuntimeError):
    """A part the gate cannot run without failed to start (the message says which and why)."""

    remedy = "fix the part named (device, URL or state directory); the indicators stay in the safe state"


class SystemdNotifier:
    """sd_notify over ``$NOTIFY_SOCKET`` (READY, WATCHDOG, STOPPING, STATUS); a no-op without it."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else 0.0

    def notify(self, message: str) -> None:
        """Send one sd_notify message (READY=1, WATCHDOG=1, STATUS=...); a no-op outside systemd."""
        if not self._addr:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._addr)
        except OSError as exc:
            logger.warning("sd_notify failed", extra={"fields": {"error": str(exc)}})


def open_hitlist(config: Config, lc: HitListConfig | None = None) -> HitList:
    """The hit-list ``lc`` names (default: [hitlist]): the signed store, the in-memory records file (lab
    gates), or an ``AbsentHitList`` saying why there is none: a store or records file that cannot be opened
    does not stop the gate, it makes every decision the list governs REFER with the reason shown
    (RELIABILITY 45, 49).

    Raises ``StartupError`` when the store is pinned to another root key than the configured one."""
    hl = config.hitlist if lc is None else lc
    where = "[hitlist]" if lc is None or lc is config.hitlist else f"[lists.{hl.list_id}]"
    if hl.store_dir is not None:
        from agent.hitlist.store import HitListStore
        from agent.keys import KeyFileError, RootPinConflict, pinned_root

        pinned = hl.store_dir / "root.pub"
        if hl.root_pub is None and not pinned.exists():
            return _absent(HITLIST_MISSING, f"no root key pinned in {str(hl.store_dir)!r}: install a list with "
                           "`sharaka-gate hitlist install FILE --root-pub FILE --state DIR`")
        try:
            root = pinned_root(hl.store_dir, hl.root_pub)
        except RootPinConflict as exc:
            raise StartupError(f"hit-list store {where}: {exc}") from exc
        except KeyFileError as exc:
            return _absent(HITLIST_UNREADABLE, f"hit-list store {str(hl.store_dir)!r}: {exc}")
        try:
            return HitListStore(hl.store_dir, root, max_staleness=hl.max_staleness_s)
        except (OSError, ValueError, KeyError, TypeError, AgentError) as exc:
            return _absent(HITLIST_UNREADABLE, f"hit-list store {str(hl.store_dir)!r} unreadable: {exc}")
    if hl.records is None:
        return _absent(HITLIST_MISSING, f"no hit-list configured ({where} store_dir)")
    try:
        return MemoryHitList.from_file(hl.records, version=hl.version, max_age_s=hl.max_age_s,
                                       list_id=hl.list_id or "records")
    except (OSError, ValueError) as exc:
        return _absent(HITLIST_UNREADABLE, f"records file {str(hl.records)!r} unreadable: {exc}")


def open_lists(config: Config) -> list[ListSource]:
    """Every list the config names ([hitlist] first, then each [lists.ID]), opened, each under its policy."""
    return [ListSource(open_hitlist(config, lc), lc) for lc in config.screening_lists()]


def _absent(reason: str, detail: str) -> AbsentHitList:
    logger.error("no hit-list to screen against: every decision is REFER unless this is a lab gate",
                 extra={"fields": {"reason": reason, "detail": detail}})
    return AbsentHitList(ListProblem(reason, detail))


def _vision_stats() -> list[dict[str, Any]]:
    """Load time and inference latency of each vision model this process loaded (none: [])."""
    runtime = sys.modules.get("agent.vision.runtime")
    stats = getattr(runtime, "loaded_stats", None)  # None also while another thread is still importing it
    return stats() if stats is not None else []


def open_camera(url: str) -> tuple[Any, str | None]:
    """The camera of ``url`` (None when not configured), or None and the fault when it cannot be opened or its
    backend cannot load: a camera is never a reason for the gate not to start."""
    if not url:
        return None, None
    try:
        return hal.open_camera(url), None
    except (HalError, OSError) as exc:
        logger.error("camera not available; screening goes on without it", extra={"fields": {"error": str(exc)}})
        return None, f"camera {url!r} not available: {exc}"


class _Unreadable:
    """A camera gate's reader when the vision packages cannot load: it reads nothing (the ``vision`` fault says why)."""

    camera: Any = None

    def read(self, timeout: float | None = None) -> None:
        time.sleep(timeout or 0.0)

    def close(self) -> None:
        """Nothing to release."""


def camera_reader(camera: Any) -> tuple[Any, str | None]:
    """A camera gate's reader: the MRZ read from the camera's frames (agent/vision/camera_reader.py), its
    models loaded and run once; without the vision packages (the ``vision`` extra: tflite runtime, Pillow) or
    a line model that loads, one that reads nothing, and the fault."""
    try:
        from agent.vision.camera_reader import CameraReader
        from agent.vision.runtime import VisionUnavailableError
    except ImportError as exc:
        logger.error("camera gate cannot read documents: vision packages missing", extra={"fields": {"error": str(exc)}})
        return _Unreadable(), f"the camera gate cannot read documents: {exc} (install sharaka-gate[vision])"
    reader = CameraReader(camera)
    try:
        reader.prepare()  # the models loaded now: the first traveller does not wait for them
    except VisionUnavailableError as exc:
        logger.error("camera gate cannot read documents", extra={"fields": {"error": str(exc)}})
        return _Unreadable(), f"the camera gate cannot read documents: {exc}"
    return reader, None


class GateApp:
    """One gate: config in, running pipeline out; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.config = config
        self.state_dir = config.gate.state_dir
        self.update_job = UpdateJob(self.state_dir)  # the centre's `update` command (docs/update.md)
        self._clock, self._monotonic = clock, monotonic
        self.notifier = notifier if notifier is not None else SystemdNotifier()
        # Critical worker -> monotonic time of its last loop. The reader updates its entry every loop; a stale
        # entry stops the watchdog pings (the link worker, which also drains the outbox, tells it itself: alive).
        self.beats: dict[str, float] = {}
        self._stop_reading = threading.Event()
        self.wipe_requested = threading.Event()  # the two-key ``wipe`` command: decommission after shutdown
        self._reader_thread: threading.Thread | None = None
        self._status_written: tuple[str, float] = ("", 0.0)
        self.started_at = clock()
        self.reader: Any = None
        self.indicators: Any = None
        self.camera: Any = None
        self._camera_retry_at = 0.0  # monotonic time of the next attempt to open a camera that failed to open
        self.outbox: Outbox | None = None
        self.screener: Screener | None = None
        self.link: GateLink | None = None  # when [link] enabled
        self.trusted: TrustedClock | None = None  # the one trusted time: expiry, freshness, commands
        self.lists: list[ListSource] = []  # every list screened against, [hitlist] first
        self.vehicles: VehicleCheck | None = None  # when a list governs vehicles: the screen's VIN/plate entry
        self.plates: PlateFeed | None = None  # when [devices] plate_reader is set
        self.warnings: EarlyWarnings | None = None  # early warnings from the centre
        self.screen: OfficerScreen | None = None  # when [screen] enabled

    # -- start ----------------------------------------------------------------------------------
    def open(self) -> Screener:
        """Build every part (indicators to the safe state first); returns the pipeline. Raises ``StartupError``.

        Whatever fails part-way, every part opened so far is closed again (the indicators last, in the
        safe state, their worker thread joined) before the error leaves.
        """
        try:
            return self._open()
        except BaseException as exc:
            self.close()
            if isinstance(exc, StartupError) or not isinstance(exc, OSError | ValueError | HalError | AgentError):
                raise
            kind = "bad device URL" if isinstance(exc, BadUrlError) else type(exc).__name__
            raise StartupError(f"gate {self.config.gate.id!r} cannot start: {kind}: {exc}") from exc

    def _open(self) -> Screener:
        cfg = self.config
        make_dirs(self.state_dir, mode=0o700)
        self.indicators = hal.open_indicators(cfg.devices.indicators)
        self.indicators.apply(SAFE_STATE)
        # a corrupt outbox is moved aside and reported, never a reason to stop screening
        self.outbox, recovered = open_outbox(self.state_dir / OUTBOX_FILE, seq_hint=self._last_status_seq(),
                                             whole=lambda row: is_event_of(row.body, row.msg_id),
                                             max_rows=cfg.outbox.max_rows, clock=self._clock,
                                             reserve_bytes=cfg.outbox.reserve_kib * 1024)
        self.trusted = trusted = TrustedClock(self.state_dir / TIME_FILE, wall=self._clock,
                                              also_read=[self.state_dir / "link" / TIME_FILE],
                                              monotonic=self._monotonic)
        self.lists = lists = open_lists(cfg)
        hitlist = lists[0].hitlist
        for source in lists:
            learn_list_time(source.hitlist, trusted)
        key = load_fingerprint_key(self.state_dir / "fingerprint.key")
        # personal fields of events are sealed to the centre (RELIABILITY 31); no centre key: left out
        sealer = EventSealer(keyfiles.load_public_key(cfg.link.node_pub)) if cfg.link.node_pub else None
        self.camera, camera_fault = open_camera(cfg.devices.camera)
        self.reader, vision_fault = (hal.open_reader(cfg.devices.reader), None) if cfg.devices.reader \
            else camera_reader(self.camera)
        self.warnings = self._early_warnings(lists)
        if cfg.link.enabled:
            from agent.link.factory import link_from_config

            self.link = link_from_config(cfg, self.outbox, hitlist=hitlist, clock=self._clock, trusted=self.trusted,
                                         lists={src.name: src.hitlist for src in lists[1:]}, alerts=self.warnings,
                                         status_source=lambda: {k: v for k, v in self.status().items()
                                                                if k in CENTRE_STATUS},
                                         command_handlers=self.command_handlers(),
                                         high_impact=command_impact(lambda: self.screener.rules if self.screener
                                                                    else None))
        self.screener = Screener(
            gate_id=cfg.gate.id, site=cfg.gate.site, reader_id=cfg.devices.reader_id, rules=cfg.screening,
            hitlist=hitlist, list_id=cfg.hitlist.list_id, lists=[*lists, self.warnings], outbox=self.outbox,
            indicators=self.indicators,
            camera=self.camera, fingerprint_key=key, clock=self._clock, monotonic=self._monotonic,
            on_committed=self.link.notify if self.link is not None else None, trusted=trusted.screening_now,
            sealer=sealer, centre=self.link.queries if self.link is not None and cfg.link.query else None,
            centre_deadline_s=cfg.link.query_deadline_ms / 1000)
        self.screener.set_fault("camera", camera_fault)
        self.screener.set_fault("vision", vision_fault)
        if any("vehicle" in src.governs for src in lists) or cfg.devices.plate_reader:
            self.vehicles = VehicleCheck(self.screener)
        self.plates = self._open_plate_feed()
        if cfg.screen.enabled:
            self.screen = self._open_screen(sealer)
        if recovered is not None:
            self._report_outbox_recovered(recovered)
        if cfg.screening.lab_gate:
            logger.warning("lab gate: screening without a verified hit-list may answer CLEAR; never on a deployed "
                           "gate", extra={"fields": {"config": str(cfg.path)}})
        logger.info("gate ready", extra={"fields": {
            "gate": cfg.gate.id, "site": cfg.gate.site, "version": __version__,
            "outbox_depth": self.outbox.depth(), "list_version": hitlist.version}})
        return self.screener

    def _open_screen(self, sealer: EventSealer | None) -> OfficerScreen | None:
        """The officer's screen, or None (a fault in status) when it cannot be built: the gate screens without it."""
        from agent.screen import OfficerScreen

        assert self.screener is not None and self.outbox is not None
        try:
            return OfficerScreen(self.config, screener=self.screener, outbox=self.outbox, clock=self._clock,
                                 on_committed=self.link.notify if self.link is not None else None,
                                 sealer=sealer, vehicles=self.vehicles, alerts=self.warnings)
        except (OSError, ValueError, AgentError) as exc:
            self.screener.set_fault("screen", f"officer's screen not available: {exc}")
            logger.error("officer's screen not available; screening goes on", extra={"fields": {"error": str(exc)}})
            return None

    def _early_warnings(self, lists: list[ListSource]) -> EarlyWarnings:
        """The gate's early warnings (agent/alerts.py): verified with the alert keys of the first signed list's
        keyring, kept in STATE_DIR/alerts.msgpack, reported through the outbox, asked like a list."""
        assert self.outbox is not None and self.trusted is not None
        stores = [src.hitlist for src in lists if hasattr(src.hitlist, "keyring")]
        report = outbox_report(self.outbox, gate_id=self.config.gate.id, site=self.config.gate.site,
                               clock=self._clock,
                               on_committed=lambda: self.link.notify() if self.link is not None else None)
        return EarlyWarnings(self.state_dir / ALERTS_FILE, gate_id=self.config.gate.id, site=self.config.gate.site,
                             keyring=lambda: stores[0].keyring if stores else None,  # type: ignore[attr-defined]
                             now=self.trusted.screening_now, report=report, observe=self.trusted.observe,
                             list_versions=lambda: {src.name: src.hitlist.version for src in lists})

    def _open_plate_feed(self) -> PlateFeed | None:
        """The plate camera feeding the vehicle check, or None (not configured, or a fault: the gate screens on)."""
        devices = self.config.devices
        if not devices.plate_reader or self.vehicles is None or self.screener is None:
            return None
        try:
            reader = hal.open_plate_reader(devices.plate_reader)
        except (HalError, OSError) as exc:
            self.screener.set_fault("plate_reader", f"plate reader {devices.plate_reader!r} not available: {exc}")
            logger.error("plate reader not available; screening goes on", extra={"fields": {"error": str(exc)}})
            return None
        return PlateFeed(reader, self.vehicles, reader_id=devices.plate_reader_id,
                         default_country=devices.plate_country)

    # -- run ------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> int:
        """Screen until ``stop`` is set, then shut down into the safe state; returns the exit code."""
        if self.screener is None:
            self.open()
        self._reader_thread = threading.Thread(
            target=self._read_loop, args=(self.screener, self.reader), name="reader", daemon=True)
        self.beats["reader"] = self._monotonic()
        self._reader_thread.start()
        self.write_status(force=True)
        if self.link is not None:
            self.link.start()  # screening never waits for it: events queue in the outbox meanwhile
        if self.plates is not None:
            self.plates.start()
        if self.screen is not None:
            try:
                self.screen.start()
                self.screen.screener.set_fault("screen", None)
            except OSError as exc:
                self.screen.screener.set_fault("screen", str(exc))
                logger.error("officer's screen not served; screening goes on", extra={"fields": {"error": str(exc)}})
        self.notifier.notify("READY=1")
        last_ping = 0.0
        exit_code = 0
        try:
            while not stop.wait(SUPERVISE_S):
                if self.wipe_requested.is_set():
                    stop.wait(WIPE_GRACE_S)  # the command's signed result reaches the centre first
                    break
                if not self._reader_thread.is_alive():  # a bug killed it: let systemd restart the gate
                    logger.critical("reader worker died; stopping so the supervisor restarts the gate")
                    exit_code = 1
                    break
                now = self._monotonic()
                due = self.notifier.watchdog_s and now - last_ping >= self.notifier.watchdog_s / 2
                if due and self.workers_alive(now):
                    self.notifier.notify("WATCHDOG=1")
                    last_ping = now
                if self.screener is not None:
                    self.screener.tick()
                    self._retry_camera(now)
                if self.warnings is not None:
                    self.warnings.expire()
                if self.trusted is not None:
                    self.trusted.checkpoint()
                self.write_status()
        finally:
            self.shutdown()
        if self.wipe_requested.is_set():
            from agent.provision.wipe import decommission, is_appliance

            # the relay is already safe and the centre told by the command's result (docs/provisioning.md)
            decommission(self.config.path, self.state_dir, notify=False, journal=is_appliance(self.config.path))
        return exit_code

    def command_handlers(self) -> dict[str, Callable[[dict[str, Any]], str]]:
        """What a verified command from the centre may do here (agent/protocol/commands.py checks it first)."""

        def pulse_relay(args: dict[str, Any]) -> str:
            seconds = args.get("seconds", self.config.screening.relay_pulse_s)
            # the board's own cap (hal.indicators.MAX_PULSE_S), checked before anything moves
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 < seconds <= MAX_PULSE_S:
                raise ValueError(f"seconds {seconds!r}: expected 0 < seconds <= {MAX_PULSE_S:g}")
            self.indicators.pulse_relay(float(seconds))
            return f"relay pulsed {seconds:g} s"

        def set_policy(args: dict[str, Any]) -> str:
            from agent.config import ScreeningConfig, _section

            if self.screener is None:
                raise ValueError("screening is not running")
            if "lab_gate" in args:  # only the config file makes a lab gate (RELIABILITY 45)
                raise ValueError("lab_gate: set in the gate's config file only, never by command")
            current = {f.name: getattr(self.screener.rules, f.name) for f in dataclasses.fields(ScreeningConfig)}
            table = {k: list(v) if isinstance(v, tuple) else v for k, v in {**current, **args}.items()}
            errors: list[str] = []
            rules = _section(ScreeningConfig, "screening", table, self.config.path.parent, errors)
            if rules is None:
                raise ValueError("; ".join(errors))
            self.screener.rules = rules
            return f"policy set: {sorted(args)}"

        def wipe(_args: dict[str, Any]) -> str:
            """Decommission (high impact: two key holders, checked before this runs): stop reading, relay safe
            now; keys, lists, queued data, config and logs destroyed once the result is out (run())."""
            self._stop_reading.set()
            self.indicators.apply(SAFE_STATE)
            self.wipe_requested.set()
            return "decommissioning: relay safe; keys, lists, queued data, config and logs are being destroyed"

        return {"pulse_relay": pulse_relay, "set_policy": set_policy, "wipe": wipe, "update": self.update_job.offer}

    def _retry_camera(self, now: float) -> None:
        """Open a configured camera that could not be opened (plugged in, or enumerated after the gate started),
        every CAMERA_RETRY_S; once it opens, the camera gate's reader and the face evidence use it."""
        url = self.config.devices.camera
        if not url or self.camera is not None or self.screener is None or now < self._camera_retry_at:
            return
        self._camera_retry_at = now + CAMERA_RETRY_S
        try:
            camera = hal.open_camera(url)
        except (HalError, OSError) as exc:  # still absent: the fault says why (logged once, at start)
            self.screener.set_fault("camera", f"camera {url!r} not available: {exc}")
            return
        self.camera = camera
        if getattr(self.reader, "camera", camera) is None:  # a camera gate's reader (agent/vision/camera_reader.py)
            self.reader.camera = camera
        self.screener.camera = camera
        self.screener.set_fault("camera", None)
        logger.info("camera opened", extra={"fields": {"camera": url}})

    def workers_alive(self, now: float) -> bool:
        """True while every critical worker looped within the watchdog interval (RELIABILITY 35): the reader
        (which commits each decision to the outbox) and the link's worker (which drains it)."""
        limit = self.notifier.watchdog_s or 10.0
        thread = self._reader_thread
        if thread is not None and not thread.is_alive():
            return False
        if self.link is not None and not self.link.alive(limit):
            return False
        return all(now - beat < limit for beat in self.beats.values())

    def _read_loop(self, screener: Screener, reader: Any) -> None:
        while not self._stop_reading.is_set():
            self.beats["reader"] = self._monotonic()
            try:
                item = reader.read(timeout=READ_TIMEOUT_S)
            except (HalError, OSError) as exc:
                screener.set_fault("reader", str(exc))
                logger.error("reader failed", extra={"fields": {"error": str(exc)}})
                self._stop_reading.wait(1.0)
                continue
            screener.set_fault("reader", None)
            if item is None:
                continue
            try:
                screener.handle(item)
            except Exception as exc:  # a bug: keep screening, never leave a state that lets anyone through
                # The message may quote the read: its text only at DEBUG.
                logger.error("screening failed on a read; showing the safe state",
                             extra={"fields": {"error": type(exc).__name__}})
                logger.debug("screening failure", exc_info=True)
                screener.show(SAFE_STATE)

    # -- stop -----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop reading, finish the in-flight decision, flush, and apply the safe state; idempotent."""
        self.notifier.notify("STOPPING=1")
        self._stop_reading.set()
        if self._reader_thread is not None:
            self._reader_thread.join(timeout=10.0)
            if self._reader_thread.is_alive():
                logger.error("reader thread did not stop within 10 s")
        if self.screen is not None:
            self.screen.stop()
        if self.plates is not None:
            self.plates.stop()
            self.plates.reader.close()
        if self.link is not None:
            self.link.stop()
        if self.trusted is not None:
            self.trusted.checkpoint(force=True)
        self.close()
        # What the board last drove successfully (its close() drives the safe state), not what we asked.
        applied = "safe" if getattr(self.indicators, "shown", None) == SAFE_OUTPUT else "unknown"
        self.write_status(state="stopped", force=True, applied=applied)
        level = logging.INFO if applied == "safe" else logging.ERROR
        logger.log(level, "stopped", extra={"fields": {
            "applied": applied, "colour": list(SAFE_STATE.colour), "relay_open": SAFE_STATE.relay_open,
            "indicator_fault": self.indicators.fault if self.indicators is not None else "not opened"}})

    def close(self) -> None:
        """Close every part that was opened, indicators last so that closing applies the safe state."""
        for name in ("reader", "camera", "outbox", "indicators"):  # indicators last: close applies SAFE_STATE
            part = getattr(self, name)
            if part is None:
                continue
            try:
                part.close()
            except (OSError, HalError, AgentError) as exc:
                logger.error("close failed", extra={"fields": {"part": name, "error": str(exc)}})

    def _last_status_seq(self) -> int:
        """The last decision's seq that status.json recorded (0 if none): a floor for a new outbox's seq."""
        try:
            last = json.loads((self.state_dir / STATUS_FILE).read_bytes()).get("last_decision") or {}
            return int(last.get("seq") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            return 0

    def _report_outbox_recovered(self, what: str) -> None:
        """Show a moved-aside outbox in status until restart and tell the centre (a hit-priority notice)."""
        if self.screener is None or self.outbox is None:
            return
        self.screener.set_fault("outbox_recovered", what)
        event_id = new_event_id()
        notice = {"v": EVENT_VERSION, "type": "outbox_recovered", "id": event_id, "gate": self.config.gate.id,
                  "wall": self._clock(), "detail": what}
        try:
            self.outbox.append("outbox_recovered", event_id, encode_event(notice), priority=PRIORITY_HIT)
        except OutboxError as exc:
            logger.error("cannot queue the outbox-recovered notice", extra={"fields": {"error": str(exc)}})

    # -- status ---------------------------------------------------------------------------------
    def status(self, state: str = "running") -> dict[str, Any]:
        """What `sharaka-gate status` shows besides the outbox figures (written to status.json)."""
        s = self.screener
        last = s.last if s is not None else None
        hl = s.hitlist if s is not None else None
        now = self.trusted.screening_now() if self.trusted is not None else self._clock()
        faults: dict[str, str | None] = {
            "reader": getattr(self.reader, "fault", None),
            "indicators": getattr(self.indicators, "fault", None),
            "outbox_space": self.outbox.space_fault if self.outbox is not None else None,
            **(s.faults if s is not None else {}),
        }
        if self.plates is not None:
            faults["plate_reader"] = self.plates.fault
        return {
            "gate": self.config.gate.id,
            "site": self.config.gate.site,
            "version": __version__,
            "pid": os.getpid(),
            "state": state,
            "lab_gate": self.config.screening.lab_gate,
            "started_at": self.started_at,
            "last_decision": None if last is None else {
                "at": last.wall, "decision": last.decision.verdict, "seq": last.seq},
            "counts": dict(s.counts) if s is not None else {},
            "online": self.link.queries.stats.as_dict() if self.link is not None and self.config.link.query else None,
            "hitlist": None if hl is None else _hitlist_status(hl, now),
            "lists": {src.name: list_status(src, now) for src in self.lists},
            "alerts": self.warnings.status() if self.warnings is not None else None,
            "indicators": {"desired": _state_name(s.desired) if s is not None else "safe"},
            "faults": {k: v for k, v in faults.items() if v},
            "update": self.update_job.status(),
            "vision": _vision_stats(),
            "time": self.trusted.status() if self.trusted is not None else None,
            "link": self.link.health() if self.link is not None else None,
        }

    def write_status(self, state: str = "running", *, force: bool = False, applied: str | None = None) -> None:
        """Rewrite status.json when its content changed (or every 30 s); errors are logged, not raised."""
        status = self.status(state)
        if self.screen is not None and state == "running":
            self.screen.refresh(status)
        if applied is not None:
            status["indicators"] = {"desired": "safe", "applied": applied}
        text = json.dumps(status, sort_keys=True)
        now = self._monotonic()
        if not force and text == self._status_written[0] and now - self._status_written[1] < STATUS_HEARTBEAT_S:
            return
        status["updated_at"] = self._clock()
        try:
            atomic_write(self.state_dir / STATUS_FILE, json.dumps(status, indent=1).encode(), mode=0o644)
            self._status_written = (text, now)
        except OSError as exc:
            logger.error("cannot write status", extra={"fields": {"error": str(exc)}})


def learn_list_time(hitlist: HitList, trusted: TrustedClock) -> None:
    """Raise trusted time to the signed times of the installed list and its last head: a gate first booted
    offline with its clock at image-build time is not before them. The head's ``issued`` was judged against
    the horizon when the head was accepted (``verify_head``), so it is taken; the list's ``created`` never
    was, so it goes through the leap rule (docs/protocol.md "Trusted time")."""
    status = getattr(hitlist, "status", None)
    if not hasattr(hitlist, "accept_head") or not callable(status):
        return
    try:
        st = status(trusted.now())
    except (OSError, ValueError) as exc:
        logger.error("hit-list state unreadable", extra={"fields": {"error": str(exc)}})
        return
    for ts, source in (((st.get("head") or {}).get("issued"), "head"), (st.get("created"), "list")):
        if isinstance(ts, int | float):
            trusted.observe(float(ts), source, judged=source == "head")


def _state_name(state: Any) -> str:
    return "safe" if state == SAFE_STATE else f"colour={list(state.colour)} relay_open={state.relay_open}"


def _hitlist_status(hl: HitList, now: float) -> dict[str, Any]:
    """Version and freshness of the list in force (with the reason when the store can say it)."""
    out: dict[str, Any] = {"version": hl.version, "stale": hl.is_stale(now)}
    reason = getattr(hl, "stale_reason", None)
    if out["stale"] and callable(reason):
        out["stale_reason"] = reason(now)
    return out


def list_status(source: ListSource, now: float) -> dict[str, Any]:
    """One list's status: version, freshness, its problem if any, and its policy (docs/config.md "Several lists")."""
    try:
        out = _hitlist_status(source.hitlist, now)
    except (OSError, ValueError) as exc:
        out = {"version": 0, "stale": True, "stale_reason": f"unreadable: {exc}"}
    problem = list_problem(source.hitlist, source.expected_id)
    if problem is not None:
        out["problem"] = {"reason": problem.reason, "detail": problem.detail}
    out["policy"] = source.policy.policy()
    return out
