"""The technician's checklist (docs/provisioning.md "The checklist"): what passed and what to fix, in words
about cables, ports, certificates and clocks rather than exceptions.

    items = run_checklist(config, record, selftest=True, list_timeout=60)
    print(render(items))          # one line per item: [ OK ] / [FIX ] what, and on the next line how to fix it

Checks, each independent (one failing does not stop the others): the clock against the centre's and the
certificate's validity, the network path to the broker, the broker's certificate against the pinned CA,
the gate's certificate, the enrolment, the pinned root, every configured hit-list downloaded and verified
(through the real link), and the hardware self-test of ``sharaka-gate selftest``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from agent import keys as keyfiles
from agent.config import Config
from agent.provision import broker, x509
from agent.provision.files import GateFiles

logger = logging.getLogger(__name__)

CLOCK_SKEW_S = 300.0


@dataclass
class Item:
    """One checklist line: ``ok``, what was found, and (when not ok) what the technician does."""

    item: str
    ok: bool
    found: str
    fix: str = ""


def _utc(t: float | dt.datetime) -> str:
    when = t if isinstance(t, dt.datetime) else dt.datetime.fromtimestamp(t, dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def check_clock(files: GateFiles, record: dict[str, Any], now: float) -> Item:
    """The gate's clock: plausible, close to the centre's when it answered, inside the certificate's validity."""
    centre = record.get("centre_time")
    enrolled = record.get("enrolled_at")
    skew = (enrolled - centre) if isinstance(centre, int | float) and isinstance(enrolled, int | float) else 0.0
    fix = ("set the clock: the gate takes its time from NTP (UDP port 123 to the site's time server) — check the "
           "network cable and the firewall, or the real-time-clock battery; then run provision again")
    if abs(skew) > CLOCK_SKEW_S:
        return Item("clock", False, f"the gate's clock was {_duration(skew)} {'ahead of' if skew > 0 else 'behind'} "
                                    "the centre's at enrolment", fix)
    try:
        end = x509.not_after(files.cert)
    except (x509.OpenSslError, OSError):
        return Item("clock", True, f"{_utc(now)}")
    if now >= end.timestamp():
        return Item("clock", False, f"{_utc(now)}: after the end of the gate certificate ({_utc(end)})",
                    "if the date is wrong, " + fix + "; if it is right, the certificate expired: ask the centre for a "
                    "new token and provision again")
    return Item("clock", True, f"{_utc(now)}, agrees with the centre ({_duration(skew)} apart)")


def check_broker(config: Config, files: GateFiles, timeout: float = 10.0) -> list[Item]:
    """Network path, broker certificate and gate certificate, by one real TLS connection as the gate."""
    lc = config.link
    ep = broker.Endpoint(lc.host, lc.port, True)
    cert = f"the gate certificate ({files.cert}, CN={config.gate.id})"
    try:
        end = _utc(x509.not_after(files.cert))
    except (x509.OpenSslError, OSError):
        end = "unknown"
    try:
        broker.probe(ep, config.gate.id, ca=files.ca, cert=files.cert, key=files.tls_key, timeout=timeout)
    except broker.LinkProblem as exc:
        network = Item("network", exc.kind != "network", f"broker {ep.host} port {ep.port}: "
                       + ("reachable" if exc.kind != "network" else str(exc)),
                       f"check the network cable in the gate's LAN port (link light on), that the site firewall lets "
                       f"TCP port {ep.port} out to {ep.host}, and the broker address with the centre")
        if exc.kind == "network":
            return [network, Item("broker certificate", False, "not checked: no connection", "fix the network first"),
                    Item("gate certificate", False, "not checked: no connection", "fix the network first")]
        if exc.kind == "broker_cert":
            return [network, Item("broker certificate", False, str(exc), "the gate is not talking to the centre's "
                                  "broker (wrong address, a hotel or captive portal, interception): check the address "
                                  "with the centre; never replace the pinned CA to make this pass"),
                    Item("gate certificate", False, "not checked", "fix the broker certificate first")]
        return [network, Item("broker certificate", True, f"signed by the pinned CA ({files.ca})"),
                Item("gate certificate", False, f"{str(exc)}",
                     f"{cert} was refused: it may be revoked or from an older enrolment — ask the centre for a new "
                     "token and run provision --wipe, then provision again")]
    return [Item("network", True, f"broker {ep.host} port {ep.port} reachable"),
            Item("broker certificate", True, f"signed by the pinned CA ({files.ca})"),
            Item("gate certificate", True, f"accepted by the broker; valid until {end}")]


