"""`sharaka-gate selftest`: open each configured device, run a visible test, report pass/fail per device.

    sharaka-gate selftest --config /etc/sharaka/gate.toml
    sharaka-gate selftest --json --indicators 'sim://pca9685' --camera 'sim://camera' --step 0

Indicators: LED red, green, blue, amber, a buzzer chirp and a relay click, each read back from the
chips' registers. Camera: one frame. Reader: the port opens. Exit 0 when every configured device
passes, 1 when one fails, 2 when the command line or config names no device or the config is
invalid (the same checks as `sharaka-gate run`).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.errors import UsageError

logger = logging.getLogger(__name__)

DEVICES = ("reader", "indicators", "camera")
CHIRP_HZ = 1000
CHIRP_S = 0.15


class CheckFailed(Exception):
    """A device answered but did not do what the test asked."""


@dataclass
class DeviceResult:
    """One device's selftest outcome: ``pass``, ``fail`` or ``skipped``, with what was seen."""
    device: str
    url: str | None
    status: str  # "pass", "fail" or "skipped"
    detail: str  # what was tested, or why it failed
    seconds: float


def register(subparsers: Any) -> None:
    """Add ``sharaka-gate selftest`` to ``subparsers``."""
    p = subparsers.add_parser(
        "selftest",
        help="test the reader, indicators and camera of this gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="gate TOML; device URLs from its [devices] table")
    p.add_argument("--reader", metavar="URL", help="document reader URL (overrides the config)")
    p.add_argument("--indicators", metavar="URL", help="indicator board URL (overrides the config)")
    p.add_argument("--camera", metavar="URL", help="camera URL (overrides the config)")
    p.add_argument(
        "--step", type=float, default=0.5, metavar="SECONDS", help="how long each visible step is held"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def device_urls(config: Path | None) -> tuple[dict[str, str], str | None]:
    """Device URLs (``[devices]``) and gate id of a gate config, loaded and checked by the agent's own
    loader (``agent.config.load_config``: ConfigError names file, key and value); ({}, None) without one."""
    if config is None:
        return {}, None
    from agent.config import load_config

    cfg = load_config(config)
    urls = {key: getattr(cfg.devices, key) for key in DEVICES if getattr(cfg.devices, key)}
    return urls, cfg.gate.id


def check_indicators(url: str, step: float, sleep: Callable[[float], None]) -> str:
    """Cycle the LED colours, chirp the buzzer and click the relay, checking each by read-back."""
    from hal import open_indicators
    from hal.indicators import AMBER, BLUE, GREEN, RED, SAFE_STATE, IndicatorState, IndicatorStateError

    ind = open_indicators(url)
    try:

        def show(what: str, state: IndicatorState, hold: float) -> None:
            ind.apply(state)
            sleep(hold)
            problem = ind.fault or ind.verify()
            if problem is not None:
                raise CheckFailed(f"{what}: {problem}")

        if ind.fault is not None:
            raise CheckFailed(f"at open: {ind.fault}")
        for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE), ("amber", AMBER)):
            show(f"LED {name}", IndicatorState(colour=colour), step)
        done = ["LED red/green/blue/amber"]
        try:
            show("buzzer", IndicatorState(colour=AMBER, buzzer_hz=CHIRP_HZ), min(step, CHIRP_S))
            done.append(f"buzzer {CHIRP_HZ} Hz chirp")
        except IndicatorStateError as exc:  # a board wired with buzzer=none
            done.append(f"no buzzer ({exc})")
        show("buzzer off", SAFE_STATE, 0)
        show("relay energised", IndicatorState(colour=AMBER, relay_open=True), step)
        show("relay released", SAFE_STATE, 0)
        done.append("relay click")
        return ", ".join(done) + "; registers read back OK"
    finally:
        ind.close()


def check_camera(url: str) -> str:
    """Open the camera and take one frame; raises the HAL error when it cannot."""
    from hal import open_camera

    cam = open_camera(url)
    try:
        frame = cam.capture()
    finally:
        cam.close()
    h, w = frame.image.shape[:2]
    return f"one {w}x{h} frame, mean level {frame.image.mean():.0f}"


def check_reader(url: str) -> str:
    """Open the reader's port through the HAL; raises the HAL error when it cannot."""
    from hal import open_reader

    reader = open_reader(url)
    try:
        fault = getattr(reader, "fault", None)
        if fault:
            raise CheckFailed(f"port opened with fault: {fault}")
    finally:
        reader.close()
    return "port open"


def run_checks(
    urls: dict[str, str], step: float, sleep: Callable[[float], None] = time.sleep
) -> list[DeviceResult]:
    """One result per device class, in a fixed order; a device that raises fails, the others still run."""
    checks: dict[str, Callable[[str], str]] = {
        "reader": check_reader,
        "indicators": lambda url: check_indicators(url, step, sleep),
        "camera": check_camera,
    }
    results = []
    for device in DEVICES:
        url = urls.get(device)
        if url is None:
            results.append(DeviceResult(device, None, "skipped", "not configured", 0.0))
            continue
        started = time.monotonic()
        try:
            detail, status = checks[device](url), "pass"
        except CheckFailed as exc:
            detail, status = str(exc), "fail"
        except Exception as exc:  # any device error is a failed check, reported, never a crash
            logger.debug("selftest failed", extra={"fields": {"device": device}}, exc_info=True)
            detail, status = f"{type(exc).__name__}: {exc}", "fail"
        results.append(DeviceResult(device, url, status, detail, round(time.monotonic() - started, 3)))
    return results


def run(args: argparse.Namespace) -> int:
    """Test each device; 0 all pass, 1 one fails (a bad config or command line: exit 2, agent.errors)."""
    if not 0 <= args.step <= 10:
        raise UsageError(f"--step {args.step!r:.60}: expected 0-10 seconds")
    urls, gate_id = device_urls(args.config)
    for device in DEVICES:
        if getattr(args, device):
            urls[device] = getattr(args, device)
    if not urls:
        raise UsageError("no device to test: give --config FILE or --reader/--indicators/--camera URL")
    results = run_checks(urls, args.step)
    ok = all(r.status != "fail" for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "gate_id": gate_id, "devices": [asdict(r) for r in results]}))
    else:
        for r in results:
            print(f"{r.status.upper():7} {r.device:10} {r.url or '-'}  {r.detail}")
    return 0 if ok else 1
