"""What the operators' console enforces, over real HTTP against the real console on a real central store: roles,
CSRF, the audit log of every action, the CSV export, the second supervisor for a high-impact command (cosigned
and published to a real Mosquitto), and no traveller's data in URLs or logs."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from contextlib import contextmanager

import pytest
from markupsafe import escape
from nacl.signing import SigningKey

from agent import keys as keyfiles
from agent.protocol import topics
from agent.protocol.envelope import peek
from agent.web.i18n import BIDI_CONTROLS
from tests.support.broker import MqttTestClient
from tests.support.console import (
    OFFICER,
    PASSWORD,
    SECOND,
    SUPERVISOR,
    VIEWER,
    add_alert_receipt,
    add_search,
    add_status,
    alerting_console,
    running_console,
)
from tests.support.webclient import Client, assert_connections_held_to_a_share
from tools.central.node import CentralConfig
from tools.central.store import CentralStore


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = CentralStore(tmp_path / "central.db")
    s.enrol("gate-1", bytes(SigningKey.generate().verify_key), time.time())
    yield s
    s.close()


@pytest.fixture
def console(store, tmp_path):  # type: ignore[no-untyped-def]
    with running_console(store, tmp_path / "operators.sqlite3") as c:
        yield c


def hit_form(store: CentralStore) -> dict[str, str]:
    msg = add_search(store, "gate-1", "port-a", time.time(), hit=True)
    return {"gate": "gate-1", "msg": msg}


def test_each_role_may_do_what_it_is_for_and_no_more(console, store):
    url, form = console.server.url, hit_form(store)
    viewer, officer, supervisor = Client(url), Client(url), Client(url)
    tokens = {c: c.sign_in(name, PASSWORD) for c, name in ((viewer, VIEWER), (officer, OFFICER),
                                                           (supervisor, SUPERVISOR))}
    for c in (viewer, officer, supervisor):
        for path in ("/", "/gates", "/lists", "/alerts", "/commands", "/picture", "/picture.csv"):
            assert c.request(path).status == 200, path
    assert viewer.request("/hit/ack", {**form, "csrf": tokens[viewer]}).status == 403
    assert "Acknowledge" not in viewer.request("/").read().decode(), "a viewer is offered the workflow"
    assert viewer.request("/audit").status == officer.request("/audit").status == 403
    for path, data in (("/alerts", {"notice": "x", "severity": "info"}), ("/commands", {"gate": "gate-1", "op": "rebirth"}),
                       ("/commands/decide", {"cmd": "x", "decision": "approved"})):
        assert officer.request(path, {**data, "csrf": tokens[officer]}).status == 403, path
    assert officer.request("/hit/ack", {**form, "csrf": tokens[officer]}).status == 303
    assert supervisor.request("/audit").status == 200
    assert console.records.hits()[0]["acknowledged_by"] == OFFICER


def test_every_action_route_refuses_the_roles_it_is_not_for(console, store):
    """Every POST route the console serves (read from its router, so a new one is covered too) with the session's
    token: a viewer gets 403 on each, an officer on each but the hit workflow; the store is unchanged."""
    form = hit_form(store)
    canonical = {r.resource.canonical for r in console.app.router.routes() if r.method == "POST"}
    routes = sorted(p for c in canonical for p in ([f"/hit/{a}" for a in ("ack", "assign", "outcome")]
                                                   if c == "/hit/{action}" else [c]))
    assert {"/hit/{action}", "/alerts/withdraw", "/federation/share", "/commands/decide"} <= canonical
    audited = len(console.records.audit_log())
    for name, allowed in ((VIEWER, set()), (OFFICER, {"/hit/ack", "/hit/assign", "/hit/outcome"})):
        c = Client(console.server.url)
        csrf = c.sign_in(name, PASSWORD)
        for path in routes:
            if path in ("/login", "/logout", "/lang") or path in allowed:
                continue
            assert c.request(path, {**form, "alert": "a", "cmd": "c", "decision": "rejected", "notice": "n",
                                    "severity": "info", "op": "request_status", "csrf": csrf}).status == 403, \
                (name, path)
    assert [e["action"] for e in console.records.audit_log()[:-audited or None]] == ["sign_in", "sign_in"]
    assert console.records.hits()[0]["acknowledged_by"] is None


def test_a_supervisor_made_a_viewer_keeps_no_supervisors_session(console, store, tmp_path):
    """The account removed and added again as a viewer (``operator remove`` and ``operator add``, another process
    on the same file) between two requests: the supervisor's session ends, it does not keep its role."""
    from agent.web.accounts import Accounts
    from tools.central.console import ROLES

    c = Client(console.server.url)
    csrf = c.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/audit").status == 200
    other = Accounts(tmp_path / "operators.sqlite3", roles=ROLES)
    try:
        other.remove(SUPERVISOR)
        other.add(SUPERVISOR, PASSWORD, "viewer")
    finally:
        other.close()
    assert c.request("/audit").status == 401
    assert c.request("/alerts", {"notice": "x", "severity": "info", "csrf": csrf}).status == 401
    c.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/audit").status == 403


def test_post_without_the_sessions_csrf_token_or_from_another_origin_is_refused(console, store):
    url, form = console.server.url, hit_form(store)
    c, other = Client(url), Client(url)
    csrf, other_csrf = c.sign_in(OFFICER, PASSWORD), other.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/hit/ack", form).status == 403
    assert c.request("/hit/ack", {**form, "csrf": other_csrf}).status == 403
    assert c.request("/hit/ack", {**form, "csrf": csrf}, headers={"Origin": "http://evil.example"}).status == 403
    assert console.records.hits()[0]["acknowledged_by"] is None, "a refused request acknowledged the hit"
    assert c.request("/hit/ack", {**form, "csrf": csrf}).status == 303


