"""The console's pages and actions (routes added to an ``agent.web.server`` application).

    GET  /                  live hits (server-sent events) and their workflow            every role
    GET  /gates             gates by site: online, lists and freshness, faults, backlog     every role
    GET  /lists             which gates are on which version of which list                  every role
    GET  /alerts            early warnings issued, who received and acknowledged them       every role
    GET  /commands          commands sent, commands awaiting a second supervisor            every role
    GET  /picture           the regional picture (charts); /picture.csv its counts          every role
    GET  /federation        items shared with and received from the region             every role (the
                            traveller of a personal shared hit: officer, supervisor)
    GET  /audit             the audit log                                                   supervisor
    GET  /events?show=T+T   server-sent events: the panels named (hits, gates, alerts) re-rendered
    POST /hit/ack           gate, msg                    acknowledge a hit                 officer, supervisor
    POST /hit/assign        gate, msg, operator          assign it to an operator          officer, supervisor
    POST /hit/outcome       gate, msg, outcome           intercepted | false_match | released
    POST /alerts            notice, severity, ttl, target, sites/gates, document, person,  supervisor
                            vehicle, share
    POST /alerts/withdraw   alert                        its clearing to the gates (and the region if shared)
    POST /federation/share  msg, personal, note          share a hit with the region        supervisor
    POST /commands          gate, op, args (JSON)        sign with your key; high impact: wait for a second
    POST /commands/decide   cmd, decision                approve (cosign and send) | reject   supervisor

Every POST carries the session's CSRF token (the foundation checks it) and names hits by gate id and the
random message id, never by anything a traveller is known by; every action is in the audit log before the
answer. A refused action shows the page again with the reason (400) or says 403 for a role.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent.protocol.commands import OPS, is_high_impact
from agent.web.codes import OUTCOMES as OUTCOME_TEXT
from agent.web.i18n import shown
from agent.web.server import (
    SITE,
    Refusal,
    done,
    live_session,
    refusal_text,
    render,
    render_text,
    require_role,
    session_of,
    template_context,
    translate,
)
from agent.web.sse import stream
from tools.central.console.federation import REFUSALS
from tools.central.console.records import ALERTS_SHOWN, OUTCOMES

if TYPE_CHECKING:
    from tools.central.console import Console

CONSOLE: web.AppKey[Console] = web.AppKey("console")
LIVE_TOPICS = ("hits", "gates", "alerts", "federation")
WORKERS = ("officer", "supervisor")
PAGES = {"/": "Live hits", "/gates": "Gates", "/lists": "Lists", "/alerts": "Alerts", "/commands": "Commands",
         "/picture": "Regional picture", "/federation": "Federation", "/audit": "Audit log"}
SEVERITIES = ("urgent", "warning", "info")
SENT_OPS = tuple(op for op in OPS if op != "update")  # an update goes with its signed bundle: `sharaka-central update`
# what the audit log shows for each stored action code (the code itself stays in the store and the CSV)
AUDIT_ACTIONS = {
    "sign_in": "signed in", "sign_in_refused": "sign-in refused", "sign_out": "signed out",
    "hit_acknowledge": "acknowledged a hit", "hit_assign": "assigned a hit", "hit_outcome": "recorded a hit's outcome",
    "alert_issue": "issued an alert", "alert_withdraw": "withdrew an alert", "command_send": "sent a command",
    "command_propose": "proposed a command", "command_approved": "approved a command",
    "command_rejected": "rejected a command", "command_lapsed": "a proposed command lapsed (no second supervisor)", "federation_share_hit": "shared a hit with the region",
    "federation_share_alert": "shared an alert with the region", "picture_export": "exported the picture (CSV)",
}
MAX_NOTICE = 2000
# what the Alerts page says of a listing refused for one of its fields (RecordFieldError.field): no value repeated
LISTING_REFUSALS = {
    "document": "The document: expected its issuing state as 1-3 letters (e.g. UTO) and its number as 1-24 letters "
                "or digits.",
    "name": "The person's name: expected a surname or given names in Latin letters, without digits.",
    "birth_date": "The person's birth date: expected YYMMDD as printed in the MRZ, an unknown digit as < "
                  "(e.g. 740812 or 88<<<<).",
    "vin": "The vehicle's VIN: expected 5-17 letters or digits (17 for ISO 3779).",
    "plate": "The vehicle's plate: expected the plate and its country's 1-3 letter registration code (e.g. D, MA).",
}


class Refused(Refusal):
    """An action the console refuses; the message (an English msgid, ``args`` fill it in) is shown to the operator
    in their language."""


def add_routes(app: web.Application, console: Console) -> None:
    """Add the console's routes to the foundation application ``app``."""
    app[CONSOLE] = console
    for path, handler in (("/", _hits_page), ("/gates", _gates_page), ("/lists", _lists_page),
                          ("/alerts", _alerts_page), ("/commands", _commands_page), ("/picture", _picture_page),
                          ("/picture.csv", _picture_csv), ("/audit", _audit_page), ("/events", _events),
                          ("/federation", _federation_page)):
        app.router.add_get(path, handler)
    app.router.add_post("/federation/share", _share_hit)
    app.router.add_post("/hit/{action:ack|assign|outcome}", _hit_action)
    app.router.add_post("/alerts", _issue_alert)
    app.router.add_post("/alerts/withdraw", _withdraw_alert)
    app.router.add_post("/commands", _send_command)
    app.router.add_post("/commands/decide", _decide_command)


