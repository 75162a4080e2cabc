"""A cookie-keeping HTTP client that does not follow redirects, for the web pages' HTTP-level tests (the
officer's screen and the operators' console)."""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


class FromAddress(urllib.request.HTTPHandler):
    """Plain HTTP from ``source``, a local address (127.0.0.2...: another client of a server on loopback)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(lambda *a, **kw: http.client.HTTPConnection(*a, **kw, source_address=(self.source, 0)),
                            req)


class Client:
    """Requests against ``base`` with one cookie jar, from ``source`` when given (plain HTTP only); an HTTP error is
    returned, not raised."""

    def __init__(self, base: str, source: str | None = None) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers: list[Any] = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect]
        self.opener = urllib.request.build_opener(*handlers, *([FromAddress(source)] if source else []))

    def request(self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        try:
            return self.opener.open(req, timeout=10)
        except urllib.error.HTTPError as exc:
            return exc

    def sign_in(self, user: str, password: str) -> str:
        """Sign in; returns the session's CSRF token (read from the home page)."""
        r = self.request("/login", {"user": user, "password": password})
        assert r.status == 303, r.read()
        page = self.request("/").read().decode()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None, page[:400]
        return found.group(1)


def connection(url: str, source: str) -> http.client.HTTPConnection:
    """A kept-alive connection to the plain HTTP ``url`` from the local address ``source``, which has been answered
    once (``GET /login``): the server holds it as that client's."""
    address = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=10, source_address=(source, 0))
    conn.request("GET", "/login")
    with conn.getresponse() as r:
        assert r.status == 200, r.status
        r.read()
    return conn


def refused(url: str, source: str) -> bool:
    """True when a new connection from ``source`` to ``url`` is closed (reset) without an answer."""
    try:
        connection(url, source).close()
    except (ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


def assert_connections_held_to_a_share(url: str, per_client: int) -> None:
    """A client (127.0.0.2) holding ``per_client`` connections to the server at ``url`` (on loopback) has its next one
    refused at once, while another client (127.0.0.3) is served, and connects again once one of its own ended."""
    import time

    from tests.support.wait import wait_until

    held = [connection(url, "127.0.0.2") for _ in range(per_client)]
    try:
        started = time.monotonic()
        assert refused(url, "127.0.0.2"), f"a client was served a connection beyond its {per_client}"
        assert time.monotonic() - started < 2, "the refusal was not prompt"
        connection(url, "127.0.0.3").close()
        held.pop().close()
        assert wait_until(lambda: not refused(url, "127.0.0.2"), 5), "a connection ended but its place was not freed"
    finally:
        for conn in held:
            conn.close()


class BadGateway:
    """An HTTP server on loopback that answers every request ``502 Bad Gateway``, as a reverse proxy in front of
    a web server does while that server is out of its reach (point a ``NetProxy``'s ``upstream`` at ``address``).

        with BadGateway() as front:
            proxy.upstream, _ = front.address, proxy.cut()
    """

    def __init__(self) -> None:
        import http.server
        import threading

        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                front.paths.append(self.path)
                self.send_response(502)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b"bad gateway")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address: tuple[str, int] = self._server.server_address[:2]  # type: ignore[assignment]
        self.paths: list[str] = []  # of the requests answered, in order
        self._thread = threading.Thread(target=self._server.serve_forever, name="bad-gateway", daemon=True)

    def __enter__(self) -> BadGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