def test_every_operator_action_is_in_the_audit_log(console, store):
    url, form = console.server.url, hit_form(store)
    assert Client(url).request("/login", {"user": OFFICER, "password": "not the password"}).status == 401
    c = Client(url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    for path, data in (("/hit/ack", {}), ("/hit/assign", {"operator": SUPERVISOR}), ("/hit/outcome", {"outcome": "released"})):
        assert c.request(path, {**form, **data, "csrf": csrf}).status == 303
    assert c.request("/hit/outcome", {**form, "outcome": "vanished", "csrf": csrf}).status == 400
    assert c.request("/picture.csv?days=30").status == 200
    assert c.request("/logout", {"csrf": csrf}).status == 303
    log = [(e["operator"], e["action"]) for e in reversed(console.records.audit_log())]
    assert log == [(OFFICER, "sign_in_refused"), (OFFICER, "sign_in"), (OFFICER, "hit_acknowledge"),
                   (OFFICER, "hit_assign"), (OFFICER, "hit_outcome"), (OFFICER, "picture_export"),
                   (OFFICER, "sign_out")]


def test_picture_csv_has_a_header_and_the_counts(console, store):
    add_search(store, "gate-1", "port-a", time.time())
    hit_form(store)
    console.picture.rollup()
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    r = c.request("/picture.csv?days=7")
    assert r.headers["Content-Type"].startswith("text/csv") and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.read().decode())))
    assert [(row["site"], row["searches"], row["hits"]) for row in rows][0][0] == "port-a"
    assert sum(int(row["searches"]) for row in rows) == 2 and sum(int(row["hits"]) for row in rows) == 1


