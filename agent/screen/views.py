"""The officer's screen's pages and actions (routes added to an ``agent.web.server`` application).

    GET  /                 the screen: current decision, last decisions, warnings, list freshness, faults
    GET  /events           server-sent events: ``current``, ``recent``, ``alerts``, ``health`` panels re-rendered
    POST /hit/ack          event                       acknowledge a HIT
    POST /hit/outcome      event, outcome              intercepted | false_match | released (HITs only)
    POST /override         event, override, reason     admit | refuse, with the officer's reason
    POST /alert/ack        alert                       acknowledge an early warning
    POST /manual/document  the document's fields       screened like a swipe (the MRZ is rebuilt from them)
    POST /manual/person    surname, given names, birth date
    POST /manual/vehicle   vin, or plate and country

Every POST carries the session's CSRF token (checked by the foundation) and nothing else in its URL; a
successful one redirects to ``/`` with a notice, a refused one shows the page again with the reason (400).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent.screen.actions import MAX_REASON, OUTCOMES, OVERRIDES
from agent.screen.model import TOPICS, Shown
from agent.screening.decision import REFER
from agent.web.codes import OUTCOMES as OUTCOME_TEXT
from agent.web.codes import REASONS, label, next_steps
from agent.web.server import (
    SITE,
    Refusal,
    done,
    live_session,
    render,
    render_text,
    session_of,
    template_context,
    translate,
)
from agent.web.sse import stream

if TYPE_CHECKING:
    from agent.screen import OfficerScreen

SCREEN: web.AppKey[OfficerScreen] = web.AppKey("screen")

VERDICTS = {"CLEAR": "CLEAR", "HIT": "HIT", "REFER": "REFER"}
OVERRIDE_TEXT = {"admit": "Admit", "refuse": "Refuse"}
DOCUMENT_CODES = ("P", "PP", "I", "ID", "A", "C", "V")
STATE = re.compile(r"[A-Z<]{1,3}")
DATE = re.compile(r"\d{6}")
BIRTH_DATE = re.compile(r"(\d\d|<<){3}")  # a part not known is printed << (Doc 9303), as the MRZ reader takes it
NUMBER = re.compile(r"[A-Z0-9<]{1,20}")
NAME = re.compile(r"[A-Z][A-Z' -]{0,38}")


class FormError(Refusal):
    """A field of a form is missing or malformed: a ``Refusal`` whose ``args`` are msgids too (field labels)."""


def add_routes(app: web.Application, screen: OfficerScreen) -> None:
    """Add the screen's routes to the foundation application ``app``."""
    app[SCREEN] = screen
    app.router.add_get("/", _page)
    app.router.add_get("/events", _events)
    app.router.add_post("/hit/ack", _ack_hit)
    app.router.add_post("/hit/outcome", _outcome)
    app.router.add_post("/override", _override)
    app.router.add_post("/alert/ack", _ack_alert)
    app.router.add_post("/manual/{kind:document|person|vehicle}", _manual)


def _clock_text(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall).strftime("%H:%M:%S")


def panel_context(request: web.Request, lang: str | None = None) -> dict[str, Any]:
    """What the screen's templates use besides the foundation's ``template_context``."""
    screen = request.app[SCREEN]
    gettext = template_context(request, lang)["_"]
    signed_in_at = session_of(request).created  # an earlier traveller is not shown to an officer signing in later

    def reason(code: str) -> str:
        return label(gettext, REASONS, code)

    def steps(shown: Shown) -> list[str]:  # what the officer does about a REFER, for each reason and qualifier
        return next_steps(gettext, (*shown.reasons, *shown.qualifiers)) if shown.verdict == REFER else []

    return {"current": screen.model.current(signed_in_at), "recent": screen.model.recent(signed_in_at),
            "health": screen.model.health(),
            "alerts": screen.active_alerts(), "reason": reason, "next_steps": steps, "clock": _clock_text,
            "verdicts": VERDICTS, "outcomes": OUTCOME_TEXT, "overrides": OVERRIDE_TEXT,
            "document_codes": DOCUMENT_CODES, "gate": screen.gate_id, "can_enter_vehicle": screen.can_enter_vehicle,
            "can_enter_person": screen.can_enter_person}


