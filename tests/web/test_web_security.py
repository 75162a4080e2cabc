"""What the web foundation enforces on every request (agent/web/server.py), checked over real HTTP against
the officer's screen of a running gate: sessions, CSRF, same-origin, headers, cookies, no personal data in
URLs or logs."""

from __future__ import annotations

import html
import http.client
import http.cookiejar
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

import pytest

from tests.support.gatesim import LISTED_DOC
from tests.support.screen import OFFICER, PASSWORD, running_gate
from tests.support.wait import wait_until
from tests.support.webclient import Client, assert_connections_held_to_a_share, connection, refused


@pytest.fixture(scope="module")
def gate(tmp_path_factory):  # type: ignore[no-untyped-def]
    with running_gate(tmp_path_factory.mktemp("gate")) as app:
        yield app


def test_pages_need_a_session(gate):
    c = Client(gate.screen.url)
    page = c.request("/", headers={"Accept": "text/html"})
    assert page.status == 303 and page.headers["Location"] == "/login"
    for path in ("/events", "/"):
        assert c.request(path).status == 401
    assert c.request("/hit/ack", {"event": "x"}).status == 401


def test_signed_out_requests_on_every_route_show_no_personal_data(gate):
    """With a listed passport on the screen, every route the screen serves (read from its router, so a new
    one is covered too), asked without a session or with a forged one, answers without the traveller's
    number, names or MRZ; a signed-in officer's page shows them (so the scan can find them)."""
    secrets = ("L898902C3", "ERIKSSON", "ANNA MARIA", "ANNA<MARIA", *LISTED_DOC)
    signed_in = Client(gate.screen.url)
    signed_in.sign_in(OFFICER, PASSWORD)
    gate.reader.device.swipe(LISTED_DOC)  # the module's gate may show another test's traveller until this one
    assert wait_until(lambda: "L898902C3" in signed_in.request("/").read().decode(), 10), \
        "the screen shows no traveller: the scan would prove nothing"
    routes = {(r.method, r.resource.canonical) for r in gate.screen.server.app.router.routes()}
    assert {("GET", "/"), ("GET", "/events"), ("POST", "/override")} <= routes
    anonymous = Client(gate.screen.url)
    forged = Client(gate.screen.url)
    forged.jar.set_cookie(http.cookiejar.Cookie(
        0, "sharaka_session", "forged-token", None, False, urllib.parse.urlsplit(gate.screen.url).hostname, False,
        False, "/", True, False, None, False, None, None, {}))
    for method, path in sorted(routes):
        path = re.sub(r"\{kind:[^}]*\}", "document", path)
        if path == "/static":
            path = "/static/live.js"
        for client in (anonymous, forged):
            form = {"event": gate.screen.model.current().event_id} if method == "POST" else None
            r = client.request(path, form, headers={"Accept": "text/html"})
            body = r.read(256 * 1024).decode(errors="replace")
            assert not [s for s in secrets if s in body], (method, path, r.status)
            assert not [s for s in secrets if s in str(r.headers)], (method, path)


def test_request_for_another_host_name_is_refused_before_the_sign_in_form(gate):
    """DNS rebinding: a page of another name that resolves to the gate asks for the sign-in form and posts the
    officer's password with its own name in Host: 421 with a short plain message and no form, no session; the
    screen's own names (its loopback address, localhost's forms, the gate id) are served; no Host at all is 400."""
    port = gate.screen.server.port

    def ask(method: str, host: str | None, body: str | None = None) -> tuple[int, str, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.putrequest(method, "/login", skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        if body is not None:
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body.encode() if body is not None else None)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        return r.status, text, r

    sign_in = urllib.parse.urlencode({"user": OFFICER, "password": PASSWORD})
    for host in (f"rebind.attacker.example:{port}", "rebind.attacker.example", f"127.0.0.1.nip.io:{port}"):
        status, text, r = ask("GET", host)
        assert (status, text) == (421, "this server does not answer to that host name"), host
        assert r.headers["Content-Type"].startswith("text/plain") and r.headers["X-Frame-Options"] == "DENY"
        status, text, r = ask("POST", host, sign_in)
        assert status == 421 and r.headers["Set-Cookie"] is None, host
    status, text, _ = ask("GET", None)
    assert status == 400
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"gate-a:{port}", "LocalHost."):
        status, text, _ = ask("GET", host)
        assert status == 200 and 'name="password"' in text, host