def test_no_document_number_or_name_in_urls_or_logs(console, store, caplog):
    caplog.set_level(logging.DEBUG)
    form = hit_form(store)
    c = Client(console.server.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    page = c.request("/").read().decode()
    assert "L898902C3" in page and "ERIKSSON" in page, "the hit is not shown"
    urls = re.findall(r'(?:href|src|action)="([^"]*)"', page)
    assert urls and not [u for u in urls if "L898902C3" in u or "ERIKSSON" in u or u.startswith("data:") is False
                         and "?" in u and "days=" not in u]
    for path, data in (("/hit/ack", {}), ("/hit/outcome", {"outcome": "intercepted"})):
        r = c.request(path, {**form, **data, "csrf": csrf})
        assert r.status == 303 and "?" not in r.headers["Location"]
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert "L898902C3" not in logged and "ERIKSSON" not in logged
    assert "L898902C3" not in repr(console.records.audit_log())


def test_a_bidi_control_in_a_hit_or_a_refused_sign_in_name_shows_in_sight_and_reorders_nothing(console, store):
    """A gate's event whose surname opens with U+202E (what follows shows reversed: NOSSKIRE reads ERIKSSON), whose
    document number has an RLM between its digits (the groups show swapped) and whose crossing point has U+202E, and a
    sign-in refused for a name with U+2067: the pages and the picture's chart data show U+FFFD in their place."""
    add_search(store, "gate-1", "port-\u202ea", time.time(), hit=True,
               mrz={"surname": "\u202eNOSSKIRE", "document_number": "L898\u200f902C3"})
    console.picture.rollup()
    assert Client(console.server.url).request("/login", {"user": "\u2067aras", "password": "not the password"}).status == 401
    c = Client(console.server.url)
    c.sign_in(SUPERVISOR, PASSWORD)
    hits, audit, picture = (c.request(path).read().decode() for path in ("/", "/audit", "/picture"))
    assert not set(hits + audit + picture) & set(BIDI_CONTROLS) and "\\u202e" not in picture
    assert "\ufffdNOSSKIRE" in hits and "L898\ufffd902C3" in hits and "port-\ufffda" in hits
    assert "\ufffdaras" in audit
    chart = re.search(r'<script type="application/json" id="picture-data">(.*?)</script>', picture, re.S)
    assert chart is not None and "port-\ufffda" in json.loads(chart.group(1))["per_site"][0]["site"]


@contextmanager
def commanding_console(broker, store, tmp_path, *supervisors: str):  # type: ignore[no-untyped-def]
    """A console that signs commands with a key per ``supervisors`` and sends them over the real broker, and a
    central client watching gate-1's command topic: (console, watcher)."""
    keys = tmp_path / "command-keys"
    keys.mkdir()
    for name in supervisors:
        keyfiles.generate(keys / f"{name}.key")
    user = "central-cmd"
    config = CentralConfig(host=broker.host, port=broker.port, username=user, password=broker.credentials[user])
    central_user, central_password = broker.central
    with running_console(store, tmp_path / "operators.sqlite3", broker=config, command_keys=keys) as console, \
            MqttTestClient(broker, central_user, central_password) as watcher:
        assert watcher.connect()
        watcher.subscribe(topics.gate("gate-1", topics.CMD))
        yield console, watcher


def test_high_impact_command_is_sent_only_after_a_second_supervisor_cosigns(broker, store, tmp_path):
    with commanding_console(broker, store, tmp_path, SUPERVISOR, SECOND) as (console, watcher):
        first, second = Client(console.server.url), Client(console.server.url)
        csrf1, csrf2 = first.sign_in(SUPERVISOR, PASSWORD), second.sign_in(SECOND, PASSWORD)
        r = first.request("/commands", {"gate": "gate-1", "op": "pulse_relay", "args": '{"seconds": 2}', "csrf": csrf1})
        assert r.status == 303
        assert "second supervisor" in first.request("/commands").read().decode()
        assert watcher.drain() == [], "a high-impact command left with one signature"
        cmd_id = console.records.pending_commands()[0]["cmd_id"]
        refused = first.request("/commands/decide", {"cmd": cmd_id, "decision": "approved", "csrf": csrf1})
        assert refused.status == 400 and "A second supervisor must approve" in refused.read().decode()
        assert second.request("/commands/decide", {"cmd": cmd_id, "decision": "approved", "csrf": csrf2}).status == 303
        wire = watcher.wait_for_message(topics.gate("gate-1", topics.CMD), 10).payload
        body, signed_by = peek("cmd", bytes(wire))
        assert body["id"] == cmd_id and body["op"] == "pulse_relay" and len(set(signed_by)) == 2
        actions = [e["action"] for e in reversed(console.records.audit_log())]
        assert actions[-2:] == ["command_propose", "command_approved"]


def test_command_with_an_op_the_gates_do_not_take_is_refused_before_it_is_signed(broker, store, tmp_path):
    """A supervisor's form posted with an op that is not in the gate's list (agent/protocol/commands.py: OPS), or
    ``update`` (it goes with its signed bundle, `sharaka-central update`): 400 with the form error naming the ops
    it takes; nothing signed, no sequence number reserved, nothing queued for a second supervisor or published.
    A listed op is still sent."""
    with commanding_console(broker, store, tmp_path, SUPERVISOR) as (console, watcher):
        c = Client(console.server.url)
        csrf = c.sign_in(SUPERVISOR, PASSWORD)
        for op in ("format_disk", "update", "", "PULSE_RELAY"):
            r = c.request("/commands", {"gate": "gate-1", "op": op, "args": "{}", "csrf": csrf})
            page = r.read().decode()
            assert r.status == 400, op
            assert str(escape(f"Operation {op!r} is not one the console sends: expected one of")) in page, op
        assert console.records.commands() == [] and console.records.pending_commands() == []
        assert store.query("SELECT COUNT(*) AS n FROM commands")[0]["n"] == 0
        assert watcher.drain() == [], "a command of an op the gates do not take was published"
        assert "command_send" not in [e["action"] for e in console.records.audit_log()]
        r = c.request("/commands", {"gate": "gate-1", "op": "request_status", "args": "{}", "csrf": csrf})
        assert r.status == 303
        body, _ = peek("cmd", bytes(watcher.wait_for_message(topics.gate("gate-1", topics.CMD), 10).payload))
        assert body["op"] == "request_status" and body["seq"] == 1


def test_signed_out_requests_on_every_route_show_no_personal_data(console, store):
    """Every route the console serves (read from its router, so a new one is covered too), asked without a session,
    answers without the traveller's number or name; a signed-in page shows them (so the scan finds them)."""
    form = hit_form(store)
    signed_in = Client(console.server.url)
    signed_in.sign_in(VIEWER, PASSWORD)
    assert "L898902C3" in signed_in.request("/").read().decode()
    routes = {(r.method, r.resource.canonical) for r in console.app.router.routes()}
    assert {("GET", "/"), ("GET", "/events"), ("POST", "/alerts")} <= routes
    anonymous = Client(console.server.url)
    for method, path in sorted(routes):
        path = re.sub(r"\{action:[^}]*\}", "ack", path)
        if path.startswith("/static"):
            continue
        r = anonymous.request(path, form if method == "POST" else None, headers={"Accept": "text/html"})
        body = r.read(256 * 1024).decode(errors="replace")
        assert "L898902C3" not in body and "ERIKSSON" not in body, (method, path)
        assert r.status in (303, 400, 401) or path == "/login", (method, path, r.status)


def test_a_form_with_a_nul_character_is_a_bad_request_and_the_store_on_postgresql_never_sees_it(pg_url, tmp_path):
    """PostgreSQL's text holds no NUL: a hit's id with one, posted by an officer, was a 500, and a sign-in under a
    name with one, by anyone, a 500 whose refusal went unaudited. The form is refused (400) before a handler runs;
    the sign-in that follows is audited as refused and the hit acknowledged as usual."""
    with running_console(pg_url, tmp_path / "operators.sqlite3") as console:
        console.config.store.enrol("gate-1", bytes(SigningKey.generate().verify_key), time.time())
        form = hit_form(console.config.store)
        assert Client(console.server.url).request("/login", {"user": "sara\x00", "password": "x"}).status == 400
        assert Client(console.server.url).request("/login", {"user": "sara", "password": "x\x00"}).status == 400
        c = Client(console.server.url)
        csrf = c.sign_in(OFFICER, PASSWORD)
        assert c.request("/hit/ack", {"gate": "gate-1", "msg": "a\x00b", "csrf": csrf}).status == 400
        assert Client(console.server.url).request("/login", {"user": "sara", "password": "x"}).status == 401
        assert c.request("/hit/ack", {**form, "csrf": csrf}).status == 303
        assert [e["action"] for e in reversed(console.records.audit_log())] == \
            ["sign_in", "sign_in_refused", "hit_acknowledge"]


def test_idle_session_ends_and_five_wrong_passwords_lock_the_client_out_of_the_account(store, tmp_path):
    with running_console(store, tmp_path / "operators.sqlite3", idle_s=0.5) as console:
        c = Client(console.server.url)
        c.sign_in(OFFICER, PASSWORD)
        time.sleep(0.8)
        assert c.request("/", headers={"Accept": "text/html"}).headers["Location"] == "/login"
        for name in (OFFICER, "nobody"):
            statuses = [c.request("/login", {"user": name, "password": "wrong again!"}).status for _ in range(5)]
            assert statuses == [401] * 4 + [429], name
        locked = c.request("/login", {"user": OFFICER, "password": PASSWORD})
        unknown = c.request("/login", {"user": "nobody", "password": PASSWORD})
        assert locked.status == unknown.status == 429
        assert locked.read() == unknown.read(), "a locked account is told apart from an unknown name"
        log = console.records.audit_log()
        assert [e["action"] for e in log].count("sign_in_refused") == 12
        assert "locked" in repr(log[1]), "the audit log lost why the sign-in was refused"
        assert Client(console.server.url, source="127.0.0.2").request(
            "/login", {"user": OFFICER, "password": PASSWORD}).status == 303, "the account was locked for everyone"


def test_behind_a_front_each_forwarded_client_is_locked_out_alone_and_without_one_forwarded_for_is_not_read(
        store, tmp_path):
    """Behind a TLS front (``--front``: the console on loopback) the client is the address the front appended last
    to X-Forwarded-For: one client's wrong passwords lock that client out of the account, whatever it put in the
    header itself, and another client of the front signs in. Without a front the header is not read: a client
    cannot name itself another to escape its lock."""
    def sign_in(console, forwarded_for: str, password: str) -> int:  # type: ignore[no-untyped-def]
        return Client(console.server.url).request("/login", {"user": OFFICER, "password": password},
                                                  {"X-Forwarded-For": forwarded_for}).status

    front = {"front": "https://console.example", "names": ("console.example",), "secure": True}
    for config, other_client_signs_in in ((front, True), ({}, False)):
        with running_console(store, tmp_path / f"operators{len(config)}.sqlite3", **config) as console:
            assert [sign_in(console, "203.0.113.5", "wrong again!") for _ in range(5)] == [401] * 4 + [429]
            assert sign_in(console, "198.51.100.7, 203.0.113.5", PASSWORD) == 429
            assert sign_in(console, "203.0.113.6", PASSWORD) == (303 if other_client_signs_in else 429), config


def test_a_clients_connections_beyond_its_share_are_refused_while_another_client_is_served(console):
    """The console's server holds each client to ``CONNECTIONS_PER_CLIENT`` connections (it had no bound): the next
    is reset at once, another client is served."""
    from agent.web.clients import CONNECTIONS_PER_CLIENT

    assert_connections_held_to_a_share(console.server.url, CONNECTIONS_PER_CLIENT)


def test_refused_sign_ins_are_audited_at_most_so_many_a_window_and_the_next_says_how_many_were_not(store, tmp_path):
    """A refused sign-in costs its sender only an Argon2 wait: anyone reaching the console could add a row to the
    central store's audit log every 50-100 ms. At most REFUSALS_AUDITED are recorded a minute; the next one
    recorded says how many went unrecorded before it."""
    now = [time.time()]
    with running_console(store, tmp_path / "operators.sqlite3", clock=lambda: now[0],
                         refusals_audited=(2, 60.0)) as console:
        def refused() -> list[dict]:
            return [e for e in console.records.audit_log() if e["action"] == "sign_in_refused"]

        for i in range(5):
            assert Client(console.server.url).request("/login", {"user": f"mallory{i}", "password": "x"}).status == 401
        assert len(refused()) == 2
        now[0] += 61
        assert Client(console.server.url).request("/login", {"user": "mallory", "password": "x"}).status == 401
        assert len(refused()) == 3 and json.loads(refused()[0]["detail"])["unrecorded_before"] == 3


# what each page must say in French and Arabic (the catalogues' own words), and the English it must not
TRANSLATED = {
    "fr": {"ack": "Signalement pris en compte.", "outcome": "Suite enregistrée.", "reason": "volé", "tag": "SIGNALÉ",
           "false_match": "Fausse correspondance", "urgent": "urgente", "audit_outcome": "a enregistré la suite d'un signalement",
           "audit_sign_in": "connexion", "refused": "Cette console a été lancée sans --alert-key ni broker"},
    "ar": {"ack": "تم تأكيد الاطلاع على التطابق.", "outcome": "تم تسجيل النتيجة.", "reason": "مسروقة", "tag": "تطابق",
           "false_match": "تطابق خاطئ", "urgent": "عاجل", "audit_outcome": "سجّل نتيجة تطابق",
           "audit_sign_in": "سجّل الدخول", "refused": "شُغّلت هذه الواجهة دون --alert-key ووسيط رسائل"},
}


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_confirmations_refusals_and_stored_codes_are_shown_in_the_operators_language(console, store, lang):
    """The one-line confirmations and refusals after an action, and the codes the store keeps (a hit's reason and
    outcome, an alert's severity, audit action names) are shown translated; the stored codes do not change."""
    words = TRANSLATED[lang]
    url, form = console.server.url, hit_form(store)
    console.records.record_alert("a-1", SUPERVISOR, "urgent", "all", "Watch for L898902C3", time.time() + 3600)
    c = Client(url)
    csrf = c.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/lang", {"lang": lang, "csrf": csrf}).status == 303

    def after(path: str, data: dict[str, str]) -> str:
        assert c.request(path, {**form, **data, "csrf": csrf}).status == 303, path
        return c.request("/").read().decode()

    page = after("/hit/ack", {})
    assert words["ack"] in page and "Hit acknowledged." not in page
    page = after("/hit/outcome", {"outcome": "false_match"})
    assert words["outcome"] in page and "Outcome recorded." not in page
    assert f'data-reason="stolen">{words["reason"]}</strong>' in page, "the hit's reason is not translated"
    assert f'<span class="tag HIT">{words["tag"]}</span>' in page
    assert f'<span class="outcome">{words["false_match"]}</span>' in page
    alerts = c.request("/alerts").read().decode()
    assert f'<span class="tag urgent">{words["urgent"]}</span>' in alerts
    refused = c.request("/alerts", {"notice": "x", "severity": "urgent", "csrf": csrf})
    assert refused.status == 400
    text = refused.read().decode()
    assert words["refused"] in text and "was started without" not in text
    audit = c.request("/audit").read().decode()
    assert f'data-action="hit_outcome">{escape(words["audit_outcome"])}</td>' in audit
    assert f'data-action="sign_in">{words["audit_sign_in"]}</td>' in audit
    assert ">hit_outcome<" not in audit and ">sign_in<" not in audit
    # the store keeps the codes, never the words
    assert console.records.hits()[0]["outcome"] == "false_match"
    assert {e["action"] for e in console.records.audit_log()} >= {"sign_in", "hit_acknowledge", "hit_outcome"}


def test_english_pages_show_the_stored_codes_in_english_words(console, store):
    url, form = console.server.url, hit_form(store)
    c = Client(url)
    csrf = c.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/hit/outcome", {**form, "outcome": "false_match", "csrf": csrf}).status == 303
    page = c.request("/").read().decode()
    assert "Outcome recorded." in page and '<span class="outcome">False match</span>' in page
    audit = c.request("/audit").read().decode()
    assert 'data-action="hit_outcome">recorded a hit&#39;s outcome</td>' in audit


GATE_CODES = {  # the words the gates page and the commands page show for stored gate codes
    "fr": {"reader": "Lecteur de documents", "outbox_recovered": "File d&#39;envoi mise de côté et recréée",
           "hitlist": "Liste de signalement", "publish_refused": "Le courtier a refusé une publication",
           "pulse_relay": "Actionner le relais de la barrière", "wipe": "Effacer le portique",
           "replay": "rejouée ou hors séquence", "absent": "non connecté"},
    "ar": {"reader": "قارئ الوثائق", "outbox_recovered": "نُقل صندوق إرسال الأحداث جانبًا وأُعيد إنشاؤه",
           "hitlist": "قائمة التطابق", "publish_refused": "رفض الوسيط نشر رسالة",
           "pulse_relay": "تشغيل مرحّل الحاجز", "wipe": "مسح البوابة", "replay": "مُعادة أو خارج الترتيب",
           "absent": "غير موصول"},
}


@pytest.mark.parametrize("lang", ["fr", "ar"])
def test_gate_faults_and_commands_are_shown_in_the_operators_language_and_unknown_codes_as_stored(console, store,
                                                                                                lang):
    """A gate's fault parts and alarms, a pending command, a sent command and the gate's refusal reason are shown
    in the operator's words with the stored code kept in the markup (``data-code``/``title``, for support calls);
    codes no table knows (a newer gate's) are shown as stored; the store keeps the codes."""
    words, now = GATE_CODES[lang], time.time()
    add_status(store, "gate-1", now, alarms=["publish_refused", "radio_silence"],
               faults={"reader": "absent: [Errno 2] /dev/ttyUSB0", "outbox_recovered": "moved aside at 12:00",
                       "hitlist:sltd": "no head received", "sonar": "echo lost"})
    console.records.propose_command("c1", "gate-1", "pulse_relay", {"seconds": 2}, b"wire", SECOND, now + 600)
    console.records.propose_command("c2", "gate-1", "teleport", {}, b"wire", SECOND, now + 600)
    store.add_command("c3", "gate-1", 7, "wipe", now)
    store.command_result("c3", "gate-1", False, "replay", "sequence 7 <= last accepted 9")
    store.add_command("c4", "gate-1", 8, "wipe", now)
    store.command_result("c4", "gate-1", False, "quantum_veto", "a newer gate's reason")
    c = Client(console.server.url)
    csrf = c.sign_in(SUPERVISOR, PASSWORD)
    assert c.request("/lang", {"lang": lang, "csrf": csrf}).status == 303

    gates = c.request("/gates").read().decode()
    for code in ("reader", "outbox_recovered", "publish_refused"):
        assert f'data-code="{code}" title="{code}">{words[code]}</span>' in gates, code
    assert f'title="hitlist:sltd">{words["hitlist"]}: sltd</span>' in gates, "the list id is not kept as named"
    assert f'title="absent: [Errno 2] /dev/ttyUSB0">{words["absent"]}: [Errno 2] /dev/ttyUSB0</small>' in gates, \
        "the kind of the reader's fault is not translated, or its own detail is not kept"
    assert ">moved aside at 12:00</small>" in gates, "a detail of no known kind is not shown as the gate sent it"
    assert 'title="sonar">sonar</span>' in gates and 'title="radio_silence">radio_silence</span>' in gates
    commands = c.request("/commands").read().decode()
    assert f'title="pulse_relay">{words["pulse_relay"]}</span>' in commands
    assert f'title="wipe">{words["wipe"]}</span>' in commands
    assert f'title="replay">{words["replay"]}</span>' in commands
    assert 'title="teleport">teleport</span>' in commands and 'title="quantum_veto">quantum_veto</span>' in commands
    # the store keeps the codes, never the words
    assert {r["op"] for r in console.records.pending_commands()} == {"pulse_relay", "teleport"}
    assert {(r["op"], r["reason"]) for r in console.records.commands()} == {("wipe", "replay"),
                                                                           ("wipe", "quantum_veto")}


def test_a_gates_clock_leap_and_stale_lists_reason_show_on_the_gates_page_and_clear_with_its_next_status(console,
                                                                                                       store):
    """The gate's signed status carries ``time`` (docs/protocol.md "Trusted time": the wall clock ahead of or
    behind trusted time, a held ``leap_pending``) and each list's ``stale_reason``: the Gates page shows them with
    the gate's faults, in UTC, and shows none of them once the gate's next status says all is well."""
    now = time.time()
    leap = now + 365 * 86400
    add_status(store, "gate-1", now - 60, time={"trusted": now, "wall": "ahead", "wall_offset_s": 7300.0, "source": "ack",
                                           "last_signed": now, "leap_pending": {"ts": leap, "source": "head",
                                                                                "since": now - 60}},
               hitlist={"list_id": "sltd", "version": 4, "stale": True, "stale_reason": "head expired"})
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert "wall clock 2 h ahead of trusted time" in row
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(leap))
    assert 'data-code="leap-pending"' in row and f"the centre&#39;s time {when}" in row
    assert 'STALE: <small title="head expired">head expired</small>' in row
    add_status(store, "gate-1", now - 30, time={"trusted": now, "wall": "behind", "wall_offset_s": -400.0,
                                                "source": "ack", "last_signed": now})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert "wall clock 7 min behind trusted time" in row and "leap-pending" not in row and "STALE" not in row
    add_status(store, "gate-1", now, time={"trusted": now, "wall": "ok", "wall_offset_s": 0.3, "source": "ack",
                                                "last_signed": now})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert '<td class="faults"></td>' in row, "a cleared clock fault is still shown"


