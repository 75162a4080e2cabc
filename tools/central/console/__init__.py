"""The operators' web console of the national centre (docs/central.md "Operators' console").

    >>> console = Console(ConsoleConfig(store=open_store("central.db"), accounts=Accounts(path, roles=ROLES)))
    >>> console.start("127.0.0.1", 8080)     # its own thread and event loop, beside the node's threads
    >>> console.stop()

Built on the gate's web foundation (agent/web: sign-in with Argon2id accounts and lock-out, sessions with
idle and absolute timeouts, CSRF, security headers, server-sent events). What it adds: the pages and actions
(``tools.central.console.views``), the store's records (``records``), the regional picture (``picture``),
and the feed: one thread that watches the store (the newest hit, the gates' statuses and which gates fell silent,
alert receipts) every
``POLL_S`` seconds and tells the open pages what changed, and every ``ROLLUP_S`` rolls up the picture and audits
the command proposals that lapsed. Watching the store rather than one node's callbacks
is what lets the console run beside any number of workers, on SQLite or PostgreSQL; ``poke()`` (the node's
``on_update`` when the console runs inside ``sharaka-central run``) wakes it at once.

Roles: ``viewer`` sees every page but the audit log, and of a personal hit another centre shared only that it
is personal; ``officer`` also works hits (acknowledge, assign, record the outcome) and sees the traveller of
such a hit; ``supervisor`` also issues alerts (and shares them with the region), shares hits, sends and
approves commands and reads the audit log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.web.accounts import Accounts
from agent.web.i18n import LOCALE_DIR, Catalogues
from agent.web.server import REFUSALS_AUDITED, WebServer, WebSite, create_app
from agent.web.sessions import Sessions
from agent.web.sse import Hub
from tools.central.console.picture import Picture
from tools.central.console.records import STALE_S, ConsoleRecords
from tools.central.node import CentralConfig
from tools.central.store import CentralStore

if TYPE_CHECKING:
    from tools.central.federation import Federation

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
ROLES = ("viewer", "officer", "supervisor")
TITLE = "Operators' console"
POLL_S = 0.25
ROLLUP_S = 5.0


@dataclass
class ConsoleConfig:
    """What the console is built from. ``broker`` (with ``alert_key`` / ``command_keys``) is needed only to
    issue alerts and send commands; without it those pages say so."""

    store: CentralStore
    accounts: Accounts
    broker: CentralConfig | None = None
    alert_key: Path | None = None  # the `sharaka-hitlist certify --add-alert-key` key file
    command_keys: Path | None = None  # DIR/NAME.key: each supervisor's own command key, by account name
    federation: Path | None = None  # this centre's federation file: share from the console, open personal hits
    idle_s: float = 900.0
    max_s: float = 43200.0
    secure: bool = False  # served over HTTPS: its own (--https-cert) or a front's (``front``)
    front: str = ""  # the origin a TLS front serves the console at (agent.web.hosts.front_origin; WebSite.front)
    names: tuple[str, ...] = ()  # host names the console is reached by besides its listening address (agent.web.hosts)
    refusals_audited: tuple[int, float] = REFUSALS_AUDITED  # refused sign-ins audited at most, per seconds
    clock: Callable[[], float] = field(default=time.time)


class Console:
    """The console's site, records, picture and feed; see the module docstring."""

    def __init__(self, config: ConsoleConfig) -> None:
        from tools.central.console import views

        self.config = config
        self.records = ConsoleRecords(config.store, clock=config.clock)
        self.picture = Picture(config.store, clock=config.clock)
        self.hub = Hub()
        self.site = WebSite(title=TITLE, accounts=config.accounts, catalogues=Catalogues([HERE / "locale", LOCALE_DIR]),
                            sessions=Sessions(idle_s=config.idle_s, max_s=config.max_s), hub=self.hub,
                            template_dirs=[HERE / "templates"], secure=config.secure, static_dir=HERE / "static",
                            names=config.names, front=config.front, refusals_audited=config.refusals_audited,
                            clock=config.clock,
                            audit=lambda user, action, fields: self.records.audit(user, action, "", fields))
        self.app = create_app(self.site)
        views.add_routes(self.app, self)
        self.server: WebServer | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._feed = threading.Thread(target=self._watch, name="console-feed", daemon=True)

    def start(self, host: str, port: int, ssl_context: Any = None) -> str:
        """Serve on ``host``:``port`` (0: a free port) and start the feed; returns the console's URL. Raises
        ``OSError`` when the address cannot be bound."""
        self.server = WebServer(self.app, host, port, ssl_context=ssl_context, hub=self.hub)
        self.server.start()
        self._feed.start()
        return self.server.url

    def stop(self) -> None:
        """Stop the feed and the server; idempotent."""
        self._stop.set()
        self._wake.set()
        if self._feed.is_alive():
            self._feed.join(5)
        if self.server is not None:
            self.server.stop()

    def federation(self) -> Federation | None:
        """This centre's federation (``config.federation``), read now (a peer pinned since is trusted); None
        without one. Raises ConfigError for a bad file."""
        from tools.central.federation import Federation

        return Federation.load(self.config.federation) if self.config.federation is not None else None

    def poke(self, *_args: Any) -> None:
        """Something changed in the store (a node's ``on_update``): look now rather than at the next poll."""
        self._wake.set()

    def _marks(self) -> dict[str, Any]:
        # ``fresh``: gates heard within STALE_S, so a gate (or every gate, the broker gone) falling silent
        # changes the mark and the open pages show it offline although nothing was written
        gates = self.config.store.query("SELECT COUNT(*) AS n, SUM(online) AS up, MAX(last_seen) AS seen,"
                                        " SUM(session) AS s, SUM(CASE WHEN last_seen > ? THEN 1 ELSE 0 END) AS fresh"
                                        " FROM gates", (self.config.clock() - STALE_S,))[0]
        fed = self.config.store.query("SELECT COUNT(*) AS n, MAX(received) AS r, COUNT(local_ref) AS l"
                                      " FROM federation_items")[0]
        # ``hits``, ``alerts``: counters the store raises as it stores hits and alert receipts (two rows, whatever
        # the history; a hit or receipt committed late by another worker raises them too)
        return {**self.config.store.feed_marks(), "gates": tuple(gates.values()), "federation": tuple(fed.values())}

    def _lapse(self) -> None:
        """Audit the proposals that lapsed since the last look (``ConsoleRecords.lapse_pending``) within ``ROLLUP_S``
        of their expiry, whether or not anyone opens the Commands page, and say so in the log."""
        lapsed = self.records.lapse_pending()
        if lapsed:
            logger.warning("console: %d high-impact command proposal(s) lapsed with no second supervisor (audit log:"
                           " command_lapsed)", lapsed)

    def _watch(self) -> None:
        seen: dict[str, Any] = {}
        rolled = 0.0
        while not self._stop.is_set():
            try:
                marks = self._marks()
                changed = [topic for topic, mark in marks.items() if seen.get(topic) != mark]
                seen = marks
                if time.monotonic() - rolled >= ROLLUP_S:
                    rolled = time.monotonic()
                    if self.picture.rollup():  # new facts: the picture, and a gate's site may be known now
                        changed += ["picture", "gates"]
                    self._lapse()
                for topic in changed:
                    self.hub.publish(topic)
            except Exception:  # the store is down or busy: the pages keep what they show, the feed tries again
                logger.exception("console feed: the store could not be read")
            self._wake.wait(POLL_S)
            self._wake.clear()