REFUSED = "Wrong name or password: 5 wrong passwords in a row for one name lock this device out of it for 5 minutes."
LOCKED = ("Too many wrong passwords for this name from this device: try again in 5 min. Other devices can still sign "
          "in under it.")


def test_a_locked_account_gets_the_answer_an_unknown_name_gets(gate):
    """Lock-out tells no one which names have accounts: a wrong password and an unknown name get one answer, which
    says how lock-out works; once a client failed five times in a row (the gate's [screen] max_failures) under an
    officer's name or under a name without an account, its sign-ins under it, with the right password or a wrong
    one, get one answer too, which says how long to wait."""
    gate.screen.accounts.add("bashir", "bashir's passphrase")
    c = Client(gate.screen.url, source="127.0.0.4")

    def answer(user: str, password: str) -> tuple[int, str]:
        r = c.request("/login", {"user": user, "password": password})
        return r.status, r.read().decode()

    wrong = answer("bashir", "not the password")
    assert wrong == answer("nobody", "not the password")
    assert wrong[0] == 401 and REFUSED in wrong[1]
    for _ in range(3):
        assert answer("bashir", "not the password") == wrong
        assert answer("nobody", "not the password") == wrong
    locked = answer("bashir", "not the password")
    assert next(a for a in gate.screen.accounts.list() if a.name == "bashir").locked_until > 0
    assert answer("nobody", "not the password") == locked
    assert answer("bashir", "bashir's passphrase") == locked, "a locked account is told apart from an unknown name"
    assert answer("nobody", "bashir's passphrase") == locked
    assert locked[0] == 429 and LOCKED in locked[1]


def test_an_address_locked_out_of_an_officers_account_leaves_it_open_from_another_address(gate):
    """Five wrong passwords from one address (anyone who reaches the screen) lock that address out of the officer's
    account, saying for how long in the page's language (French here) and in ``Retry-After``; the officer still
    signs in from their own terminal, and the address stays locked out."""
    gate.screen.accounts.add("karim", "karim's passphrase")
    attacker, officer = Client(gate.screen.url, source="127.0.0.5"), Client(gate.screen.url, source="127.0.0.6")
    french = {"Accept-Language": "fr"}
    for _ in range(4):
        assert attacker.request("/login", {"user": "karim", "password": "a wrong guess"}, french).status == 401
    locked = attacker.request("/login", {"user": "karim", "password": "a wrong guess"}, french)
    assert locked.status == 429 and 290 <= int(locked.headers["Retry-After"]) <= 300
    assert ("Trop de mots de passe erronés pour ce nom depuis cet appareil : réessayez dans 5 min. D'autres "
            "appareils peuvent encore se connecter sous ce nom.") in html.unescape(locked.read().decode())
    assert officer.request("/login", {"user": "karim", "password": "karim's passphrase"}).status == 303, \
        "the officer was locked out of their account by another address's wrong passwords"
    assert attacker.request("/login", {"user": "karim", "password": "karim's passphrase"}).status == 429


def test_a_clients_connections_beyond_its_share_are_refused_while_another_client_is_served(gate):
    """The screen's own server holds each client to ``CONNECTIONS_PER_CLIENT`` connections, as the image's firewall
    does, also on a gate not behind that firewall: the next is reset at once and another client is served."""
    from agent.web.clients import CONNECTIONS_PER_CLIENT

    assert_connections_held_to_a_share(gate.screen.url, CONNECTIONS_PER_CLIENT)