def test_a_gates_update_and_its_trial_boots_outcome_show_on_the_gates_page(console, store):
    """The gate's signed status carries ``update`` (docs/update.md "Reporting"): the Gates page shows a download
    under way beside the agent's version, a failed update and a rolled-back trial boot with the faults (why in
    the title), a committed one as when the gate was updated, in UTC."""
    now = time.time()
    add_status(store, "gate-1", now - 90, update={"phase": "downloading", "version": "2.0", "url": "https://u/b"})
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert 'data-code="update-downloading"' in row and "downloading update 2.0" in row and "update-failed" not in row
    rolled_back = "slot B rolled back: selftest failed: reader absent"
    add_status(store, "gate-1", now - 60, update={"phase": "idle", "last_trial": {"at": now - 70, "outcome": rolled_back}})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now - 70))
    assert f"trial boot rolled back {when}" in row and f'title="{rolled_back}"' in row
    assert row.index("trial-rolled-back") < row.index('class="backlog"'), "shown with the faults"
    add_status(store, "gate-1", now - 30, update={"phase": "failed", "version": "2.1", "error": "bundle refused"})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert "update 2.1 failed" in row and "bundle refused" in row and "trial-rolled-back" not in row
    add_status(store, "gate-1", now, update={"phase": "idle", "last_trial": {"at": now - 5, "outcome": "slot A committed"}})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert 'data-code="trial-committed"' in row and "update-failed" not in row and "rolled back" not in row
    add_status(store, "gate-1", now + 1, update={"phase": "idle", "last_trial": {"error": "update-trial.json unreadable"}})
    row = _gate_row(c.request("/gates").read().decode(), "gate-1")
    assert "trial-committed" not in row and "trial-rolled-back" not in row, "an unreadable record is no outcome"


