"""The web foundation the officer's screen (gate) and the operators' console (centre) are built on.

    >>> web_app = create_app(WebSite(title="Officer's screen", accounts=accounts, sessions=Sessions(),
    ...                              hub=hub, template_dirs=[here / "templates"]))
    >>> web_app.router.add_get("/", home)                 # the application's own pages, signed-in only
    >>> server = WebServer(web_app, "127.0.0.1", 8080); server.start()   # its own thread and event loop
    >>> server.stop()

Stack: aiohttp (server and server-sent events in one small, well-kept package with wheels for the Pi) and
Jinja2 (autoescaping templates), with the stdlib's gettext; no JavaScript or CSS from outside the gate.
What every page gets here, once:

- sign-in against ``Accounts`` (Argon2id; lock-out per name and client, ``agent.web.accounts``: 429 with how long
  to wait) run off the event loop on ``SIGN_IN_THREADS`` threads of its own (beyond ``SIGN_IN_QUEUE`` waiting, 503 at
  once; beyond ``SIGN_INS_PER_CLIENT`` of one client's, 429 at once), sessions from ``Sessions``
  (idle and absolute timeouts) in a cookie that is ``HttpOnly``, ``SameSite=Strict`` and, over HTTPS,
  ``Secure`` with the ``__Host-`` prefix;
- a request whose ``Host`` is not a name the site answers to (``agent.web.hosts``: its listening address,
  localhost's forms on loopback, ``WebSite.names``) gets 421, one without ``Host`` 400, before anything else:
  a DNS-rebinding page never reaches the sign-in form;
- every path but ``/login``, ``/lang`` and ``/static/`` needs a session (a page redirects to ``/login``, anything else
  gets 401); every POST needs the session's CSRF token and, when the browser sends one, a same-origin
  ``Origin`` (behind a TLS front, ``WebSite.front``'s: the site is then ``secure`` too);
- ``GET /session``: 204 while the session lives, 401 once it ended, without counting as activity: what a page's
  live script (``static/live.js``) asks when its stream fails, to tell "session ended" (then
  ``/login?ended=1``, which says so) from "server out of reach" (then it reconnects);
- security headers on every response, error pages and live streams included (a Content-Security-Policy that
  allows only the gate's own scripts and styles, no framing, no referrer to other sites, no caching of pages):
  set as each response is sent (``on_response_prepare``), and on the HTTP parser's own refusals (``_Request``);
- bounded clients: ``WebServer`` accepts at most ``ConnectionLimits`` connections from one client and in all
  (``agent.web.clients``; one more is reset as it is accepted, before any TLS handshake, which must end within
  ``REQUEST_HEAD_S``); a request head not whole ``REQUEST_HEAD_S`` after the connection opened (or answered last)
  closes the connection, a POST body not whole ``BODY_S`` after its head gets 408; a body over ``MAX_BODY``
  gets 413 and the parser's limits refuse long or many header lines (400);
- no access log: the server logs sign-ins, sign-outs and refusals with the account name only; nothing a
  traveller is identified by is put in a URL (forms post their fields) or a log line;
- languages (``agent.web.i18n``): the signed-in user's choice, else a ``lang`` cookie, else
  ``Accept-Language``; ``dir="rtl"`` for Arabic.
- every value a page shows has its bidirectional controls (U+202E, an RLM...) shown as U+FFFD
  (``agent.web.i18n.shown``, the templates' ``finalize``): a name cannot make a document number read reversed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from agent.web import codes
from agent.web.accounts import Accounts, SignInError
from agent.web.clients import FORWARDED_FOR, ConnectionLimits, client_id, is_loopback, request_client
from agent.web.codes import coded, label
from agent.web.hosts import accepted_hosts, is_accepted
from agent.web.i18n import LANGUAGES, Catalogues, listing, negotiate, shown
from agent.web.sessions import Session, Sessions
from agent.web.sse import HEARTBEAT_S, Hub

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "sharaka_session"
LANG_COOKIE = "lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
PUBLIC_PREFIXES = ("/login", "/lang", "/static/")
SESSION_PROBE = "/session"  # 204 while signed in, else 401; never counts as activity (see the module docstring)
ENDED_QUERY = "ended"  # /login?ended=1: the page came back because its session ended, and says so
MAX_BODY = 64 * 1024  # forms only: nothing larger is ever posted
REQUEST_HEAD_S = 10.0  # a connection that sends no whole request head this long after opening (or after its
# last answer) is closed: a client dripping its headers (slowloris) holds no socket for long
BODY_S = 10.0  # a POST's body must have arrived this long after its head, else 408 and the connection is closed
SIGN_IN_THREADS = 2  # Argon2id verifications at once, on threads of their own: a flood of sign-ins never has the
# whole CPU nor the threads the pages' actions run on (an officer's action is not queued behind it)
SIGN_IN_QUEUE = 8  # sign-ins waiting for those threads; one more is answered 503 at once, not queued without end
SIGN_INS_PER_CLIENT = 2  # of those, one client's (agent.web.clients): one more is answered 429 at once, so that no
# one client holds the queue
REFUSED_LOGGED_S = 60.0  # connections refused for a client over its share are logged at most once so often
REFUSALS_AUDITED = (60, 60.0)  # refused sign-ins the audit log records at most, in each window of so many seconds
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebSite:
    """What one site (the officer's screen, the operators' console) plugs into the foundation."""

    title: str
    accounts: Accounts
    sessions: Sessions
    hub: Hub = field(default_factory=Hub)
    template_dirs: list[Path] = field(default_factory=list)  # searched before the foundation's own
    catalogues: Catalogues = field(default_factory=Catalogues)
    secure: bool = False  # served over HTTPS, its own or a front's: Secure cookies, HSTS
    front: str = ""  # the origin a TLS front serves the site at (agent.web.hosts.front_origin): then a POST's
    # ``Origin`` must be it (the browser's scheme is https, the request the front passes on is http)
    default_lang: str = "en"
    home: str = "/"
    passive_paths: tuple[str, ...] = ("/events",)  # requests that do not count as activity (live streams)
    heartbeat_s: float = HEARTBEAT_S  # a live stream's ping interval (agent.web.sse)
    static_dir: Path | None = None  # the site's own scripts and styles, served at /static/site/
    names: tuple[str, ...] = ()  # host names the site is reached by besides its listening address
    # (its certificate's DNS name, a TLS front's name): agent.web.hosts
    audit: Callable[[str, str, dict[str, Any]], None] | None = None
    """``audit(user, action, fields)`` for ``sign_in``, ``sign_in_refused`` and ``sign_out`` (the console's
    audit log); the site's own actions it records itself."""
    refusals_audited: tuple[int, float] = REFUSALS_AUDITED  # (how many, per seconds): ``_RefusalAudit``
    clock: Callable[[], float] = time.monotonic  # the refusals' windows


