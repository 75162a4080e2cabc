"""The officer's screen: a web page the gate serves to the booth officer (docs/screen.md).

    >>> screen = OfficerScreen(config, screener=screener, outbox=outbox)   # agent/app.py, when [screen] enabled
    >>> screen.start()              # its own thread; raises OSError when it cannot listen
    >>> screen.refresh(app.status())  # the supervisor: list freshness and faults
    >>> screen.stop()

Built on the web foundation (``agent.web``: accounts, sessions, CSRF, server-sent events, languages). It
shows the current traveller or vehicle, the last decisions, active early warnings, list freshness and
device faults, updated live; signed-in officers acknowledge hits and warnings, record outcomes and
overrides, and enter documents, persons and vehicles by hand (``agent.screen.views``). Every action is an
``officer`` event to the centre and an audit line (``agent.screen.actions``). Served on loopback over
HTTP, or on a configured interface over HTTPS with the device certificate ([screen] in docs/config.md).
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agent.config import Config
from agent.mrz.render import render_mrz
from agent.outbox import Outbox, OutboxBusy
from agent.screen.actions import OfficerActions
from agent.screen.model import ScreenModel
from agent.screen.views import FormError, add_routes
from agent.screening.events import EventSealer
from agent.screening.pipeline import Screener
from agent.web.accounts import Accounts, LockoutPolicy
from agent.web.server import WebServer, WebSite, create_app, server_ssl_context
from agent.web.sessions import Sessions
from agent.web.sse import Hub
from hal.reader import ReaderDocument

logger = logging.getLogger(__name__)

ACCOUNTS_FILE = "officers.sqlite3"
AUDIT_FILE = "audit.log"
BACKLOG_EVERY_S = 5.0
HERE = Path(__file__).parent


class AlertSource(Protocol):
    """Early warnings in force at this gate, as the screen needs them (the alert store provides it)."""

    def active_alerts(self) -> list[dict[str, Any]]:
        """Warnings not yet expired: each with ``id``, ``severity``, ``notice``, ``expires`` and
        ``acknowledged_by`` (None until an officer acknowledges it)."""
        ...

    def acknowledge(self, alert_id: str, officer: str) -> None:
        """Record that ``officer`` acknowledged ``alert_id`` (and report it to the centre)."""


VehicleCheck = Callable[..., Any]  # vehicle=dict(vin=…) or (plate=…, country=…) -> Decision-like, or None


def accounts_for(config: Config) -> Accounts:
    """The officers' account file of the gate ``config`` describes, with its lock-out policy."""
    return Accounts(config.gate.state_dir / ACCOUNTS_FILE,
                    policy=LockoutPolicy(config.screen.max_failures, config.screen.lockout_s))