def _gate_row(page: str, gate: str) -> str:
    start = page.index(f'data-gate="{gate}"')
    return page[start:page.index("</tr>", start)]


def _next_frame(stream, event: str, within: float = 5.0) -> str:  # type: ignore[no-untyped-def]
    """The data of the next server-sent ``event`` on ``stream`` (a response being read), pings skipped; raises
    TimeoutError when none comes ``within`` seconds."""
    deadline, name, data = time.monotonic() + within, "", []
    while time.monotonic() < deadline:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event: "):
            name, data = line[7:], []
        elif line.startswith("data: "):
            data.append(line[6:])
        elif not line and name == event:
            return "\n".join(data)
        elif not line:
            name = ""
    raise TimeoutError(f"no {event!r} event within {within} s")


def test_an_open_gates_page_shows_a_gate_offline_when_it_falls_silent_though_nothing_is_written(store, tmp_path):
    """Heartbeats stop (the gate, or its network, or the broker, gone without a will reaching the node): nothing
    is written to the store, yet after STALE_S the live Gates panel must be re-rendered with the gate offline.
    Before the fix the feed watched only what the store changed, so an open page showed every silent gate
    online until a reload."""
    from tests.support.clock import FakeClock
    from tools.central.console.records import STALE_S

    clock = FakeClock(time.time())
    add_status(store, "gate-1", clock())
    with running_console(store, tmp_path / "operators.sqlite3", clock=clock) as console:
        c = Client(console.server.url)
        c.sign_in(VIEWER, PASSWORD)
        stream = c.request("/events?show=gates")
        assert 'class="online"' in _next_frame(stream, "gates")
        clock.advance(STALE_S + 5)
        console.poke()
        panel = _next_frame(stream, "gates")
        assert 'data-gate="gate-1" class="offline"' in panel
        stream.close()