def _when(wall: float | None) -> str:
    return "-" if not wall else dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _age(gettext: Callable[[str], str], seconds: float | None) -> str:
    """``seconds`` as the operator reads it: its unit in their language, so that an Arabic page reads "8 ث" right to
    left where a Latin "8 s" would show as "s 8"."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return gettext("%(n)s s") % {"n": f"{seconds:.0f}"}
    if seconds < 7200:
        return gettext("%(n)s min") % {"n": f"{seconds / 60:.0f}"}
    return gettext("%(n)s h") % {"n": f"{seconds / 3600:.0f}"}


def topic_context(request: web.Request, topic: str) -> dict[str, Any]:
    """What the panel ``topic`` (``_TOPIC.html``) shows, read from the store now."""
    console = request.app[CONSOLE]
    if topic == "hits":
        operators = [a.name for a in console.config.accounts.list() if a.role in WORKERS]
        return {"hits": console.records.hits(30), "operators": operators, "outcomes": OUTCOME_TEXT,
                "may_work": session_of(request).role in WORKERS}
    if topic == "gates":
        return {"sites": console.records.gates_by_site()}
    if topic == "alerts":
        return {"alerts": console.records.alert_board(ALERTS_SHOWN), "alerts_total": console.records.count_alerts()}
    if topic == "federation":
        from tools.central.console.federation import federation_view

        personal = session_of(request).role in WORKERS
        return federation_view(console.config.store, console.federation(), personal=personal, now=time.time())
    raise KeyError(topic)


def _base(request: web.Request, lang: str | None = None, **context: Any) -> dict[str, Any]:
    """What every console template uses (in ``lang``, else the request's language); the ``*_text`` tables are the
    console's own stored codes (audit actions, federation refusals), shown with the foundation's ``label`` as the
    gate's codes are (``agent.web.codes``)."""
    age = partial(_age, template_context(request, lang)["_"])
    return {"pages": PAGES, "path": request.path, "role": session_of(request).role, "when": _when, "age": age,
            "now": request.app[CONSOLE].config.clock(), "action_text": AUDIT_ACTIONS, "refused_text": REFUSALS,
            **context}


async def _page(request: web.Request, template: str, topics: tuple[str, ...] = (), *, status: int = 200,
                error: str | None = None, **context: Any) -> web.Response:
    session = session_of(request)
    notice, session.notice = session.notice, None  # shown once, by the page (never by a live stream)
    ctx = _base(request, topics=topics, notice=("error", error) if error is not None else notice, **context)
    for topic in topics:
        ctx.update(topic_context(request, topic))
    return render(request, template, status=status, **ctx)


async def _hits_page(request: web.Request) -> web.Response:
    return await _page(request, "hits.html", ("hits",))


async def _gates_page(request: web.Request) -> web.Response:
    return await _page(request, "gates.html", ("gates",))


async def _lists_page(request: web.Request) -> web.Response:
    return await _page(request, "lists.html", lists=request.app[CONSOLE].records.list_versions())


async def _alerts_page(request: web.Request, **kw: Any) -> web.Response:
    console = request.app[CONSOLE]
    can = console.config.broker is not None and console.config.alert_key is not None
    return await _page(request, "alerts.html", ("alerts",), can_issue=can, severities=SEVERITIES,
                       can_share=console.config.federation is not None, **kw)


async def _federation_page(request: web.Request, **kw: Any) -> web.Response:
    console = request.app[CONSOLE]
    can = console.config.broker is not None and console.config.federation is not None
    return await _page(request, "federation.html", ("federation",), can_share=can, **kw)


async def _share_hit(request: web.Request) -> web.StreamResponse:
    require_role(request, "supervisor")
    console, user = request.app[CONSOLE], session_of(request).user
    form = await _form(request)
    personal = form.get("personal") == "1"
    try:
        item_id = await asyncio.get_running_loop().run_in_executor(None, _publish_hit, console, form, personal)
    except (ValueError, OSError) as exc:
        return await _federation_page(request, status=400, error=refusal_text(request, exc))
    # the event id and the choice only: never what the hit says about the traveller
    console.records.audit(user, "federation_share_hit", form.get("msg", ""), {"item": item_id, "personal": personal})
    console.hub.publish("federation")
    if personal:
        raise done(request, "Hit shared with the region as item %(item)s (with personal data).", "/federation",
                   item=item_id)
    raise done(request, "Hit shared with the region as item %(item)s (no personal data).", "/federation", item=item_id)


def _publish_hit(console: Console, form: dict[str, str], personal: bool) -> str:
    """Share one stored hit with the region as ``federation share --hit`` does (blocking: run off the loop)."""
    from tools.central.alerts import publish_messages
    from tools.central.federation import item_message, record_shared, share_hit

    fed = console.federation()
    if console.config.broker is None or fed is None:
        raise Refused("This console was started without --federation and a broker: hits are shared with "
                      "`sharaka-central federation share`.")
    msg = form.get("msg", "")
    note = form.get("note", "")
    if len(note) > MAX_NOTICE:
        raise Refused("Note of %(n)d characters: expected at most %(most)d.", n=len(note), most=MAX_NOTICE)
    rows = console.config.store.events(hits_only=True, kind="hit", msg_id=msg) if msg else []
    if not rows:
        raise Refused("No hit event %(msg)r in this centre's store.", msg=msg[:40])
    item_id, wire = share_hit(fed, rows[0], personal=personal, note=note)
    publish_messages(console.config.broker, [item_message(item_id, wire)])
    record_shared(console.config.store, fed, item_id, wire, time.time())
    return item_id


async def _commands_page(request: web.Request, **kw: Any) -> web.Response:
    records = request.app[CONSOLE].records
    records.lapse_pending()  # proposals past their not_after: shown and audited as lapsed
    return await _page(request, "commands.html", ops=SENT_OPS, pending=records.pending_commands(),
                       lapsed=records.lapsed_commands(), sent=records.commands(),
                       can_send=_command_key(request) is not None and request.app[CONSOLE].config.broker is not None,
                       **kw)


def _days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        days = 7
    return min(max(days, 1), 366)


async def _picture_page(request: web.Request) -> web.Response:
    picture = request.app[CONSOLE].picture
    summary = picture.summary(_days(request))
    return await _page(request, "picture.html", summary=summary, summary_json=_script_json(summary))


def _script_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element (no ``</script>`` can close it), its text
    as the pages show text (``agent.web.i18n.shown``: the chart's names, a gate's crossing point, reorder nothing)."""
    text = shown(json.dumps(value, ensure_ascii=False))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def _picture_csv(request: web.Request) -> web.Response:
    console, days = request.app[CONSOLE], _days(request)
    console.records.audit(session_of(request).user, "picture_export", "", {"days": days})
    return web.Response(text=console.picture.csv(days), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="picture-{days}d.csv"'})


async def _audit_page(request: web.Request) -> web.Response:
    require_role(request, "supervisor")
    return await _page(request, "audit.html", entries=request.app[CONSOLE].records.audit_log())


async def _events(request: web.Request) -> web.StreamResponse:
    site, session = request.app[SITE], session_of(request)
    topics = tuple(t for t in request.query.get("show", "").split() if t in LIVE_TOPICS)

    async def render_topic(topic: str) -> str | None:
        if live_session(site, session.token, touch=False) is None:
            return None  # signed out, timed out or account removed: the page goes back to the sign-in form
        if topic not in topics:
            return ""
        return render_text(request, f"_{topic}.html", session.lang, **_base(request, session.lang),
                           **topic_context(request, topic))

    return await stream(request, site.hub, render_topic, first=topics, heartbeat_s=site.heartbeat_s)


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}


async def _hit_action(request: web.Request) -> web.StreamResponse:
    require_role(request, *WORKERS)
    console, user, action = request.app[CONSOLE], session_of(request).user, request.match_info["action"]
    form = await _form(request)
    gate, msg = form.get("gate", ""), form.get("msg", "")
    try:
        if action == "assign":
            to = form.get("operator", "")
            if to not in {a.name for a in console.config.accounts.list() if a.role in WORKERS}:
                raise Refused("Operator %(name)r: expected an officer's or supervisor's account name.", name=to[:32])
            console.records.update_case(gate, msg, user, assign=to)
        elif action == "outcome":
            if form.get("outcome") not in OUTCOMES:
                raise Refused("Outcome %(outcome)r: expected one of %(known)s.", outcome=form.get("outcome", "")[:20],
                              known=", ".join(OUTCOMES))
            console.records.update_case(gate, msg, user, outcome=form["outcome"])
        else:
            console.records.update_case(gate, msg, user, acknowledge=True)
    except ValueError as exc:
        return await _page(request, "hits.html", ("hits",), status=400, error=refusal_text(request, exc))
    console.hub.publish("hits")
    if action == "assign":
        raise done(request, "Hit assigned.", "/")
    if action == "outcome":
        raise done(request, "Outcome recorded.", "/")
    raise done(request, "Hit acknowledged.", "/")


def _command_key(request: web.Request) -> Path | None:
    keys = request.app[CONSOLE].config.command_keys
    if keys is None:
        return None
    path = keys / f"{session_of(request).user}.key"
    return path if path.exists() else None


async def _issue_alert(request: web.Request) -> web.StreamResponse:
    require_role(request, "supervisor")
    console, user = request.app[CONSOLE], session_of(request).user
    form = await _form(request)
    try:
        alert_id, expires, target, sites, gates, listed = await asyncio.get_running_loop().run_in_executor(
            None, _publish_alert, console, form)
    except (ValueError, OSError) as exc:
        return await _alerts_page(request, status=400, error=refusal_text(request, exc))
    shared = form.get("share") == "1"
    console.records.record_alert(alert_id, user, form.get("severity", ""), target, form.get("notice", ""), expires,
                                 sites=sites, gates=gates, shared=shared, listed=listed)
    console.hub.publish("alerts")
    console.hub.publish("federation")
    if shared:
        raise done(request, "Alert %(alert)s issued to %(target)s, and shared with the region.", "/alerts",
                   alert=alert_id, target=translate(request, target))
    raise done(request, "Alert %(alert)s issued to %(target)s.", "/alerts", alert=alert_id,
               target=translate(request, target))


async def _withdraw_alert(request: web.Request) -> web.StreamResponse:
    require_role(request, "supervisor")
    console, user = request.app[CONSOLE], session_of(request).user
    alert_id = (await _form(request)).get("alert", "")
    try:
        await asyncio.get_running_loop().run_in_executor(None, _clear_alert, console, alert_id)
    except (ValueError, OSError) as exc:
        return await _alerts_page(request, status=400, error=refusal_text(request, exc))
    console.records.audit(user, "alert_withdraw", alert_id, {})
    console.hub.publish("alerts")
    console.hub.publish("federation")
    raise done(request, "Alert %(alert)s withdrawn.", "/alerts", alert=alert_id)


def _clear_alert(console: Console, alert_id: str) -> None:
    """``alert clear`` from the console (blocking: run off the loop): the clearing to the gates, and to the
    region when the alert was shared (then the console needs its federation file)."""
    from agent import keys as keyfiles
    from tools.central.federation import withdraw_alert

    cfg = console.config
    if cfg.broker is None or cfg.alert_key is None:
        raise Refused("This console was started without --alert-key and a broker: alerts are withdrawn with "
                      "`sharaka-central alert clear`.")
    if alert_id not in {a["alert_id"] for a in console.records.alerts()}:
        raise Refused("Alert %(alert)r was not issued from this console.", alert=alert_id[:40])
    withdraw_alert(cfg.broker, cfg.store, keyfiles.load_signing_key(cfg.alert_key), alert_id, fed=console.federation())


def _publish_alert(console: Console, form: dict[str, str]) -> tuple[str, float, str, list[str], list[str], list[str]]:
    """Sign and publish an alert from the form (blocking: run off the loop); (alert id, expires, target, its sites,
    its gates, the kinds of its listings)."""
    from agent import keys as keyfiles
    from tools.central.alerts import build_alert
    from tools.central.federation import issue_alert
    from tools.hitlist.build import RecordFieldError

    cfg = console.config
    if cfg.broker is None or cfg.alert_key is None:
        raise Refused("This console was started without --alert-key and a broker: alerts cannot be issued.")
    notice, severity = form.get("notice", ""), form.get("severity", "")
    if not notice or len(notice) > MAX_NOTICE:
        raise Refused("Notice of %(n)d characters: expected 1-%(most)d.", n=len(notice), most=MAX_NOTICE)
    if severity not in SEVERITIES:
        raise Refused("Severity %(severity)r: expected one of %(known)s.", severity=severity[:16],
                      known=", ".join(SEVERITIES))
    try:
        ttl = float(form.get("ttl") or 3600)
    except ValueError:
        raise Refused("In force for %(ttl)r s: expected a number of seconds.", ttl=form.get("ttl", "")[:16])
    if not 60 <= ttl <= 30 * 86400:
        raise Refused("In force for %(ttl)s s: expected 60 s to 30 days.", ttl=f"{ttl:g}")
    sites = form.get("sites", "").split()
    gates = form.get("gates", "").split()
    target = "gates" if gates else "site" if sites else "all"
    listings = _alert_listings(form)
    fed = console.federation() if form.get("share") == "1" else None
    if form.get("share") == "1" and fed is None:
        raise Refused("This console was started without --federation: alerts are shared with `alert send --share`.")
    key = keyfiles.load_signing_key(cfg.alert_key)
    try:  # the records' one check (tools.hitlist.build.record_fingerprints), said for the form's field
        alert_id, wire, expires = build_alert(key, notice=notice, severity=severity, ttl=ttl, listings=listings,
                                              target=target, sites=sites, gates=gates)
    except RecordFieldError as exc:
        raise Refused(LISTING_REFUSALS[exc.field]) from None
    issue_alert(cfg.broker, console.config.store, alert_id, wire, expires, fed)  # as `alert send [--share]`
    return (alert_id, expires, target, sites if target == "site" else [], gates if target == "gates" else [],
            [r["kind"] for r in listings])


def _alert_listings(form: dict[str, str]) -> list[dict[str, str]]:
    """The urgent listings of the Alerts form, as records for ``build_alert`` (docs/hitlist.md "Records"): a
    document, a person, a vehicle, each when one of its fields is filled in, with its own reason (stolen, wanted,
    stolen unless said) and the alert's reference. Nothing is checked here: ``build_alert`` checks the records."""
    ref = form.get("ref", "")
    listings = []
    if form.get("issuing_state") or form.get("document_number"):
        listings.append({"kind": "document", "issuing_state": form.get("issuing_state", "").upper(),
                         "document_number": form.get("document_number", "").upper(),
                         "reason": form.get("reason") or "stolen", "ref": ref})
    if form.get("surname") or form.get("given_names") or form.get("birth_date"):
        listings.append({"kind": "person", "surname": form.get("surname", ""),
                         "given_names": form.get("given_names", ""), "birth_date": form.get("birth_date", ""),
                         "reason": form.get("person_reason") or "wanted", "ref": ref})
    if form.get("vin") or form.get("plate"):
        listings.append({"kind": "vehicle", "vin": form.get("vin", ""), "plate": form.get("plate", ""),
                         "country": form.get("plate_country", ""),
                         "reason": form.get("vehicle_reason") or "stolen", "ref": ref})
    return listings


async def _send_command(request: web.Request) -> web.StreamResponse:
    require_role(request, "supervisor")
    console, user = request.app[CONSOLE], session_of(request).user
    form = await _form(request)
    try:
        op, gate, waits = await asyncio.get_running_loop().run_in_executor(None, _sign_command, request, console,
                                                                           user, form)
    except (ValueError, OSError) as exc:
        return await _commands_page(request, status=400, error=refusal_text(request, exc))
    if waits:
        raise done(request, "%(op)s on %(gate)s is high impact: it waits for a second supervisor's approval.",
                   "/commands", op=op, gate=gate)
    raise done(request, "%(op)s sent to %(gate)s.", "/commands", op=op, gate=gate)


def _sign_command(request: web.Request, console: Console, user: str, form: dict[str, str]) -> tuple[str, str, bool]:
    """Sign the command with ``user``'s key: send it, or (high impact) keep it for a second supervisor; returns
    (op, gate, whether it waits for the second supervisor)."""
    from agent import keys as keyfiles
    from tools.central.node import sign_command

    gate, op = form.get("gate", ""), form.get("op", "")
    if op not in SENT_OPS:  # the gate's own list (agent.protocol.commands.OPS): nothing else is signed or queued
        raise Refused("Operation %(op)r is not one the console sends: expected one of %(ops)s.", op=op[:40],
                      ops=", ".join(SENT_OPS))
    key_file = _command_key(request)
    if key_file is None or console.config.broker is None:
        raise Refused("You hold no command key on this console (--command-keys DIR/NAME.key) or no broker is set.")
    try:
        args = json.loads(form.get("args") or "{}")
    except json.JSONDecodeError as exc:
        raise Refused("Arguments %(args)r are not JSON: %(error)s.", args=form.get("args", "")[:40], error=str(exc))
    if not isinstance(args, dict):
        raise Refused("Arguments must be a JSON object, e.g. {\"seconds\": 2}.")
    store = console.config.store
    if store.device_key(gate) is None:
        raise Refused("Gate %(gate)r is not enrolled.", gate=gate[:40])
    ttl = 600.0
    cmd_id, wire = sign_command(store, [keyfiles.load_signing_key(key_file)], gate, op, args, ttl, time.time())
    if is_high_impact(op, args):
        console.records.propose_command(cmd_id, gate, op, args, wire, user, time.time() + ttl)
        return op, gate, True
    console.records.audit(user, "command_send", f"{gate}/{cmd_id}", {"op": op})
    _publish_command(console, gate, cmd_id, wire)
    return op, gate, False


def _publish_command(console: Console, gate: str, cmd_id: str, wire: bytes) -> None:
    from tools.central.commander import CommandSender

    assert console.config.broker is not None
    sender = CommandSender(console.config.broker, console.config.store, [])
    try:
        if not sender.connect(10):
            raise OSError(f"cannot reach the broker at {console.config.broker.host}:{console.config.broker.port}")
        sender.send_wire(gate, cmd_id, wire, timeout=10)
        sender.wait_for_result(3)  # the node records the result too; the page shows it when it comes
    finally:
        sender.close()


async def _decide_command(request: web.Request) -> web.StreamResponse:
    require_role(request, "supervisor")
    console, user = request.app[CONSOLE], session_of(request).user
    form = await _form(request)
    decision = form.get("decision", "")

    def decide() -> dict[str, Any]:
        from agent import keys as keyfiles
        from agent.protocol.envelope import cosign

        if decision not in ("approved", "rejected"):
            raise Refused("Decision %(decision)r: expected approved or rejected.", decision=decision[:16])
        key_file = _command_key(request)
        if decision == "approved" and key_file is None:
            raise Refused("You hold no command key on this console: you cannot approve.")
        row = console.records.take_pending(form.get("cmd", ""), user, decision)
        if decision == "approved":
            assert key_file is not None
            wire = cosign("cmd", row["wire"], [keyfiles.load_signing_key(key_file)])
            _publish_command(console, row["gate_id"], row["cmd_id"], wire)
        return row

    try:
        row = await asyncio.get_running_loop().run_in_executor(None, decide)
    except (ValueError, OSError) as exc:
        return await _commands_page(request, status=400, error=refusal_text(request, exc))
    if decision == "rejected":
        raise done(request, "%(op)s on %(gate)s rejected.", "/commands", op=row["op"], gate=row["gate_id"])
    raise done(request, "%(op)s on %(gate)s approved and sent.", "/commands", op=row["op"], gate=row["gate_id"])