async def _page(request: web.Request, *, status: int = 200, form: dict[str, str] | None = None,
                error: str | None = None) -> web.Response:
    session = session_of(request)
    notice, session.notice = session.notice, None
    if error is not None:
        notice = ("error", error)
    return render(request, "screen.html", status=status, notice=notice, form=form or {},
                  **panel_context(request))


async def _events(request: web.Request) -> web.StreamResponse:
    site, session = request.app[SITE], session_of(request)

    async def render_topic(topic: str) -> str | None:
        if live_session(site, session.token, touch=False) is None:
            return None  # signed out, timed out or account removed: the page goes back to the sign-in form
        if not topic:
            return ""
        return render_text(request, f"_{topic}.html", session.lang, **panel_context(request, session.lang))

    # Every panel once at the start: what changed between rendering the page and opening the stream shows.
    return await stream(request, site.hub, render_topic, first=TOPICS, heartbeat_s=site.heartbeat_s)


def _done(request: web.Request, text: str, **args: Any) -> web.HTTPSeeOther:
    return done(request, text, "/", **args)


async def _refuse(request: web.Request, exc: FormError, form: dict[str, str] | None = None) -> web.Response:
    args = {k: translate(request, v) for k, v in exc.args_.items()}  # field labels are msgids too
    return await _page(request, status=400, form=form, error=translate(request, exc.message, **args))


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: str(v).strip() for k, v in data.items() if isinstance(v, str)}


def _decision(request: web.Request, form: dict[str, str], *, hit_only: bool = False,
              acknowledgeable: bool = False) -> str:
    event_id = form.get("event", "")
    shown = request.app[SCREEN].model.find(event_id)
    if shown is None:
        raise FormError("That decision is no longer on the screen.")
    if (hit_only and not shown.is_hit) or (acknowledgeable and not (shown.is_hit or shown.must_acknowledge)):
        raise FormError("Only a hit can be acknowledged or given an outcome.")
    return event_id