def test_live_hits_name_the_list_and_the_version_that_matched(console, store):
    """The hit's list and the version it matched at (from the event's clear ``lists``), on the live hits page."""
    add_search(store, "gate-1", "port-a", time.time(), hit=True, list_version=42)
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    assert '<span class="list">sltd v42</span>' in c.request("/").read().decode()


def test_an_alert_to_one_site_counts_and_lists_only_that_sites_gates(console, store):
    """The Alerts page says "of N gates" with N the gates the alert was addressed to (a site's gates, by their
    enrolment token) and has no row for a gate of another site it was never sent to."""
    now = time.time()
    for gate, site in (("gate-1", "port-a"), ("gate-2", "port-a"), ("gate-3", "desert-b")):
        if gate != "gate-1":
            store.enrol(gate, bytes(SigningKey.generate().verify_key), now)
        store.add_token(f"t-{gate}", gate, site, bytes(32), now - 60, now)
    console.records.record_alert("a-site", SUPERVISOR, "urgent", "site", "Watch port-a", now + 3600, sites=["port-a"])
    add_alert_receipt(store, "gate-1", "port-a", "a-site", now)
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    page = c.request("/alerts").read().decode()
    assert "received by 1, acknowledged by 0 of 2 gates" in page
    assert 'data-gate="gate-2"' in page and 'data-gate="gate-3"' not in page, "a gate of another site is listed"