def test_post_without_the_sessions_csrf_token_is_refused(gate):
    c = Client(gate.screen.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    assert c.request("/override", {"event": "x", "override": "admit", "reason": "r"}).status == 403
    assert c.request("/override", {"event": "x", "override": "admit", "reason": "r", "csrf": "forged"}).status == 403
    other = Client(gate.screen.url)
    other_csrf = other.sign_in(OFFICER, PASSWORD)
    assert c.request("/override", {"event": "x", "override": "admit", "reason": "r", "csrf": other_csrf}).status == 403
    # with its own token the request is judged on its content (no such decision on the screen: 400)
    assert c.request("/override", {"event": "x", "override": "admit", "reason": "r", "csrf": csrf}).status == 400


def test_cross_origin_post_is_refused_even_with_the_token(gate):
    c = Client(gate.screen.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    r = c.request("/logout", {"csrf": csrf}, headers={"Origin": "http://evil.example"})
    assert r.status == 403
    assert c.request("/").status == 200, "the cross-origin request signed the officer out"


def test_sign_out_ends_the_session_on_the_server_and_a_sign_in_never_keeps_a_token_the_browser_brought(gate):
    """The cookie of a signed-out session, replayed (a copy kept by malware, a shared booth's browser), is refused;
    a token planted in the browser before sign-in (session fixation) is not the session it gets, nor any session."""
    planted = "planted-by-an-attacker"
    c = Client(gate.screen.url)
    c.jar.set_cookie(http.cookiejar.Cookie(0, "sharaka_session", planted, None, False, "127.0.0.1", False, False,
                                           "/", True, False, None, True, None, None, {}))
    csrf = c.sign_in(OFFICER, PASSWORD)
    token = next(k.value for k in c.jar if k.name == "sharaka_session")
    assert token != planted
    replay, fixed = Client(gate.screen.url), Client(gate.screen.url)
    for client, value in ((replay, token), (fixed, planted)):
        client.jar.set_cookie(http.cookiejar.Cookie(0, "sharaka_session", value, None, False, "127.0.0.1", False,
                                                    False, "/", True, False, None, True, None, None, {}))
    assert replay.request("/session").status == 204 and fixed.request("/session").status == 401
    assert c.request("/logout", {"csrf": csrf}).status == 303
    assert replay.request("/session").status == 401
    assert replay.request("/events").status == 401
    assert replay.request("/hit/ack", {"event": "x", "csrf": csrf}).status == 401


def test_session_cookie_is_httponly_and_samesite_strict_and_headers_forbid_framing_and_foreign_scripts(gate):
    c = Client(gate.screen.url)
    r = c.request("/login", {"user": OFFICER, "password": PASSWORD})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = c.request("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    html = page.read().decode()
    assert not re.search(r'(src|href)="(https?:)?//', html), "the page loads something from outside the gate"


def test_removed_officer_is_signed_out_at_the_next_request(tmp_path):
    from agent.cli import main

    with running_gate(tmp_path) as app:
        c = Client(app.screen.url)
        c.sign_in(OFFICER, PASSWORD)
        assert main(["officer", "remove", OFFICER, "--config", str(app.config.path)]) == 0
        assert c.request("/").status == 401


def test_new_password_signs_the_officer_out_of_every_session(tmp_path, monkeypatch):
    """``sharaka-gate officer passwd`` (another process: a password someone else may know is being replaced)
    ends the sessions signed in with the old one; the new password signs in."""
    import io

    from agent.cli import main

    with running_gate(tmp_path) as app:
        c = Client(app.screen.url)
        c.sign_in(OFFICER, PASSWORD)
        monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
        assert main(["officer", "passwd", OFFICER, "--config", str(app.config.path)]) == 0
        assert c.request("/").status == 401
        assert c.request("/events").status == 401
        Client(app.screen.url).sign_in(OFFICER, "a brand new passphrase")


def test_removed_officers_open_live_stream_ends_and_shows_no_later_decision(tmp_path):
    """The officer's page left open (its live stream the only request) while ``sharaka-gate officer remove`` runs
    in another process: the next decision ends the stream (``end``) instead of showing the traveller."""
    import time

    from agent.cli import main

    with running_gate(tmp_path) as app:
        c = Client(app.screen.url)
        c.sign_in(OFFICER, PASSWORD)
        stream = c.request("/events", headers={"Accept": "text/event-stream"})
        assert stream.status == 200
        assert main(["officer", "remove", OFFICER, "--config", str(app.config.path)]) == 0
        app.reader.device.swipe(LISTED_DOC)
        seen, deadline = "", time.monotonic() + 10
        while "event: end" not in seen and "L898902C3" not in seen and time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                break
            seen += line.decode()
        stream.close()
        assert "L898902C3" not in seen, "the removed officer's open page was shown the next traveller"
        assert "event: end" in seen


def test_a_flood_of_sign_ins_is_bounded_and_does_not_hold_up_an_officers_action(tmp_path):
    """Thirty anonymous clients posting sign-ins as fast as they can (each an Argon2id verification): the sign-ins
    beyond the foundation's bound are answered 503 at once, and a signed-in officer's action (a hand-entered
    person, run off the loop) is not queued behind the verifications."""
    import threading
    import time

    with running_gate(tmp_path) as gate:  # its own gate: the hand-entered person changes the screen
        c = Client(gate.screen.url)
        csrf = c.sign_in(OFFICER, PASSWORD)
        statuses: list[int] = []
        stop = threading.Event()

        def flood(source: str) -> None:  # each thread its own client: one client has at most two in the queue
            while not stop.is_set():
                anonymous = Client(gate.screen.url, source=source)
                statuses.append(anonymous.request("/login", {"user": "nobody", "password": "x" * 12}).status)

        threads = [threading.Thread(target=flood, args=(f"127.0.0.{2 + i}",), daemon=True) for i in range(30)]
        for t in threads:
            t.start()
        try:
            time.sleep(2)
            started = time.monotonic()
            r = c.request("/manual/person", {"surname": "DOE", "birth_date": "800101", "csrf": csrf})
            took = time.monotonic() - started
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert r.status == 303
        assert 503 in statuses, "every sign-in of the flood was queued for its verification"
        assert took < 3, f"the officer's action waited {took:.1f} s behind the flood's sign-ins"


def test_one_client_cannot_fill_the_sign_in_queue(tmp_path):
    """One client posting a dozen sign-ins at once (more than the threads and the queue hold) has at most
    ``SIGN_INS_PER_CLIENT`` of them checked, the rest refused (429) at once, so another client's sign-in is verified
    meanwhile instead of being told the queue is full (503)."""
    import threading

    from agent.web.server import SIGN_IN_QUEUE, SIGN_IN_THREADS, SIGN_INS, SIGN_INS_PER_CLIENT

    # verifications of about a second each (ten times the interactive cost), so the dozen overlap
    with site_with_one_page(tmp_path, None, opslimit=20) as server:
        url, app = server.url, server.app
        statuses: list[int] = []
        go = threading.Barrier(SIGN_IN_THREADS + SIGN_IN_QUEUE + 2)

        def sign_in() -> None:
            go.wait()
            statuses.append(Client(url, source="127.0.0.2").request(
                "/login", {"user": OFFICER, "password": "a wrong guess"}).status)

        threads = [threading.Thread(target=sign_in) for _ in range(go.parties)]
        for t in threads:
            t.start()
        assert wait_until(lambda: len(statuses) == go.parties - SIGN_INS_PER_CLIENT, 10), statuses
        assert app[SIGN_INS].pending == SIGN_INS_PER_CLIENT, "the one client's sign-ins held more of the queue"
        other = Client(url, source="127.0.0.3").request("/login", {"user": OFFICER, "password": PASSWORD})
        for t in threads:
            t.join(30)
        assert other.status == 303, f"another client's sign-in was answered {other.status}"
        assert sorted(statuses) == [401] * SIGN_INS_PER_CLIENT + [429] * (go.parties - SIGN_INS_PER_CLIENT)


def test_the_server_holds_its_total_of_connections_too(tmp_path):
    """Beyond the total (``ConnectionLimits.total``, here 3) a new connection is reset whatever its client, until one
    ends; a client at its own share (here 2) is refused while others are under theirs."""
    from agent.web.clients import ConnectionLimits

    with site_with_one_page(tmp_path, None, limits=ConnectionLimits(per_client=2, total=3)) as server:
        url = server.url
        held = [connection(url, "127.0.0.2"), connection(url, "127.0.0.2")]
        assert refused(url, "127.0.0.2")
        held.append(connection(url, "127.0.0.3"))
        assert refused(url, "127.0.0.4"), "a connection beyond the server's total was served"
        held.pop().close()
        assert wait_until(lambda: not refused(url, "127.0.0.4"), 5)
        for conn in held:
            conn.close()


def test_session_probe_tells_a_live_session_from_an_ended_one_without_keeping_it_alive(gate):
    """GET /session, what a page's live script asks when its stream fails (live.js): 204 while the session
    lives, 401 once it ended; asking is no activity, so a page left open never keeps an idle officer signed in."""
    c = Client(gate.screen.url)
    c.sign_in(OFFICER, PASSWORD)
    token = next(cookie.value for cookie in c.jar if cookie.name == "sharaka_session")
    session = gate.screen.site.sessions.get(token, touch=False)
    session.last_seen -= 60
    idle_since = session.last_seen
    assert c.request("/session").status == 204
    assert session.last_seen == idle_since, "asking whether the session lives counted as activity"
    gate.screen.site.sessions.drop(token)
    assert c.request("/session").status == 401
    ended = c.request("/login?ended=1").read().decode()
    assert 'id="session-ended"' in ended and "Your session has ended: sign in again." in ended
    assert 'id="session-ended"' not in c.request("/login").read().decode()


def test_no_document_number_or_name_in_urls_or_logs(gate, caplog):
    caplog.set_level(logging.INFO)
    c = Client(gate.screen.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    gate.reader.device.swipe(LISTED_DOC)
    assert wait_until(lambda: gate.screen.model.current() is not None, 5)
    event = gate.screen.model.current().event_id
    for path, form in (("/hit/ack", {"event": event}), ("/override", {"event": event, "override": "refuse",
                                                                        "reason": "ERIKSSON looked nervous"}),
                       ("/manual/document", {"document_code": "P", "issuing_state": "UTO", "document_number":
                                             "X12345678", "nationality": "UTO", "surname": "NORDMANN",
                                             "given_names": "OLA", "birth_date": "820304", "sex": "M",
                                             "expiry_date": "341231"})):
        r = c.request(path, {**form, "csrf": csrf})
        assert r.status == 303, (path, r.read())
        assert "?" not in r.headers["Location"]
    logged = "\n".join(r.getMessage() + repr(getattr(r, "fields", "")) for r in caplog.records)
    assert "officer action" in logged
    for secret in ("L898902C3", "ERIKSSON", "X12345678", "NORDMANN", "nervous"):
        assert secret not in logged
    # nor in any file the gate keeps: the audit log, the outbox (sealed), status, accounts
    kept = b"".join(f.read_bytes() for f in gate.config.gate.state_dir.rglob("*") if f.is_file())
    assert (gate.config.gate.state_dir / "audit.log").stat().st_size > 0  # the actions were audited: scanned
    for secret in ("L898902C3", "ERIKSSON", "X12345678", "NORDMANN", "nervous"):
        assert secret.encode() not in kept, secret


def test_https_with_the_device_certificate_off_loopback(tmp_path, pki):
    import ssl

    cert = pki.client_cert("gate-a")
    screen = {"listen": "127.0.0.2", "cert_file": str(cert.cert), "key_file": str(cert.key)}
    with running_gate(tmp_path, screen=screen) as app:
        assert app.screen.url.startswith("https://127.0.0.2:")
        # pki.client_cert is a client-only certificate here; that a verifying browser accepts the device
        # certificate signed at enrolment is tests/provision (serverAuth, DNS:<gate id>). Check instead that it
        # is the very certificate served.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.2", app.screen.server.port, context=ctx, timeout=10)
        conn.connect()
        served = conn.sock.getpeercert(binary_form=True)
        assert ssl.DER_cert_to_PEM_cert(served).split() == cert.cert.read_text().split()
        conn.request("POST", "/login", body=urllib.parse.urlencode({"user": OFFICER, "password": PASSWORD}),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        assert r.status == 303
        cookie = r.getheader("Set-Cookie")
        assert cookie.startswith("__Host-") and "Secure" in cookie
        assert r.getheader("Strict-Transport-Security")
        plain = http.client.HTTPConnection("127.0.0.2", app.screen.server.port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/login")
            plain.getresponse()


@contextmanager
def site_with_one_page(tmp_path, page, limits=None, **argon2):  # type: ignore[no-untyped-def]
    """The web foundation serving ``page`` (an aiohttp handler; None: no page of its own) at ``/`` on a free port
    within ``limits`` (``agent.web.clients.ConnectionLimits``), with the officer's account and a supervisor ``sara``
    (Argon2id at ``argon2``'s opslimit or memlimit): the ``WebServer`` (``url``, ``app``)."""
    from agent.web.accounts import Accounts
    from agent.web.server import WebServer, WebSite, create_app
    from agent.web.sessions import Sessions

    accounts = Accounts(tmp_path / "a.sqlite3", **argon2)
    accounts.add(OFFICER, PASSWORD)
    accounts.add("sara", "supervisor passphrase", "supervisor")
    app = create_app(WebSite(title="Officer's screen", accounts=accounts, sessions=Sessions()))
    if page is not None:
        app.router.add_get("/", page)
    server = WebServer(app, "127.0.0.1", 0, limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        accounts.close()


def test_a_page_can_require_a_role(tmp_path):
    from aiohttp import web

    from agent.web.server import require_role

    async def supervisors_only(request):  # type: ignore[no-untyped-def]
        require_role(request, "supervisor")
        return web.Response(text="ok")

    with site_with_one_page(tmp_path, supervisors_only) as server:
        url = server.url
        officer = Client(url)
        assert officer.request("/login", {"user": OFFICER, "password": PASSWORD}).status == 303
        assert officer.request("/").status == 403
        supervisor = Client(url)
        assert supervisor.request("/login", {"user": "sara", "password": "supervisor passphrase"}).status == 303
        assert supervisor.request("/").status == 200


def test_a_form_that_is_not_utf8_is_a_bad_request_not_a_server_error(gate, caplog):
    """Raw bytes that are not UTF-8 posted to the sign-in form (anyone may) or by a signed-in officer: 400, with
    the foundation's headers, and no traceback in the gate's log (an anonymous client could fill it)."""
    caplog.set_level(logging.INFO)
    c = Client(gate.screen.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    for path, body in (("/login", b"user=\xff&password=\xfe\xfe"), ("/override", b"event=\xff&csrf=" + csrf.encode())):
        request = urllib.request.Request(gate.screen.url + path, data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            r = c.opener.open(request, timeout=10)
        except urllib.error.HTTPError as exc:
            r = exc
        assert r.status == 400, (path, r.status)
        assert r.headers["X-Frame-Options"] == "DENY"
    assert not [r for r in caplog.records if r.exc_info], "a malformed form logged a traceback"


def test_slow_clients_are_cut_off_instead_of_holding_a_connection(gate):
    """A client dripping its request head (slowloris) or a POST body is cut off within the foundation's bounds
    (``REQUEST_HEAD_S``, ``BODY_S``), so a few hundred of them cannot hold every socket of the gate."""
    import socket
    import time

    from agent.web.server import BODY_S, REQUEST_HEAD_S

    address = ("127.0.0.1", gate.screen.server.port)
    head = socket.create_connection(address, timeout=REQUEST_HEAD_S + 10)
    body = socket.create_connection(address, timeout=BODY_S + 10)
    started = time.monotonic()
    head.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    body.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 100\r\n\r\nuser=a")
    try:
        answer = body.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert time.monotonic() - started < BODY_S + 5
        assert head.recv(4096) == b"", "the server answered a request head that never ended"
        assert time.monotonic() - started < REQUEST_HEAD_S + 5
    except TimeoutError:
        raise AssertionError(f"a slow client still held its connection after {time.monotonic() - started:.0f} s")
    finally:
        head.close()
        body.close()


SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                    "Cross-Origin-Opener-Policy", "Cache-Control")


def security_headers(response) -> dict[str, str | None]:  # type: ignore[no-untyped-def]
    return {name: response.headers.get(name) for name in SECURITY_HEADERS}


def test_every_error_page_carries_the_security_headers(gate):
    """The headers of the sign-in page on every answer the foundation or aiohttp makes on its own: the router's
    404 and 405, the 413 of an over-long body, the parser's 400 for an over-long header line (never routed),
    and the live stream."""
    c = Client(gate.screen.url)
    csrf = c.sign_in(OFFICER, PASSWORD)
    page = security_headers(c.request("/login"))
    assert None not in page.values(), page
    answers = {
        "404": c.request("/no-such-page"),
        "405": c.request("/logout"),  # POST only
        "413": c.request("/override", {"csrf": csrf, "reason": "x" * (100 * 1024)}),
        "events": c.request("/events", headers={"Accept": "text/event-stream"}),
    }
    conn = http.client.HTTPConnection("127.0.0.1", gate.screen.server.port, timeout=10)
    conn.putrequest("GET", "/login")
    conn.putheader("X-Long", "a" * 9000)
    conn.endheaders()
    answers["400"] = conn.getresponse()
    for name, r in answers.items():
        assert (name, security_headers(r)) == (name, page)
        assert name == "events" or r.status == int(name), (name, r.status)
        r.close()
    conn.close()


def test_a_server_error_page_carries_the_security_headers(tmp_path):
    """A page that fails (an exception, not an HTTP answer): aiohttp's own 500 goes out with the headers too."""
    async def broken(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    with site_with_one_page(tmp_path, broken) as server:
        url = server.url
        c = Client(url)
        assert c.request("/login", {"user": OFFICER, "password": PASSWORD}).status == 303
        page = security_headers(c.request("/login"))
        r = c.request("/", headers={"Accept": "text/html"})
        assert r.status == 500
        assert security_headers(r) == page