SITE: web.AppKey[WebSite] = web.AppKey("site", WebSite)
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("templates", jinja2.Environment)
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
HOSTS: web.AppKey[frozenset[str]] = web.AppKey("hosts", frozenset)  # set by WebServer: agent.web.hosts


class _SignIns:
    """The sign-ins' own threads and how many sign-ins are in them or waiting, in all and by client (counted on
    the loop)."""

    def __init__(self, refusals: _RefusalAudit) -> None:
        self.executor = ThreadPoolExecutor(SIGN_IN_THREADS, thread_name_prefix="sign-in")
        self.pending = 0
        self.by_client: Counter[str] = Counter()
        self.refusals = refusals


class _RefusalAudit:
    """Which refused sign-ins the audit log records (on the loop): at most ``most`` in each window of ``window_s``;
    the others are counted, and the next one recorded says how many went unrecorded before it. A refusal costs
    its sender only an Argon2 wait, so anyone who reaches the console could add a row to the central store every
    50-100 ms, about a million a day; the log (journal) still has each one."""

    def __init__(self, most: int, window_s: float, clock: Callable[[], float]) -> None:
        self.most, self.window_s, self._clock = most, window_s, clock
        self._start, self._recorded, self._unrecorded = -math.inf, 0, 0

    def fields(self, reason: str) -> dict[str, Any] | None:
        """The audit fields of a refusal for ``reason``, or None when the window's allowance is spent."""
        now = self._clock()
        if now - self._start >= self.window_s or now < self._start:
            self._start, self._recorded = now, 0
        if self._recorded >= self.most:
            self._unrecorded += 1
            return None
        self._recorded += 1
        out: dict[str, Any] = {"reason": reason}
        if self._unrecorded:
            out["unrecorded_before"], self._unrecorded = self._unrecorded, 0
        return out