def check_lists(config: Config, timeout: float, clock: Callable[[], float] = time.time) -> list[Item]:
    """Every configured list downloaded over the real link and verified against the pinned root, within
    ``timeout`` seconds (the agent's own sync: agent.link)."""
    from agent.app import OUTBOX_FILE, TIME_FILE, open_hitlist
    from agent.link.factory import link_from_config
    from agent.outbox import Outbox
    from agent.protocol.trusted_time import TrustedClock

    list_id = config.hitlist.list_id
    if not list_id:
        return [Item("hit-list", False, "no list configured", "ask the centre which list this gate screens against "
                     "and run provision again with --list ID")]
    state = config.gate.state_dir
    hitlist = open_hitlist(config)
    if hitlist.version > 0 and hitlist.list_id == list_id:
        return [Item(f"hit-list {list_id}", True, f"version {hitlist.version} installed and verified")]
    outbox = Outbox(state / OUTBOX_FILE, max_rows=config.outbox.max_rows, clock=clock)
    trusted = TrustedClock(state / TIME_FILE, wall=clock, also_read=[state / "link" / TIME_FILE])
    link = link_from_config(config, outbox, hitlist=hitlist, clock=clock, trusted=trusted)
    link.start()
    try:
        done = threading.Event()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done.wait(0.2):
            if hitlist.version > 0 and hitlist.list_id == list_id:
                done.set()
    finally:
        link.stop()
        outbox.close()
    if hitlist.version > 0 and hitlist.list_id == list_id:
        return [Item(f"hit-list {list_id}", True, f"version {hitlist.version} downloaded and verified")]
    return [Item(f"hit-list {list_id}", False, f"not received within {timeout:g} s",
                 "the gate screens REFER until it holds a verified list: check with the centre that it publishes "
                 f"list {list_id!r} and that the network stays up; run provision again to re-check")]


DEVICE_FIX = {
    "reader": "check the document reader's USB cable and power, and that its port exists (ls /dev/serial/by-id/)",
    "indicators": "check the ribbon cable to the indicator board (I2C) and its power; the relay must click",
    "camera": "check the camera's cable (CSI ribbon or USB) and that nothing covers the lens",
}


def check_hardware(config: Config) -> list[Item]:
    """The hardware self-test (``sharaka-gate selftest``): reader port, indicators read back, one camera frame."""
    from agent.commands.selftest import run_checks

    urls = {k: v for k, v in (("reader", config.devices.reader), ("indicators", config.devices.indicators),
                              ("camera", config.devices.camera)) if v}
    items = []
    for r in run_checks(urls, step=0.2):
        if r.status == "skipped":
            continue
        items.append(Item(r.device, r.status == "pass", f"{r.url}: {r.detail}",
                          "" if r.status == "pass" else DEVICE_FIX.get(r.device, "check the device")))
    return items


def run_checklist(config: Config, record: dict[str, Any], *, hardware: bool = True, network: bool = True,
                  list_timeout: float = 60.0, clock: Callable[[], float] = time.time) -> list[Item]:
    """Every check for a provisioned gate, in the order a technician works through them."""
    files = GateFiles(config.gate.state_dir)
    items = [check_clock(files, record, clock())]
    if network:
        items += check_broker(config, files)
    items.append(Item("enrolment", True, f"enrolled as {config.gate.id} at site {config.gate.site} "
                                         f"(device key {record.get('device_key_id')})"))
    root = keyfiles.read_public_key(files.hitlist / keyfiles.ROOT_PUB)
    items.append(Item("root key", True, f"pinned, fingerprint {keyfiles.root_fingerprint(root)} "
                                        "(the same as the centre reads out)"))
    if network and all(i.ok for i in items):
        items += check_lists(config, list_timeout, clock)
    elif network:
        items.append(Item("hit-list", False, "not checked: the link is not up", "fix the items above first"))
    if hardware:
        items += check_hardware(config)
    return items


def render(items: list[Item]) -> str:
    """The checklist as a technician reads it."""
    lines = []
    for i in items:
        lines.append(f"[{' OK ' if i.ok else 'FIX '}] {i.item:<19} {i.found}")
        if not i.ok and i.fix:
            lines.append(f"       {'':<19} -> {i.fix}")
    bad = sum(not i.ok for i in items)
    lines.append("All checks passed: the gate is ready." if not bad else
                 f"{bad} item(s) to fix; run `sharaka-gate provision` again after fixing (it changes nothing else).")
    return "\n".join(lines)


def as_json(items: list[Item]) -> list[dict[str, Any]]:
    """The checklist for scripts."""
    return [asdict(i) for i in items]


def _duration(seconds: float) -> str:
    s = abs(int(seconds))
    return f"{s // 3600} h {s % 3600 // 60} min" if s >= 3600 else f"{s // 60} min {s % 60} s" if s >= 60 else f"{s} s"
