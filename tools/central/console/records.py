"""What the operators' console reads from and writes to the central store: gates by site, hits and their
workflow, the audit log, alerts issued, commands awaiting a second supervisor.

    >>> records = ConsoleRecords(store)                    # a CentralStore or PostgresStore
    >>> records.audit("amina", "hit_ack", "gate-1/5f0c…")  # every operator action, in the store
    >>> records.hits(limit=30)                             # newest first, opened, with their case

All SQL goes through ``CentralStore.query``/``execute`` with statements both engines accept, so the console
works on SQLite and PostgreSQL alike (tests/central/test_console_records.py runs on both). The audit log never
holds a traveller's name or document number: targets are gate ids and random message ids, details are
operator choices (an outcome, an operator name, a command op).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any, TypeGuard

import msgpack

from agent.protocol.commands import MAX_LIFETIME
from agent.protocol.envelope import ProtocolError, peek
from agent.screening.events import decode_event
from agent.web.server import Refusal
from tools.central.store import CentralStore

OUTCOMES = ("intercepted", "false_match", "released")
ALERTS_SHOWN = 30  # the Alerts page shows the newest alerts (as the live hits 30, the commands sent 50)
GATE_ROWS = 30  # and per alert at most this many gates not received, and as many that reported it
LAPSED_SHOWN_S = 86400.0  # a proposal that lapsed with no second supervisor is shown this long, as lapsed
LAPSED_SHOWN = 20  # and at most this many of them
STALE_S = 300.0  # a gate silent this long is shown offline even without its last will (heartbeats stopped)


def submap(data: dict[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is a map, else {} (a stored body is trusted to be signed, not to be complete)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def list_policy(value: Any) -> dict[str, Any] | None:
    """A list's kind and policy as its gate reports them (``HitListConfig.policy``: governs, on_match, on_weak,
    on_stale, acknowledge), kept to those keys; None when the gate sent none (an older gate)."""
    if not isinstance(value, dict) or not value:
        return None
    governs = value.get("governs")
    return {"governs": [str(k) for k in governs] if isinstance(governs, list) else [],
            **{k: str(value.get(k) or "") for k in ("on_match", "on_weak", "on_stale")},
            "acknowledge": bool(value.get("acknowledge"))}


def status_body(raw: bytes | None) -> dict[str, Any]:
    """The status a gate last sent (stored as received, after its signature verified), or {} when none."""
    if not raw:
        return {}
    try:
        return peek("status", bytes(raw))[0]
    except ProtocolError:
        return {}


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A number a gate's status may carry (msgpack gives bool for true/false, which is no number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def clock_view(value: Any) -> dict[str, Any]:
    """A gate's trusted time as its status reports it (``time``: docs/protocol.md "Trusted time"), kept to what an
    operator acts on: ``wall`` (ok, ahead, behind, unverified) and its ``offset`` (s), the held ``leap`` (the
    centre time it would jump to, and the trusted time it was first seen at) and an ``error`` (time not
    persisted); all empty when the gate sent none (an older gate)."""
    if not isinstance(value, dict):
        return {"wall": "", "offset": None, "leap": None, "error": ""}
    leap = value.get("leap_pending")
    offset = value.get("wall_offset_s")
    return {"wall": str(value.get("wall") or ""),
            "offset": abs(float(offset)) if _is_number(offset) else None,
            "leap": {"ts": leap.get("ts"), "since": leap.get("since")} if isinstance(leap, dict) else None,
            "error": str(value.get("error") or "")}


def update_view(value: Any) -> dict[str, Any]:
    """A gate's update as its status reports it (``update``: docs/update.md "Reporting"): the job's ``phase``,
    ``version`` and ``error``, and its last trial boot's ``outcome``, time and whether it was ``rolled_back`` or
    ``committed`` (neither: its record could not be read, said in ``outcome``);
    empty when the gate sent none (an older gate)."""
    if not isinstance(value, dict):
        return {"phase": "", "version": "", "error": "", "trial": None}
    trial = value.get("last_trial")
    outcome = str(trial.get("outcome") or trial.get("error") or "") if isinstance(trial, dict) else ""
    at = trial.get("at") if isinstance(trial, dict) else None
    return {"phase": str(value.get("phase") or ""), "version": str(value.get("version") or ""),
            "error": str(value.get("error") or ""),
            "trial": {"outcome": outcome, "at": at if _is_number(at) else None,
                      "rolled_back": "rolled back" in outcome, "committed": outcome.endswith(" committed")}
            if outcome else None}


def hit_view(row: dict[str, Any]) -> dict[str, Any]:
    """A stored hit as the console shows it: reason, list (and the version that matched) and reference, crossing
    point, face crop (a ``data:``
    URI) when the event carries one. The event was opened by the node (its personal fields unsealed)."""
    try:
        event = decode_event(bytes(row["body"]))
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        event = {}
    hit = submap(event, "hit")
    matches = [m for m in event.get("matches") or [] if isinstance(m, dict)]
    mrz = submap(event, "mrz")
    face = submap(event, "face")
    jpeg = face.get("jpeg")
    list_id = str(matches[0].get("list", "")) if matches else ""
    # the version of the list that matched: the event's clear ``lists`` (what each list answered, at which
    # version), else the decision's ``list_version``
    answered = [a for a in event.get("lists") or [] if isinstance(a, dict) and str(a.get("list", "")) == list_id]
    version = answered[0].get("version") if answered else event.get("list_version")
    return {
        "gate_id": row["gate_id"], "msg_id": row["msg_id"], "received": row["received"],
        "created": row.get("created"), "site": str(event.get("site", "")),
        "decision": str(event.get("decision", "HIT")), "reason": str(hit.get("reason", "")),
        "kind": str(hit.get("kind", "")), "ref": str(hit.get("ref", "")),
        "strength": str(hit.get("strength", "")),
        "list_id": list_id,
        "list_version": version if isinstance(version, int) and not isinstance(version, bool) and version else None,
        "issuing_state": str(mrz.get("issuing_state", "")), "document_number": str(mrz.get("document_number", "")),
        "name": " ".join(str(mrz.get(k, "")) for k in ("surname", "given_names")).strip(),
        "face": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode() if isinstance(jpeg, bytes) else None,
        "acknowledged_by": row.get("acknowledged_by"), "acknowledged_at": row.get("acknowledged_at"),
        "assigned_to": row.get("assigned_to"), "outcome": row.get("outcome"), "outcome_by": row.get("outcome_by"),
    }


def _id_list(text: str | None) -> list[str]:
    """A stored JSON list of site or gate ids ([] for none or an unreadable one)."""
    try:
        value = json.loads(text or "[]")
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


class ConsoleRecords:
    """The console's reads and writes on one store; see the module docstring. ``clock`` is injected."""

    def __init__(self, store: CentralStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._sites: dict[str, str] = {}  # gate -> the site its events name (gates do not report it in status)

    # ------------------------------------------------------------------ audit
    def audit(self, operator: str, action: str, target: str = "", detail: dict[str, Any] | None = None, *,
              at: float | None = None) -> None:
        """Record one operator action (committed before the console answers), done now or ``at``."""
        self.store.execute("INSERT INTO audit (at, operator, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                           (self._clock() if at is None else at, operator, action, target,
                            json.dumps(detail or {}, sort_keys=True)))

    def audit_log(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest audit entries first."""
        return self.store.query("SELECT at, operator, action, target, detail FROM audit ORDER BY id DESC LIMIT ?",
                                (limit,))

    # ------------------------------------------------------------------ gates
    def gates_by_site(self, now: float | None = None) -> dict[str, list[dict[str, Any]]]:
        """{site: [gate, …]} with each gate's state, lists (id, version, freshness and why stale), faults and alarms,
        outbox backlog, trusted time (``clock_view``), update (``update_view``), from the status each gate last sent. The site is the one the gate reports, else the one of
        its enrolment token."""
        now = self._clock() if now is None else now
        rows = self.store.query("SELECT gate_id, online, last_seen, list_version, enrolled, retired, last_status"
                                " FROM gates ORDER BY gate_id")
        sites = {r["gate_id"]: r["site"] for r in self.store.query(
            "SELECT gate_id, site FROM enrol_tokens ORDER BY issued")}
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            status = status_body(r.pop("last_status"))
            lists = submap(status, "lists") or ({"": status["hitlist"]} if submap(status, "hitlist") else {})
            outbox = submap(status, "outbox")
            faults = submap(status, "faults")
            seen = r["last_seen"]
            online = bool(r["online"]) and seen is not None and now - seen < STALE_S and r["retired"] is None
            site = str(status.get("site") or sites.get(r["gate_id"]) or self._event_site(r["gate_id"]))
            gate = {**r, "online": online, "site": site,
                    "agent": str(submap(status, "versions").get("agent", "")),
                    "lists": [{"list_id": str(v.get("list_id") or k), "version": v.get("version"),
                               "stale": bool(v.get("stale")), "stale_reason": str(v.get("stale_reason") or ""),
                               "expires": v.get("expires"), "policy": list_policy(v.get("policy"))}
                              for k, v in lists.items() if isinstance(v, dict)],
                    "faults": {str(k): str(v) for k, v in faults.items() if v},
                    "alarms": [str(a) for a in status.get("alarms") or []],
                    "backlog": outbox.get("depth"), "oldest_age": outbox.get("oldest_age"),
                    "clock": clock_view(status.get("time")), "software": update_view(status.get("update"))}
            out.setdefault(gate["site"] or "(no site)", []).append(gate)
        return dict(sorted(out.items()))

    def _event_site(self, gate_id: str) -> str:
        """The site the gate's events name (the picture's facts), remembered once known."""
        if gate_id not in self._sites:
            rows = self.store.query("SELECT site FROM picture_facts WHERE gate_id = ? AND site <> '' LIMIT 1",
                                    (gate_id,))
            if not rows:
                return ""
            self._sites[gate_id] = str(rows[0]["site"])
        return self._sites[gate_id]

    def list_versions(self) -> dict[str, dict[str, Any]]:
        """{list id: {"versions": {version: [gate, …]}, "policies": [(policy, [gate, …]), …]}}: which gates are
        on which version of which list, newest first, and the list's kind and policy as each gate screens by it
        (``list_policy``; gates that disagree are shown apart, None: not reported)."""
        versions: dict[str, dict[int | None, list[str]]] = {}
        policies: dict[str, dict[str, tuple[dict[str, Any] | None, list[str]]]] = {}
        for gates in self.gates_by_site().values():
            for g in gates:
                for lst in g["lists"]:
                    versions.setdefault(lst["list_id"], {}).setdefault(lst["version"], []).append(g["gate_id"])
                    key = json.dumps(lst["policy"], sort_keys=True)
                    policies.setdefault(lst["list_id"], {}).setdefault(key, (lst["policy"], []))[1].append(
                        g["gate_id"])
        return {k: {"versions": dict(sorted(v.items(), key=lambda kv: -(kv[0] or 0))),
                    "policies": sorted(policies[k].values(), key=lambda pg: (pg[0] is None, -len(pg[1])))}
                for k, v in sorted(versions.items())}

    # ------------------------------------------------------------------ hits
    _HITS = ("SELECT e.gate_id, e.msg_id, e.created, e.received, e.body, c.acknowledged_by, c.acknowledged_at,"
             " c.assigned_to, c.outcome, c.outcome_by FROM events e LEFT JOIN hit_cases c"
             " ON c.gate_id = e.gate_id AND c.msg_id = e.msg_id WHERE e.is_hit = 1")

    def hits(self, limit: int = 30) -> list[dict[str, Any]]:
        """The newest hits, newest first, each as ``hit_view`` shows it with its case."""
        return [hit_view(r) for r in self.store.query(self._HITS + " ORDER BY e.received DESC LIMIT ?", (limit,))]

    def hit(self, gate_id: str, msg_id: str) -> dict[str, Any] | None:
        """One hit with its case, or None when there is no such hit."""
        rows = self.store.query(self._HITS + " AND e.gate_id = ? AND e.msg_id = ?", (gate_id, msg_id))
        return hit_view(rows[0]) if rows else None

    def update_case(self, gate_id: str, msg_id: str, operator: str, *, acknowledge: bool = False,
                    assign: str | None = None, outcome: str | None = None) -> None:
        """Acknowledge, assign or record the outcome of a hit, and audit it, in one transaction. Raises
        ``Refusal`` (a ``ValueError``) for an unknown hit or outcome."""
        if outcome is not None and outcome not in OUTCOMES:
            raise Refusal("Outcome %(outcome)r: expected one of %(known)s.", outcome=outcome, known=", ".join(OUTCOMES))
        now = self._clock()
        with self.store.transaction():
            if self.hit(gate_id, msg_id) is None:
                raise Refusal("No hit %(msg)r from gate %(gate)r.", msg=msg_id, gate=gate_id)
            self.store.execute("INSERT INTO hit_cases (gate_id, msg_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                               (gate_id, msg_id))
            if acknowledge:
                self.store.execute("UPDATE hit_cases SET acknowledged_by = ?, acknowledged_at = ? WHERE gate_id = ?"
                                   " AND msg_id = ? AND acknowledged_by IS NULL", (operator, now, gate_id, msg_id))
                self.audit(operator, "hit_acknowledge", f"{gate_id}/{msg_id}")
            if assign is not None:
                self.store.execute("UPDATE hit_cases SET assigned_to = ? WHERE gate_id = ? AND msg_id = ?",
                                   (assign, gate_id, msg_id))
                self.audit(operator, "hit_assign", f"{gate_id}/{msg_id}", {"to": assign})
            if outcome is not None:
                self.store.execute("UPDATE hit_cases SET outcome = ?, outcome_by = ?, outcome_at = ? WHERE"
                                   " gate_id = ? AND msg_id = ?", (outcome, operator, now, gate_id, msg_id))
                self.audit(operator, "hit_outcome", f"{gate_id}/{msg_id}", {"outcome": outcome})

    # ------------------------------------------------------------------ alerts
    def record_alert(self, alert_id: str, operator: str, severity: str, target: str, notice: str,
                     expires: float, *, sites: list[str] | tuple[str, ...] = (),
                     gates: list[str] | tuple[str, ...] = (), shared: bool = False,
                     listed: list[str] | tuple[str, ...] = ()) -> None:
        """An alert this centre issued (from the console or ``alert send``), with whom it was addressed to (the
        ``sites`` or ``gates`` of its signed ``target``), and its audit entries: ``alert_issue`` (the notice is the
        operator's own text; of its urgent listings only their kinds, ``listed``, never who or what they name) and,
        when it was ``shared`` with the region, ``federation_share_alert``."""
        with self.store.transaction():
            self.store.execute("INSERT INTO console_alerts (alert_id, issued, operator, severity, target, notice,"
                               " expires, sites, gates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                               (alert_id, self._clock(), operator, severity, target, notice, expires,
                                json.dumps(list(sites)), json.dumps(list(gates))))
            self.audit(operator, "alert_issue", alert_id, {"severity": severity, "target": target,
                                                           **({"listed": list(listed)} if listed else {})})
            if shared:
                self.audit(operator, "federation_share_alert", alert_id, {})

    def alerts(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Alerts this centre issued (``record_alert``), newest first (the newest ``limit``), with their ``sites`` and ``gates``
        as lists."""
        rows = self.store.query("SELECT alert_id, issued, operator, severity, target, notice, expires, sites, gates"
                                " FROM console_alerts ORDER BY issued DESC"
                                + (" LIMIT ?" if limit is not None else ""), (limit,) if limit is not None else ())
        return [{**r, "sites": _id_list(r["sites"]), "gates": _id_list(r["gates"])} for r in rows]

    def count_alerts(self) -> int:
        """How many alerts this centre issued (the Alerts page shows the newest ``ALERTS_SHOWN``)."""
        return int(self.store.query("SELECT COUNT(*) AS n FROM console_alerts")[0]["n"])

    def alert_board(self, limit: int = ALERTS_SHOWN, rows: int = GATE_ROWS) -> list[dict[str, Any]]:
        """The Alerts page: the newest ``limit`` alerts issued from the console, newest first, with the gates it was addressed to
        (``addressees``, sorted: every gate of its fleet for ``all``, the gates of its sites, as ``gates_by_site``
        knows them, for ``site``, the named gates for ``gates``; a gate that reported the alert was addressed too),
        their receipts (``receipts``: gate -> received, acknowledged, officer; ``alert_receipts``) and how many of
        them ``received`` and ``acknowledged`` it. The page's rows stay bounded: ``missing`` (addressed, nothing
        reported) and ``reported``, at most ``rows`` gates each, and how many more of each (``more_missing``,
        ``more_reported``). The fleet is the alert's own: gates enrolled before it expired and not retired before it
        was issued, so a gate enrolled later is not missing it. An alert to sites or gates recorded before its
        addressees were stored (schema 6; the signed alert was not kept, so they cannot be recovered) counts over
        that fleet."""
        from tools.central.alerts import alert_receipts  # paho: only where alerts are shown

        alerts = self.alerts(limit)
        if not alerts:
            return []
        receipts = alert_receipts(self.store, *(a["alert_id"] for a in alerts))
        addressed = self.addressed(alerts)
        out = []
        for a in alerts:
            got = receipts.get(a["alert_id"], {})
            gates = sorted(addressed[a["alert_id"]] | set(got))
            missing = [g for g in gates if g not in got]
            reported = [g for g in gates if g in got]
            out.append({**a, "addressees": gates, "receipts": got, "received": len(reported),
                        "acknowledged": sum(1 for g in gates if "acknowledged" in got.get(g, {})),
                        "missing": missing[:rows], "more_missing": max(len(missing) - rows, 0),
                        "reported": reported[:rows], "more_reported": max(len(reported) - rows, 0)})
        return out

    def addressed(self, alerts: list[dict[str, Any]]) -> dict[str, set[str]]:
        """{alert id: the gates it was addressed to} of ``alerts`` (rows of ``alerts()``): the named gates for
        ``gates``, the gates of its sites (as ``gates_by_site`` knows them) for ``site``, else every gate of the
        alert's own fleet: enrolled before it expired (a gate enrolled while it was in force got it at its first
        connect), not retired before it was issued."""
        fleet = [g for gates in self.gates_by_site().values() for g in gates] if alerts else []
        out = {}
        for a in alerts:
            then = [g for g in fleet
                    if g["enrolled"] <= a["expires"] and (g["retired"] is None or g["retired"] >= a["issued"])]
            if a["target"] == "gates" and a["gates"]:
                out[a["alert_id"]] = set(a["gates"])
            elif a["target"] == "site" and a["sites"]:
                out[a["alert_id"]] = {g["gate_id"] for g in then if g["site"] in a["sites"]}
            else:
                out[a["alert_id"]] = {g["gate_id"] for g in then}
        return out

    # ------------------------------------------------------------------ commands
    def propose_command(self, cmd_id: str, gate_id: str, op: str, args: dict[str, Any], wire: bytes,
                        operator: str, not_after: float) -> None:
        """A high-impact command signed by its first supervisor, waiting for a second (audited)."""
        with self.store.transaction():
            self.store.execute("INSERT INTO pending_commands (cmd_id, gate_id, op, args, wire, proposed_by,"
                               " proposed_at, not_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (cmd_id, gate_id, op, json.dumps(args, sort_keys=True), wire, operator,
                                self._clock(), not_after))
            self.audit(operator, "command_propose", f"{gate_id}/{cmd_id}", {"op": op})

    def lapse_pending(self) -> int:
        """Mark each proposal whose ``not_after`` passed with no second supervisor as lapsed (``decision``
        'lapsed', ``decided_at`` its ``not_after``) and audit it at its ``not_after`` (``command_lapsed``, no
        operator: nobody acted; the detail names the proposer), each once however many consoles look; returns how
        many lapsed now. The console's feed calls it every few seconds (``Console._lapse``), the Commands page too."""
        rows = self.store.query("SELECT cmd_id, gate_id, op, proposed_by, not_after FROM pending_commands"
                                " WHERE decision IS NULL AND not_after <= ? ORDER BY not_after", (self._clock(),))
        lapsed = 0
        for r in rows:
            with self.store.transaction():
                if self.store.execute("UPDATE pending_commands SET decision = 'lapsed', decided_at = ? WHERE"
                                      " cmd_id = ? AND decision IS NULL", (r["not_after"], r["cmd_id"])):
                    self.audit("", "command_lapsed", f"{r['gate_id']}/{r['cmd_id']}",
                               {"op": r["op"], "proposed_by": r["proposed_by"], "not_after": r["not_after"]},
                               at=r["not_after"])
                    lapsed += 1
        return lapsed

    def lapsed_commands(self, limit: int = LAPSED_SHOWN) -> list[dict[str, Any]]:
        """Proposals that lapsed with no second supervisor (``lapse_pending``) within the last ``LAPSED_SHOWN_S``,
        newest first, at most ``limit``."""
        return self.store.query("SELECT cmd_id, gate_id, op, args, proposed_by, proposed_at, not_after"
                                " FROM pending_commands WHERE decision = 'lapsed' AND not_after > ?"
                                " ORDER BY not_after DESC LIMIT ?", (self._clock() - LAPSED_SHOWN_S, limit))

    def pending_commands(self) -> list[dict[str, Any]]:
        """Commands waiting for a second supervisor (not yet decided, not expired), oldest first."""
        return self.store.query("SELECT cmd_id, gate_id, op, args, proposed_by, proposed_at, not_after"
                                " FROM pending_commands WHERE decision IS NULL AND not_after > ?"
                                " ORDER BY proposed_at", (self._clock(),))

    def take_pending(self, cmd_id: str, operator: str, decision: str) -> dict[str, Any]:
        """Decide a pending command (``approved``/``rejected``) as ``operator``: returns its row with ``wire``.
        Raises ``Refusal`` (a ``ValueError``) when it is unknown, decided, expired, or was proposed by ``operator``."""
        with self.store.transaction():
            rows = self.store.query("SELECT cmd_id, gate_id, op, args, wire, proposed_by, not_after, decision"
                                    " FROM pending_commands WHERE cmd_id = ?", (cmd_id,))
            if not rows or rows[0]["decision"] not in (None, "lapsed"):
                raise Refusal("No command %(cmd)r waiting for a second supervisor.", cmd=cmd_id)
            row = rows[0]
            if row["proposed_by"] == operator:
                raise Refusal("A second supervisor must approve: you proposed this command.")
            if row["decision"] == "lapsed" or row["not_after"] <= self._clock():
                raise Refusal("Command %(cmd)r expired: propose it again.", cmd=cmd_id)
            # Only while still undecided: another console may have decided it since the read above (PostgreSQL
            # reads without locking; the update waits for that decision and then finds the row decided).
            if not self.store.execute("UPDATE pending_commands SET decided_by = ?, decided_at = ?, decision = ?"
                                      " WHERE cmd_id = ? AND decision IS NULL",
                                      (operator, self._clock(), decision, cmd_id)):
                raise Refusal("No command %(cmd)r waiting for a second supervisor.", cmd=cmd_id)
            self.audit(operator, f"command_{decision}", f"{row['gate_id']}/{cmd_id}", {"op": row["op"]})
        return {**row, "wire": bytes(row["wire"])}

    def commands(self, limit: int = 50) -> list[dict[str, Any]]:
        """Commands sent, newest first, with their result; ``expired`` when none came and the command's signed
        ``not_after`` passed (the gate refuses it then, so no answer will come; a command recorded without its
        ``not_after``, before schema 8, after the longest lifetime a gate accepts, ``MAX_LIFETIME``)."""
        now = self._clock()
        rows = self.store.query("SELECT cmd_id, gate_id, op, sent, not_after, ok, reason FROM commands"
                                " ORDER BY sent DESC LIMIT ?", (limit,))
        for r in rows:
            until = r["not_after"] if r["not_after"] is not None else r["sent"] + MAX_LIFETIME
            r["expired"] = r["ok"] is None and until <= now
        return rows