SIGN_INS: web.AppKey[_SignIns] = web.AppKey("sign_ins", _SignIns)


def create_app(site: WebSite) -> web.Application:
    """An aiohttp application with sign-in, sessions, CSRF, headers, languages and ``/static/``; add the
    site's own routes to it (they are signed-in only). See the module docstring."""
    app = web.Application(middlewares=[_host, _guard], client_max_size=MAX_BODY)
    app.on_response_prepare.append(_on_prepare)
    app[SITE] = site
    app[SIGN_INS] = sign_ins = _SignIns(_RefusalAudit(*site.refusals_audited, site.clock))

    async def _stop_sign_ins(_app: web.Application) -> None:
        sign_ins.executor.shutdown(wait=False, cancel_futures=True)

    app.on_cleanup.append(_stop_sign_ins)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*site.template_dirs, HERE / "templates"]),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, finalize=shown)
    app.router.add_get("/login", _login_page)
    app.router.add_post("/login", _login)
    app.router.add_post("/logout", _logout)
    app.router.add_post("/lang", _set_lang)
    app.router.add_get(SESSION_PROBE, _session_probe)
    if site.static_dir is not None:  # added first: /static/site/ is not looked up in the foundation's files
        app.router.add_static("/static/site/", site.static_dir, show_index=False, follow_symlinks=False)
    app.router.add_static("/static/", HERE / "static", show_index=False, follow_symlinks=False)
    return app


def session_of(request: web.Request) -> Session:
    """The signed-in session of a request that passed the guard (every non-public path)."""
    return request[SESSION]


def live_session(site: WebSite, token: str | None, *, touch: bool = True) -> Session | None:
    """The session of ``token`` while it lives and its account is as it was at sign-in, else None. An account
    removed meanwhile (another process), made again with another role or given a new password ends its user's
    sessions here: what every request and every live stream's next event asks."""
    session = site.sessions.get(token, touch=touch)
    if session is not None and site.accounts.standing(session.user) != session.standing:
        site.sessions.drop_user(session.user)
        return None
    return session


def require_role(request: web.Request, *roles: str) -> None:
    """Raise 403 unless the signed-in account has one of ``roles`` (e.g. a console page for supervisors)."""
    if session_of(request).role not in roles:
        logger.warning("refused: role", extra={"fields": {"path": request.path, "user": session_of(request).user}})
        raise web.HTTPForbidden(text="your account may not do this")


