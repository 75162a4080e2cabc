"""The web foundation of Sharaka Gate's pages: the officer's screen at a gate (agent/screen/) and the
operators' console at the centre build on it, so that sign-in, sessions, CSRF, live updates and
languages are written once.

- ``accounts``: per-user accounts, Argon2id hashes, lock-out (a 0600 SQLite file);
- ``sessions``: signed-in sessions with idle and absolute timeouts, per-session CSRF tokens;
- ``sse``: server-sent events fed from any thread;
- ``hosts``: the host names a site answers to (the ``Host`` check against DNS rebinding);
- ``i18n``: gettext catalogues (Arabic, French, English; right to left for Arabic);
- ``server``: the aiohttp application factory (guards, headers, sign-in pages) and the server thread.

See docs/screen.md for what each enforces and the tests that prove it.
"""