async def _act(request: web.Request, action: Callable[[], Any]) -> Any:
    """Run a blocking officer action (an outbox commit, an fsync) off the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, action)


async def _ack_hit(request: web.Request) -> web.StreamResponse:
    screen, officer, form = request.app[SCREEN], session_of(request).user, await _form(request)
    try:
        event_id = _decision(request, form, acknowledgeable=True)
    except FormError as exc:
        return await _refuse(request, exc)
    await _act(request, lambda: screen.acknowledge_hit(officer, event_id))
    raise _done(request, "Hit acknowledged.")


async def _outcome(request: web.Request) -> web.StreamResponse:
    screen, officer, form = request.app[SCREEN], session_of(request).user, await _form(request)
    try:
        event_id = _decision(request, form, hit_only=True)
        outcome = form.get("outcome", "")
        if outcome not in OUTCOMES:
            raise FormError("Choose an outcome.")
    except FormError as exc:
        return await _refuse(request, exc)
    await _act(request, lambda: screen.record_outcome(officer, event_id, outcome))
    raise _done(request, "Outcome recorded.")


async def _override(request: web.Request) -> web.StreamResponse:
    screen, officer, form = request.app[SCREEN], session_of(request).user, await _form(request)
    try:
        event_id = _decision(request, form)
        override, reason = form.get("override", ""), form.get("reason", "")
        if override not in OVERRIDES:
            raise FormError("Choose admit or refuse.")
        if not reason or len(reason) > MAX_REASON:
            raise FormError("Give the reason for the override (at most %(n)s characters).", n=str(MAX_REASON))
    except FormError as exc:
        return await _refuse(request, exc)
    await _act(request, lambda: screen.record_override(officer, event_id, override, reason))
    raise _done(request, "Override recorded.")


async def _ack_alert(request: web.Request) -> web.StreamResponse:
    screen, officer, form = request.app[SCREEN], session_of(request).user, await _form(request)
    alert_id = form.get("alert", "")
    if not any(a.get("id") == alert_id for a in screen.active_alerts()):
        return await _refuse(request, FormError("That warning is no longer active."))
    await _act(request, lambda: screen.acknowledge_alert(officer, alert_id))
    raise _done(request, "Warning acknowledged.")


async def _manual(request: web.Request) -> web.StreamResponse:
    screen, officer, form = request.app[SCREEN], session_of(request).user, await _form(request)
    kind = request.match_info["kind"]
    try:
        entry = MANUAL_FORMS[kind](form)
        verdict = await _act(request, lambda: screen.enter(officer, kind, entry))
    except FormError as exc:
        return await _refuse(request, exc, form)
    if verdict is None:
        raise _done(request, "Same passage as the last read: shown again.")
    gettext = request.app[SITE].catalogues.get(session_of(request).lang).gettext
    raise _done(request, "Entered by hand: %(verdict)s.", verdict=gettext(VERDICTS.get(verdict, verdict)))


def _field(form: dict[str, str], name: str, pattern: re.Pattern[str], label: str, *, upper: bool = True) -> str:
    value = " ".join(form.get(name, "").split())
    value = value.upper() if upper else value
    if not pattern.fullmatch(value):
        raise FormError("%(field)s: missing or not in the expected form.", field=label)
    return value


def document_form(form: dict[str, str]) -> dict[str, str]:
    """The fields of a hand-entered document, checked; raises ``FormError``."""
    code = form.get("document_code", "").upper()
    if code not in DOCUMENT_CODES:
        raise FormError("%(field)s: missing or not in the expected form.", field="Document")
    sex = form.get("sex", "").upper() or "<"
    if sex not in ("M", "F", "X", "<"):
        raise FormError("%(field)s: missing or not in the expected form.", field="Sex")
    return {
        "document_code": code,
        "issuing_state": _field(form, "issuing_state", STATE, "Issuing state"),
        "document_number": _field(form, "document_number", NUMBER, "Document number").replace(" ", ""),
        "surname": _field(form, "surname", NAME, "Surname"),
        "given_names": _field(form, "given_names", NAME, "Given names") if form.get("given_names") else "",
        "nationality": _field(form, "nationality", STATE, "Nationality"),
        "birth_date": _field(form, "birth_date", BIRTH_DATE, "Date of birth"),
        "sex": "<" if sex == "X" else sex,
        "expiry_date": _field(form, "expiry_date", DATE, "Expiry date"),
    }


def person_form(form: dict[str, str]) -> dict[str, str]:
    """The fields of a hand-entered person, checked; raises ``FormError``."""
    return {
        "surname": _field(form, "surname", NAME, "Surname"),
        "given_names": _field(form, "given_names", NAME, "Given names") if form.get("given_names") else "",
        "birth_date": _field(form, "birth_date", DATE, "Date of birth"),
    }


def vehicle_form(form: dict[str, str]) -> dict[str, str]:
    """A VIN, or a plate with its country, as typed (the vehicle check normalises and validates them);
    raises ``FormError`` when neither is given."""
    vin, plate, country = form.get("vin", ""), form.get("plate", ""), form.get("country", "").upper()
    if len(vin) > 40 or len(plate) > 20 or len(country) > 3:
        raise FormError("%(field)s: missing or not in the expected form.", field="Vehicle")
    if vin:
        return {"vin": vin}
    if plate and country:
        return {"plate": plate, "country": country}
    raise FormError("Give a VIN, or a plate and its country.")


MANUAL_FORMS: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "document": document_form, "person": person_form, "vehicle": vehicle_form}