def lang_of(request: web.Request) -> str:
    """The language of the pages for this request (see the module docstring)."""
    session = request.get(SESSION)
    if session is not None:
        return str(session.lang)
    cookie = request.cookies.get(LANG_COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return negotiate(request.headers.get("Accept-Language"), request.app[SITE].default_lang)


def template_context(request: web.Request, lang: str | None = None) -> dict[str, Any]:
    """What every template may use: ``_`` (gettext), ``label``/``coded`` (a stored code's words, and those words
    with the code kept in the markup: ``agent.web.codes``; ``label(FAULTS, "reader")``), ``listing`` (words joined
    as the language lists them: ``agent.web.i18n.listing``), ``lang``, ``dir``,
    ``languages``, ``session``, ``csrf``."""
    site = request.app[SITE]
    lang = lang or lang_of(request)
    session = request.get(SESSION)
    gettext = site.catalogues.get(lang).gettext
    return {"_": gettext, "label": partial(label, gettext), "coded": partial(coded, gettext),
            "listing": partial(listing, gettext), "codes": codes,
            "lang": lang, "dir": site.catalogues.direction(lang),
            "languages": LANGUAGES, "session": session, "csrf": session.csrf if session else "",
            "title": site.title}


def render_text(request: web.Request, template: str, lang: str | None = None, **context: Any) -> str:
    """``template`` rendered with ``template_context`` plus ``context``."""
    env = request.app[TEMPLATES]
    return env.get_template(template).render(**template_context(request, lang), **context)


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    """A page: ``template`` rendered as ``render_text`` does, as an HTML response."""
    return web.Response(text=render_text(request, template, **context), status=status,
                        content_type="text/html", charset="utf-8")


def see_other(location: str) -> web.HTTPSeeOther:
    """The redirect after a successful POST (the browser then GETs ``location``)."""
    return web.HTTPSeeOther(location)


def translate(request: web.Request, msgid: str, **args: Any) -> str:
    """``msgid`` (English) in the request's language (``lang_of``), its ``%(name)s`` fields filled from ``args``."""
    text = request.app[SITE].catalogues.get(lang_of(request)).gettext(msgid)
    return text % args if args else text


def done(request: web.Request, msgid: str, location: str, **args: Any) -> web.HTTPSeeOther:
    """The redirect after a successful action, with ``msgid`` (filled from ``args``) translated as the notice the
    next page shows once."""
    session_of(request).notice = ("ok", translate(request, msgid, **args))
    return see_other(location)


class Refusal(ValueError):
    """An action refused for what was asked: ``message`` is an English msgid whose ``%(name)s`` fields ``args``
    fill in, shown translated by ``refusal_text``; ``str()`` is the English text (logs, tests)."""

    def __init__(self, message: str, **args: Any) -> None:
        super().__init__(message % args if args else message)
        self.message, self.args_ = message, args


def refusal_text(request: web.Request, exc: Exception) -> str:
    """What the page says of a refused action: a ``Refusal`` in the request's language, anything else as it is."""
    return translate(request, exc.message, **exc.args_) if isinstance(exc, Refusal) else str(exc)


def _add_headers(response: web.StreamResponse, path: str, secure: bool) -> None:
    """The security headers every response carries (see the module docstring); a page's own win."""
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")  # "no-referrer" makes Chromium send Origin: null
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if not path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
    if secure:
        h.setdefault("Strict-Transport-Security", "max-age=31536000")


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every response of a routed request as it is sent: pages, streams, files, errors the handlers or the router
    raise, and the server's own 500 for a handler that failed."""
    _add_headers(response, request.path, request.app[SITE].secure)


SECURE: web.RequestKey[bool] = web.RequestKey("secure", bool)


class _Request(web.Request):
    """A request whose error page gets the security headers also when the HTTP parser refused it (400 for a
    malformed request line or an over-long header): such a request is never routed, so ``on_response_prepare``
    is not sent for it. ``_prepare_hook`` is aiohttp's (3.14) one call before any response's head is written;
    ``test_every_error_page_carries_the_security_headers`` fails if that ever changes."""

    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        if self._match_info is None:
            _add_headers(response, "/", self.get(SECURE, False))
        await super()._prepare_hook(response)


@web.middleware
async def _host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only the host names the site answers to (``HOSTS``; none before a ``WebServer`` serves it)."""
    host = request.headers.get("Host")
    if host is None:
        raise web.HTTPBadRequest(text="no Host header")
    if not is_accepted(host, request.app.get(HOSTS, frozenset())):
        logger.warning("refused a request for another host name", extra={"fields": {"host": host[:64]}})
        raise web.HTTPMisdirectedRequest(text="this server does not answer to that host name")
    return await handler(request)


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions for every path but the public ones; CSRF and same-origin for every POST."""
    site = request.app[SITE]
    token = request.cookies.get(_cookie_name(site))
    # A live stream keeps a page up to date, and its script asking whether the session lives is no activity
    # either: neither keeps an idle user signed in.
    passive = request.path in site.passive_paths or request.path == SESSION_PROBE
    session = live_session(site, token, touch=not passive)
    if session is not None:
        request[SESSION] = session
    public = request.path.startswith(PUBLIC_PREFIXES)
    if session is None and not public:
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther("/login")
        raise web.HTTPUnauthorized(text="sign in first")
    if request.method == "POST":
        origin = request.headers.get("Origin")
        if origin is not None and origin != (site.front or f"{request.scheme}://{request.host}"):
            logger.warning("refused a cross-origin POST", extra={"fields": {"path": request.path}})
            raise web.HTTPForbidden(text="cross-origin request refused")
        form = await _read_form(request)  # every POST, signed in or not: handlers then get it from the cache
        if session is not None:
            sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
            if not Sessions.check_csrf(session, sent if isinstance(sent, str) else None):
                logger.warning("refused a POST without the session's CSRF token",
                               extra={"fields": {"path": request.path, "user": session.user}})
                raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
    return await handler(request)


async def _read_form(request: web.Request) -> Any:
    """The POST's form, read within ``BODY_S`` (a body sent slowly on purpose gets 408 and a closed connection);
    a form that is not UTF-8 or holds a NUL character gets 400 (no page of ours posts one; PostgreSQL's text cannot
    hold it, so the centre's store would fail on it: a 500, a refused sign-in unaudited)."""
    try:
        async with asyncio.timeout(BODY_S):
            form = await request.post()
        if any("\x00" in key or (isinstance(value, str) and "\x00" in value) for key, value in form.items()):
            raise web.HTTPBadRequest(text="the form holds a NUL character")
        return form
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="the form is not UTF-8") from None
    except TimeoutError:
        logger.warning("refused a POST whose body came too slowly", extra={"fields": {"path": request.path}})
        refusal = web.HTTPRequestTimeout(text="request body too slow")
        refusal.force_close()
        raise refusal from None