@pytest.mark.parametrize(("lang", "expired", "waiting"), [("en", "expired, no answer", "waiting"),
                                                         ("fr", "expirée, sans réponse", "en attente"),
                                                         ("ar", "انتهت صلاحيته دون رد", "قيد الانتظار")])
def test_a_command_with_no_answer_shows_expired_once_its_not_after_passed_in_the_operators_language(
        console, store, lang, expired, waiting):
    """A sent command with no result shows waiting until its signed ``not_after``, then expired with no answer
    (the gate refuses it after that, so none will come), in the operator's language."""
    now = time.time()
    store.add_command("c-old", "gate-1", 1, "rebirth", now - 700, now - 100)
    store.add_command("c-new", "gate-1", 2, "rebirth", now - 5, now + 595)
    c = Client(console.server.url)
    csrf = c.sign_in(VIEWER, PASSWORD)
    if lang != "en":
        assert c.request("/lang", {"lang": lang, "csrf": csrf}).status == 303
    page = c.request("/commands").read().decode()
    assert re.search(r'<tr data-cmd="c-old">.*?<td class="result">' + re.escape(expired) + "</td>", page), \
        "a command past its not_after with no answer is not shown expired"
    assert re.search(r'<tr data-cmd="c-new">.*?<td class="result">' + re.escape(waiting) + "</td>", page)


def test_a_proposal_past_its_expiry_shows_lapsed_on_the_commands_page_and_in_the_audit_log(console, store):
    """A high-impact command still waiting for a second supervisor at its expiry does not just drop off the page:
    it is shown lapsed, offered for approval no more, and the audit log records the lapse."""
    now = time.time()
    console.records.propose_command("c-lapsed", "gate-1", "wipe", {}, b"wire", SECOND, now - 5)
    console.records.propose_command("c-open", "gate-1", "wipe", {}, b"wire", SECOND, now + 600)
    c = Client(console.server.url)
    c.sign_in(SUPERVISOR, PASSWORD)
    page = c.request("/commands").read().decode()
    lapsed = page[page.index('<table class="lapsed">'):]
    assert '<tr data-cmd="c-lapsed">' in lapsed and "lapsed at " in lapsed and "c-open" not in lapsed
    pending = page[page.index('<table class="pending">'):page.index('<table class="lapsed">')]
    assert 'data-cmd="c-open"' in pending and "c-lapsed" not in pending
    audit = c.request("/audit").read().decode()
    assert audit.count('data-action="command_lapsed">a proposed command lapsed (no second supervisor)</td>') == 1
    assert "gate-1/c-lapsed" in audit


def test_a_proposal_lapses_in_the_audit_log_at_its_expiry_with_no_page_opened(console, store, caplog):
    """The console's feed notices a proposal that lapsed by itself, within ``ROLLUP_S`` of its expiry: the audit
    log records it at its ``not_after`` and the log says so, though nobody opened the Commands page; opening it
    later shows it lapsed and audits nothing twice."""
    from tests.support.wait import wait_until
    from tools.central.console import ROLLUP_S

    caplog.set_level(logging.WARNING, logger="tools.central.console")
    not_after = time.time() + 0.5
    console.records.propose_command("c-late", "gate-1", "wipe", {}, b"wire", SECOND, not_after)

    def lapses() -> list[dict[str, object]]:
        return [e for e in console.records.audit_log() if e["action"] == "command_lapsed"]

    assert wait_until(lambda: lapses(), ROLLUP_S + 5), "no lapse audited while no page was open"
    assert [(e["target"], e["at"]) for e in lapses()] == [("gate-1/c-late", not_after)]
    assert "1 high-impact command proposal(s) lapsed" in caplog.text
    c = Client(console.server.url)
    c.sign_in(SUPERVISOR, PASSWORD)
    page = c.request("/commands").read().decode()
    assert '<tr data-cmd="c-late">' in page[page.index('<table class="lapsed">'):]
    assert len(lapses()) == 1


def test_the_alerts_page_shows_the_latest_alerts_and_a_bounded_number_of_gate_rows_each(console, store):
    """However many alerts were issued and gates enrolled, the Alerts page shows the newest ``ALERTS_SHOWN`` alerts
    saying so, and per alert its counts over all its gates with at most ``GATE_ROWS`` not-received rows and how
    many more."""
    from tools.central.console.records import ALERTS_SHOWN, GATE_ROWS

    now = time.time()
    for i in range(2, GATE_ROWS + 7):
        store.enrol(f"gate-{i}", bytes(SigningKey.generate().verify_key), now)
    for i in range(ALERTS_SHOWN + 4):
        console.records.record_alert(f"a-{i:02d}", SUPERVISOR, "info", "all", f"notice {i}", now + 3600 + i)
    c = Client(console.server.url)
    c.sign_in(VIEWER, PASSWORD)
    page = c.request("/alerts").read().decode()
    assert page.count('<article class="alert"') == ALERTS_SHOWN
    assert f"Showing the latest {ALERTS_SHOWN} of {ALERTS_SHOWN + 4} alerts." in page
    article = page[page.index('<article class="alert"'):]
    article = article[:article.index("</article>")]
    assert f"received by 0, acknowledged by 0 of {GATE_ROWS + 6} gates" in article
    assert article.count("<tr data-gate=") == GATE_ROWS and "and 6 more gates that have not reported it" in article


