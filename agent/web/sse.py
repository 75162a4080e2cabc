"""Server-sent events: change notices from any thread, fanned out to every open stream on the server's loop.

    >>> hub = Hub()                          # built before the server; ``attach`` binds it to the loop
    >>> hub.publish("current")               # from the reader thread: "the current passage changed"
    >>> await stream(request, hub, render)   # in a handler: sends ``render(topic)`` for each notice

A notice carries only a topic name, never data: each stream renders what it shows itself, in its own
user's language and with what that user may see, when the notice arrives. Notices of the same topic that
pile up while a stream is busy collapse into one (a slow browser never makes the queue grow). A ``ping`` event
when the stream opens and every ``heartbeat_s`` after keeps proxies happy, lets the stream notice that its
session has ended (``render`` returns ``None`` to close it), and lets the page notice a stream that went silent
without closing (a half-open connection): its data is ``heartbeat_s``, and the page's script
(``static/live.js``) takes a stream silent for three of them as broken.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)

HEARTBEAT_S = 15.0


class Hub:
    """Topic notices from any thread to the streams open on one event loop; see the module docstring."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._queues: set[asyncio.Queue[str]] = set()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the hub to the server's loop (the web server does this when it starts)."""
        self._loop = loop

    def publish(self, topic: str) -> None:
        """Tell every open stream that ``topic`` changed; safe from any thread, never blocks, a no-op
        before the server runs or after it stopped."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._fan_out, topic)
        except RuntimeError:  # the loop closed between the check and the call
            pass

    def _fan_out(self, topic: str) -> None:
        with self._lock:
            queues = list(self._queues)
        for q in queues:
            if topic not in q._queue:  # type: ignore[attr-defined]  # collapse repeats of a topic still queued
                q.put_nowait(topic)

    def subscribe(self) -> asyncio.Queue[str]:
        """A new queue of topic notices (on the loop's thread); pair with ``unsubscribe``."""
        q: asyncio.Queue[str] = asyncio.Queue()
        with self._lock:
            self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str]) -> None:
        """Stop delivering to ``q``."""
        with self._lock:
            self._queues.discard(q)

    @property
    def streams(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._queues)


def frame(event: str, data: str) -> bytes:
    """One SSE message: ``event: NAME`` and ``data:`` lines (one per line of ``data``), then a blank line."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


async def stream(
    request: web.Request,
    hub: Hub,
    render: Callable[[str], Awaitable[str | None]],
    *,
    first: tuple[str, ...] = (),
    heartbeat_s: float = HEARTBEAT_S,
) -> web.StreamResponse:
    """Serve one SSE stream: ``render(topic)`` for each topic in ``first`` and then for every notice, sent as
    an event named after the topic; ``render`` returning None ends the stream (e.g. the session ended),
    after an ``end`` event the page acts on."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = hub.subscribe()
    for topic in first:
        queue.put_nowait(topic)
    try:
        ping = frame("ping", f"{heartbeat_s:g}")
        await response.write(b"retry: 1000\n\n" + ping)
        while True:
            try:
                topic = await asyncio.wait_for(queue.get(), heartbeat_s)
            except TimeoutError:
                topic = ""  # heartbeat: still signed in?
            body = await render(topic)
            if body is None:
                await response.write(frame("end", ""))
                break
            await response.write(frame(topic, body) if topic else ping)
    except ConnectionResetError:  # the browser went away
        pass
    finally:
        hub.unsubscribe(queue)
    return response