def _cookie_name(site: WebSite) -> str:
    return f"__Host-{COOKIE}" if site.secure else COOKIE


async def _login_page(request: web.Request) -> web.StreamResponse:
    if request.get(SESSION) is not None:
        raise web.HTTPSeeOther(request.app[SITE].home)
    ended = translate(request, "Your session has ended: sign in again.") if ENDED_QUERY in request.query else None
    return render(request, "login.html", error=None, ended=ended)


async def _session_probe(request: web.Request) -> web.StreamResponse:
    """The guard let the request through, so the session lives (see the module docstring)."""
    return web.Response(status=204)


async def _login(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    form = await request.post()
    name, password = str(form.get("user", "")).strip(), str(form.get("password", ""))
    client = request_client(request.remote, request.headers.get(FORWARDED_FOR), bool(site.front))
    _ = site.catalogues.get(lang_of(request)).gettext
    sign_ins = request.app[SIGN_INS]
    if sign_ins.by_client[client] >= SIGN_INS_PER_CLIENT:
        logger.warning("sign-in refused: this client's sign-ins are being checked",
                       extra={"fields": {"user": name[:32], "client": client}})
        return _refused(request, 429, _("A sign-in from this device is still being checked: wait for its answer."))
    if sign_ins.pending >= SIGN_IN_THREADS + SIGN_IN_QUEUE:
        logger.warning("sign-in refused: too many at once", extra={"fields": {"user": name[:32]}})
        return _refused(request, 503, _("Too many sign-ins at once: try again shortly."))
    sign_ins.pending += 1
    sign_ins.by_client[client] += 1
    try:
        # Argon2id takes a noticeable fraction of a second: never on the loop, nor on the actions' threads.
        account = await asyncio.get_running_loop().run_in_executor(
            sign_ins.executor, site.accounts.authenticate, name, password, client)
    except SignInError as exc:
        logger.warning("sign-in refused", extra={"fields": {"user": name[:32], "reason": exc.reason, "client": client}})
        if (fields := sign_ins.refusals.fields(exc.reason)) is not None:
            _audit(site, name[:32], "sign_in_refused", fields)
        return _sign_in_refused(request, exc, _)
    finally:
        sign_ins.pending -= 1
        sign_ins.by_client[client] -= 1
        if not sign_ins.by_client[client]:
            del sign_ins.by_client[client]
    site.sessions.drop(request.cookies.get(_cookie_name(site)))
    session = site.sessions.create(account.name, account.role, lang_of(request))
    session.standing = site.accounts.standing(account.name) or ""
    logger.info("signed in", extra={"fields": {"user": account.name, "role": account.role}})
    _audit(site, account.name, "sign_in", {"role": account.role})
    response = web.HTTPSeeOther(site.home)
    response.set_cookie(_cookie_name(site), session.token, httponly=True, samesite="Strict", secure=site.secure,
                        path="/")
    raise response


def _sign_in_refused(request: web.Request, exc: SignInError, _: Callable[[str], str]) -> web.Response:
    """The sign-in page for a refusal: one answer for an unknown name and a wrong password (docs/screen.md: the page
    must not tell whether a name has an account), saying how lock-out works with the policy's numbers; for a lock
    (which an unknown name gets as a known one does), how long to wait."""
    policy = request.app[SITE].accounts.policy
    minutes = max(1, math.ceil(exc.retry_after / 60))
    if exc.reason == "locked":
        error = _("Too many wrong passwords for this name from this device: try again in %(minutes)d min. Other "
                  "devices can still sign in under it.") % {"minutes": minutes}
    elif exc.reason == "throttled":
        error = _("Too many wrong passwords from this device: no sign-in from it for %(minutes)d min.") % {
            "minutes": minutes}
    else:
        return _refused(request, 401, _(
            "Wrong name or password: %(failures)d wrong passwords in a row for one name lock this device out of it "
            "for %(minutes)d minutes.") % {"failures": policy.max_failures,
                                          "minutes": max(1, round(policy.lockout_s / 60))})
    return _refused(request, 429, error, retry_after=exc.retry_after)


def _refused(request: web.Request, status: int, error: str, retry_after: float = 0.0) -> web.Response:
    """The sign-in page again with ``error``; ``Retry-After`` when a lock says how long."""
    response = render(request, "login.html", status=status, error=error, ended=None)
    if retry_after:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    return response


def _audit(site: WebSite, user: str, action: str, fields: dict[str, Any]) -> None:
    if site.audit is not None:
        site.audit(user, action, fields)


async def _logout(request: web.Request) -> web.StreamResponse:
    site = request.app[SITE]
    session = session_of(request)
    site.sessions.drop(session.token)
    logger.info("signed out", extra={"fields": {"user": session.user}})
    _audit(site, session.user, "sign_out", {})
    response = web.HTTPSeeOther("/login")
    response.del_cookie(_cookie_name(site), path="/")
    raise response


async def _set_lang(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    lang = str(form.get("lang", ""))
    if lang not in LANGUAGES:
        raise web.HTTPBadRequest(text=f"language {lang[:8]!r}: expected one of {', '.join(LANGUAGES)}")
    session = request.get(SESSION)
    if session is not None:
        session.lang = lang
    response = web.HTTPSeeOther(request.app[SITE].home if session is not None else "/login")
    response.set_cookie(LANG_COOKIE, lang, samesite="Strict", secure=request.app[SITE].secure, path="/",
                        max_age=365 * 86400)
    raise response


class WebServer:
    """Runs one aiohttp application on its own thread and event loop, beside the gate's other threads.

    ``start`` returns once the socket is bound (``port`` is then the real port, also when 0 was asked)
    and raises ``OSError`` when it cannot bind; ``stop`` closes every connection and joins the thread.
    It accepts each connection itself, so that ``limits`` are held before any byte is read or TLS handshake made:
    a client over its share (or any, the server full) is reset at once and the others are served. Behind a TLS
    front (``WebSite.front``) a loopback peer is the front and is held to the total only (``agent.web.clients``).
    """

    def __init__(self, app: web.Application, host: str, port: int, *,
                 ssl_context: ssl.SSLContext | None = None, hub: Hub | None = None,
                 limits: ConnectionLimits | None = None) -> None:
        self.app, self.host, self.port = app, host, port
        self.limits = limits or ConnectionLimits()
        self._refused, self._refused_logged = 0, -math.inf
        app[HOSTS] = accepted_hosts(host, app[SITE].names)
        self.ssl_context = ssl_context
        self.hub = hub if hub is not None else app[SITE].hub
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """Where the pages are served, e.g. ``https://10.0.0.5:8443``."""
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Serve in a new thread; raises ``OSError`` when the address cannot be bound within ``timeout``."""
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise OSError(f"web server on {self.host}:{self.port} did not start within {timeout:g} s")
        if self._error is not None:
            raise OSError(f"web server cannot listen on {self.host}:{self.port}: {self._error}") from self._error

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # this thread's loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start(); the gate screens on without its screen
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                logger.exception("web server failed")
        finally:
            # Live streams still open when the server stops: cancel them and let them finish before closing.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.hub.attach(asyncio.get_running_loop())
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                               keepalive_timeout=REQUEST_HEAD_S)
        await runner.setup()
        assert runner.server is not None
        runner.server.request_factory = self._make_request  # before the first connection: each takes it as it opens
        listeners: list[socket.socket] = []
        accepting: list[asyncio.Task[None]] = []
        try:
            listeners = _listen(self.host, self.port)
            self.port = listeners[0].getsockname()[1]
            accepting = [asyncio.create_task(self._accept(sock, runner.server)) for sock in listeners]
            logger.info("web server listening", extra={"fields": {"url": self.url}})
            self._ready.set()
            await self._stop.wait()
        finally:
            for task in accepting:
                task.cancel()
            await asyncio.gather(*accepting, return_exceptions=True)
            for sock in listeners:
                sock.close()
            await runner.cleanup()

    async def _accept(self, listener: socket.socket, server: web.Server) -> None:
        """Accept connections on ``listener`` for as long as the server runs, each within ``limits``."""
        loop = asyncio.get_running_loop()
        opening: set[asyncio.Task[None]] = set()  # held until open: the loop keeps only weak references to tasks
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors (EMFILE) or a connection gone before it was accepted
                logger.warning("web server: cannot accept a connection", extra={"fields": {"error": str(exc)}})
                await asyncio.sleep(1.0)  # as asyncio's own server does after EMFILE: let connections end meanwhile
                continue
            peer = address[0] if isinstance(address, tuple) else ""
            client = client_id(peer)
            if not self.limits.admit(client, exempt=bool(self.app[SITE].front) and is_loopback(peer)):
                self._refuse(conn, client, loop.time())
                continue
            task = asyncio.create_task(self._open(conn, client, server))
            opening.add(task)
            task.add_done_callback(opening.discard)

    async def _open(self, conn: socket.socket, client: str, server: web.Server) -> None:
        """Serve the accepted ``conn`` (its TLS handshake first, within ``REQUEST_HEAD_S``); ``client``'s place is
        released when the connection ends or the handshake fails."""
        place = _Place(self.limits, client)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: _Counted(server(), place), conn, ssl=self.ssl_context,
                ssl_handshake_timeout=REQUEST_HEAD_S if self.ssl_context is not None else None)
        except Exception as exc:  # a failed or slow TLS handshake, a connection reset meanwhile: closed by asyncio
            logger.debug("web server: connection not opened", extra={"fields": {"error": str(exc)}})
            place.release()

    def _refuse(self, conn: socket.socket, client: str, now: float) -> None:
        """Reset ``conn`` at once (as the image's firewall does: ``reject with tcp reset``) and log it now and then."""
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        self._refused += 1
        if now - self._refused_logged >= REFUSED_LOGGED_S:
            logger.warning("web server: refused connections over a client's share or the server's", extra={
                "fields": {"client": client, "refused": self._refused, "per_client": self.limits.per_client,
                           "total": self.limits.total}})
            self._refused, self._refused_logged = 0, now

    def _make_request(self, message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.Request:
        """The application's own request, of the class that gives a refused request's error page the headers."""
        request = self.app._make_request(message, payload, protocol, writer, task, _cls=_Request)
        request[SECURE] = self.app[SITE].secure
        return request

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and join the thread; idempotent."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("web server thread did not stop", extra={"fields": {"timeout_s": timeout}})


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` names (one port for all, as asyncio binds them); raises
    ``OSError`` when it cannot bind."""
    listeners: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)):
            sock = socket.socket(family, kind, proto)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address if port or len(listeners) == 1 else (address[0], listeners[0].getsockname()[1],
                                                                    *address[2:]))
            sock.listen(128)
            sock.setblocking(False)
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    return listeners


class _Place:
    """One connection's place in ``ConnectionLimits``, released once."""

    def __init__(self, limits: ConnectionLimits, client: str) -> None:
        self._limits: ConnectionLimits | None = limits
        self._client = client

    def release(self) -> None:
        if self._limits is not None:
            self._limits.release(self._client)
            self._limits = None


class _Counted(asyncio.Protocol):
    """An aiohttp connection whose ``_Place`` is released when it ends; the rest is the handler's."""

    def __init__(self, handler: asyncio.Protocol, place: _Place) -> None:
        self._handler, self._place = handler, place

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._place.release()
        self._handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self._handler.eof_received()

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


def server_ssl_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context with ``cert_file``/``key_file`` (the device certificate); raises ``OSError``
    or ``ssl.SSLError`` (a ``ValueError`` is not raised) when they cannot be loaded."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_file), str(key_file))
    return ctx