# the Alerts form's urgent listings refused for one field: (form fields, the field RecordFieldError names)
BAD_LISTINGS = {
    "birth date not YYMMDD": ({"surname": "ERIKSSON", "given_names": "ANNA MARIA", "birth_date": "74-12-8"}, "birth_date"),
    "name with digits": ({"surname": "ER1KSSON", "given_names": "ANNA", "birth_date": "741208"}, "name"),
    "person without a name": ({"birth_date": "741208"}, "name"),
    "VIN too short": ({"vin": "1M8G"}, "vin"),
    "VIN too long": ({"vin": "1M8GDM9AXKP0427881"}, "vin"),
    "plate without country": ({"plate": "B-AB 1234"}, "plate"),
    "document without number": ({"issuing_state": "UTO"}, "document"),
}


def test_a_supervisor_lists_a_wanted_person_from_the_console_and_a_real_gate_hits_and_refers_them(broker, tmp_path,
                                                                                                    caplog):
    """An alert issued over HTTP with a person (and a vehicle) in its form is signed, published to a real Mosquitto
    and applied by a real gate link: the person as listed is a HIT, their birth date with day and month swapped a
    REFER (NAMES.md rule 5), the VIN a HIT. Refused listings (each bad field, in the operator's language) publish,
    record and audit nothing; the name is in no URL, log line or audit entry."""
    from agent.config import ScreeningConfig
    from agent.screening.decision import decide_query
    from agent.screening.sources import PersonQuery, Query
    from tests.support.wait import wait_until
    from tools.central.console.views import LISTING_REFUSALS

    caplog.set_level(logging.DEBUG)
    rules = ScreeningConfig(lab_gate=True)
    with alerting_console(broker, tmp_path) as (site, console):
        warnings = site.warnings

        def decide(query: Query):  # type: ignore[no-untyped-def]
            return decide_query(query, rules=rules, now=time.time(), sources=[warnings])

        c = Client(console.server.url)
        csrf = c.sign_in(SUPERVISOR, PASSWORD)
        notice = {"notice": "Wanted: see the listing", "severity": "urgent", "ttl": "600", "csrf": csrf}
        for fields, field in BAD_LISTINGS.values():
            r = c.request("/alerts", {**notice, **fields})
            assert r.status == 400, fields
            assert str(escape(LISTING_REFUSALS[field])) in r.read().decode(), fields
        assert c.request("/lang", {"lang": "fr", "csrf": csrf}).status == 303
        r = c.request("/alerts", {**notice, **BAD_LISTINGS["birth date not YYMMDD"][0]})
        assert r.status == 400 and "La date de naissance de la personne" in r.read().decode()
        assert c.request("/lang", {"lang": "en", "csrf": csrf}).status == 303
        assert console.records.alerts() == [] and "alert_issue" not in {
            e["action"] for e in console.records.audit_log()}
        r = c.request("/alerts", {**notice, "surname": "Eriksson", "given_names": "Anna Maria", "birth_date": "741208",
                                  "vin": "1M8GDM9AXKP042788", "ref": "EW-P"})
        assert r.status == 303 and "?" not in r.headers["Location"]
        [issued] = console.records.alerts()
        assert wait_until(lambda: [a["id"] for a in warnings.active_alerts()] == [issued["alert_id"]], 10)
        person = decide(Query(person=PersonQuery("ERIKSSON", "ANNA MARIA", "741208")))
        assert (person.verdict, person.reasons, person.hit.ref) == ("HIT", ("listed_person:wanted",), "EW-P")
        swapped = decide(Query(person=PersonQuery("ERIKSSON", "ANNA MARIA", "740812")))
        assert swapped.verdict == "REFER" and swapped.reasons == ("possible_person_match:wanted",
                                                                  "birth_date_transposed")
        assert decide(Query(vin="1M8GDM9AXKP042788")).verdict == "HIT"
        assert decide(Query(person=PersonQuery("ERIKSSON", "ANNA MARIA", "741213"))).verdict == "CLEAR"
        [entry] = [e for e in console.records.audit_log() if e["action"] == "alert_issue"]
        assert json.loads(entry["detail"])["listed"] == ["person", "vehicle"]
        # a source that knows only the year of birth: 88<<<< as the form's hint says
        assert c.request("/alerts", {**notice, "surname": "AL RUWATHE", "given_names": "BUTHRA",
                                     "birth_date": "88<<<<", "ref": "EW-Y"}).status == 303
        assert wait_until(lambda: len(warnings.active_alerts()) == 2, 10)
        partial = decide(Query(person=PersonQuery("AL RUWATHE", "BUTHRA", "880512")))
        assert partial.verdict == "REFER" and partial.reasons == ("possible_person_match:wanted",
                                                                  "birth_date_partial")
        assert decide(Query(person=PersonQuery("AL RUWATHE", "BUTHRA", "88<<<<"))).hit.ref == "EW-Y"
        audit = repr(console.records.audit_log()).upper()
        assert not {"ERIKSSON", "RUWATHE", "741208", "1M8GDM9AXKP042788"} & set(re.findall(r"\w+", audit))
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert not {"ERIKSSON", "RUWATHE", "741208", "1M8GDM9AXKP042788"} & set(re.findall(r"\w+", logged.upper()))