class OfficerScreen:
    """One gate's officer's screen: model, actions and web server; see the module docstring."""

    BACKLOG_S = 120.0  # events undelivered this long are shown as a backlog (tests shorten it)

    def __init__(
        self,
        config: Config,
        *,
        screener: Screener,
        outbox: Outbox,
        alerts: AlertSource | None = None,
        vehicles: VehicleCheck | None = None,
        on_committed: Callable[[], None] | None = None,
        sealer: EventSealer | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        cfg = config.screen
        self.gate_id = config.gate.id
        self.screener = screener
        self.alerts = alerts
        self.vehicles = vehicles
        self._monotonic = monotonic
        self.outbox = outbox
        self.hub = Hub()
        self.model = ScreenModel(self.hub, history=cfg.history, list_id=config.hitlist.list_id)  # sessions' clock
        self.actions = OfficerActions(outbox, gate_id=config.gate.id, site=config.gate.site,
                                      audit_path=config.gate.state_dir / AUDIT_FILE, clock=clock,
                                      on_committed=on_committed, sealer=sealer)
        self.accounts = accounts_for(config)
        cert = cfg.cert_file or config.link.cert_file
        key = cfg.key_file or config.link.key_file
        tls = cfg.cert_file is not None or not ipaddress.ip_address(cfg.listen).is_loopback
        ssl_context = server_ssl_context(cert, key) if tls and cert is not None and key is not None else None
        self.site = WebSite(
            title="Officer's screen", accounts=self.accounts,
            sessions=Sessions(idle_s=cfg.session_idle_s, max_s=cfg.session_max_s), hub=self.hub,
            template_dirs=[HERE / "templates"], secure=ssl_context is not None, default_lang=cfg.language,
            names=(config.gate.id, *cfg.names))
        app = create_app(self.site)
        add_routes(app, self)
        self.server = WebServer(app, cfg.listen, cfg.port, ssl_context=ssl_context, hub=self.hub)
        screener.on_decided = self.model.on_decided

    @property
    def url(self) -> str:
        """Where the screen is served."""
        return self.server.url

    @property
    def can_enter_vehicle(self) -> bool:
        """True when this gate checks vehicles (a VIN or plate entered by hand)."""
        return self.vehicles is not None

    @property
    def can_enter_person(self) -> bool:
        """True when the screener can check a person without a document."""
        return callable(getattr(self.screener, "handle_person", None))

    def start(self) -> None:
        """Serve the screen; raises ``OSError`` when the address cannot be bound."""
        self.server.start()

    def stop(self) -> None:
        """Stop serving and close the account file; idempotent."""
        self.server.stop()
        self.accounts.close()

    def refresh(self, status: dict[str, Any]) -> None:
        """Take list freshness and faults from the gate's status (``GateApp.status``); publishes changes,
        including the early warnings in force."""
        hl, per_list = status.get("hitlist"), status.get("lists")
        if isinstance(per_list, dict):  # several lists: {list id: {version, stale, problem, policy}}
            lists = [{"list_id": name, **(value or {})} for name, value in per_list.items()]
        else:
            lists = [] if hl is None else [{"list_id": self.model.list_id or "", **hl}]
        self.model.refresh_health(lists, dict(status.get("faults") or {}), self.gate_states(status))
        alerts = self.active_alerts()
        if alerts != getattr(self, "_alerts_shown", None):
            self._alerts_shown = alerts
            self.hub.publish("alerts")

    def gate_states(self, status: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """What the officer must know of the gate beside its devices and lists, from its status (codes of
        ``agent.web.codes.GATE_STATES`` with their figures): no link to the centre (and so no online check),
        events not delivered for ``BACKLOG_S``, a leap of trusted time held, a wall clock off trusted time or not yet
        checked against any signed time."""
        out: list[tuple[str, dict[str, Any]]] = []
        link = status.get("link")
        if isinstance(link, dict) and not link.get("connected"):
            out.append(("link_down", {}))
            if status.get("online") is not None:  # the online query is on: every decision goes without it
                out.append(("online_unavailable", {}))
        backlog = self._backlog()
        if backlog is not None:
            out.append(("outbox_backlog", backlog))
        clock = status.get("time")
        if isinstance(clock, dict):
            if clock.get("leap_pending"):
                out.append(("time_leap_pending", {}))
            if clock.get("wall") in ("behind", "ahead"):
                offset = abs(float(clock.get("wall_offset_s") or 0.0))
                out.append((f"wall_clock_{clock['wall']}", {"minutes": max(1, round(offset / 60))}))
            elif clock.get("wall") == "unverified":  # no signed time seen yet (agent/protocol/trusted_time.py)
                out.append(("wall_clock_unverified", {}))
        return out

    def _backlog(self) -> dict[str, Any] | None:
        """Events queued and the oldest one's age in minutes, when it is older than ``BACKLOG_S``. The depth is the
        outbox's counter; the age the outbox keeps too, reading the file (a scan of every queued row) only after
        rows that may have been the oldest left: asked at most every ``BACKLOG_EVERY_S``, so a full outbox that
        drops a row at every decision is not scanned four times a second (the supervisor's refresh). Never waits for
        the outbox: the supervisor ends a CLEAR's relay opening, also while another traveller's commit hangs."""
        depth = self.outbox.depth()
        if depth == 0:
            self._oldest = (0.0, self._monotonic())
            return None
        age, at = getattr(self, "_oldest", (0.0, -BACKLOG_EVERY_S))
        now = self._monotonic()
        if now - at >= BACKLOG_EVERY_S:
            try:
                age, at = self.outbox.oldest_age(wait=False), now
            except OutboxBusy:  # a commit in progress, perhaps hanging: the last figure, asked again next refresh
                pass
            except (OSError, ValueError, sqlite3.Error) as exc:
                logger.error("outbox age unreadable", extra={"fields": {"error": str(exc)}})
                at = now
            self._oldest = (age, at)
        if age < self.BACKLOG_S:
            return None
        return {"events": depth, "minutes": max(1, int(age // 60))}

    def active_alerts(self) -> list[dict[str, Any]]:
        """The early warnings to show (none without an alert source)."""
        if self.alerts is None:
            return []
        try:
            return list(self.alerts.active_alerts())
        except (OSError, ValueError) as exc:
            logger.error("early warnings unreadable", extra={"fields": {"error": str(exc)}})
            return []

    # -- officers' actions (called off the web server's loop: they commit to the outbox) -------------
    def acknowledge_hit(self, officer: str, event_id: str) -> None:
        """``officer`` acknowledged the HIT of decision ``event_id``."""
        self.actions.record(officer, "ack_hit", event=event_id)
        self.model.annotate(event_id, acknowledged_by=officer)

    def record_outcome(self, officer: str, event_id: str, outcome: str) -> None:
        """What came of the HIT of decision ``event_id``."""
        self.actions.record(officer, "outcome", event=event_id, outcome=outcome)
        self.model.annotate(event_id, outcome=outcome, acknowledged_by=self._acker(event_id, officer))

    def record_override(self, officer: str, event_id: str, override: str, reason: str) -> None:
        """``officer`` admits or refuses the traveller of ``event_id`` against the decision, for ``reason``.
        Recorded only: the relay does not move (opening the gate is a centre command, two keys)."""
        self.actions.record(officer, "override", event=event_id, override=override, reason=reason)
        self.model.annotate(event_id, override=override, override_reason=reason)

    def acknowledge_alert(self, officer: str, alert_id: str) -> None:
        """``officer`` acknowledged early warning ``alert_id``."""
        if self.alerts is not None:
            self.alerts.acknowledge(alert_id, officer)
        self.actions.record(officer, "ack_alert", alert=alert_id)
        self.hub.publish("alerts")

    def enter(self, officer: str, kind: str, entry: dict[str, str]) -> str | None:
        """Screen a document, person or vehicle the officer typed in; returns the verdict (None: the same
        passage as the last read). Raises ``FormError`` when the entry cannot be screened as given."""
        if kind == "document":
            decision = self.screener.handle(ReaderDocument(_mrz_lines(entry), self._monotonic()))
        elif kind == "person" and self.can_enter_person:
            try:
                decision = self.screener.handle_person(**entry)  # type: ignore[attr-defined]
            except ValueError as exc:  # a name or date the lists cannot take: nothing was committed
                raise FormError("%(field)s: missing or not in the expected form.", field=str(exc)) from exc
        elif kind == "vehicle" and self.vehicles is not None:
            try:
                decision = self.vehicles(**entry)
            except ValueError as exc:
                raise FormError("%(field)s: missing or not in the expected form.", field=str(exc)) from exc
        else:
            raise FormError("This gate cannot check that by hand.")
        if decision is None:
            return None
        last = self.screener.last
        event_id = last.event_id if last is not None and last.decision is decision else None
        self.actions.record(officer, "manual_entry", entry=kind, event=event_id)
        if event_id is not None:
            self.model.annotate(event_id, entered_by=officer)
        return str(decision.verdict)

    def _acker(self, event_id: str, officer: str) -> str:
        shown = self.model.find(event_id)
        return shown.acknowledged_by if shown is not None and shown.acknowledged_by else officer


def _mrz_lines(entry: dict[str, str]) -> tuple[str, ...]:
    """The MRZ a document with these fields carries (check digits computed): passports TD3, visas MRV-A,
    other documents TD1; raises ``FormError`` when a field does not fit."""
    code = entry["document_code"]
    fmt = "TD3" if code.startswith("P") else "MRVA" if code.startswith("V") else "TD1"
    try:
        return render_mrz(format=fmt, **entry)
    except ValueError as exc:
        raise FormError("%(field)s: missing or not in the expected form.", field=str(exc)) from exc
