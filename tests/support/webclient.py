"""A cookie-keeping HTTP client that does not follow redirects, for the web pages' HTTP-level tests (the
officer's screen and the operators' console)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


class Client:
    """Requests against ``base`` with one cookie jar; an HTTP error is returned, not raised."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

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
