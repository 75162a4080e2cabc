// Live updates for Sharaka Gate pages, written here (no library): one EventSource on the URL of
// <body data-stream="...">; an event named TOPIC replaces the contents of the element with id TOPIC
// with the HTML the server rendered (escaped server-side, in the user's language). The element with id
// "live" shows whether the stream is up, and <body> has the class "stream-down" once it failed and until it is
// up again (what the page shows may then be old: the officer's screen says so over its decision).
//
// The session ending is noticed whether or not the stream is up. Up: the stream sends "end". Down: the
// browser retries by itself after a network error, but gives up for good (readyState CLOSED) on an HTTP
// error such as the 401 of an ended session; the page then asks GET /session (agent/web/server.py; not
// activity, so asking never keeps an idle officer signed in): 401 is the sign-in page with "session ended",
// 204 a new stream, no answer (server or network down) another try later, backing off to RETRY_MAX_MS.
// A stream that goes silent without closing (a half-open connection) is taken as broken after three of
// its heartbeats (the "ping" event, whose data is the heartbeat in seconds) without a word, and replaced.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-stream");
  if (!url || !window.EventSource) { return; }
  var SESSION = "/session", ENDED = "/login?ended=1", RETRY_MS = 1000, RETRY_MAX_MS = 15000;
  var SILENT_BEATS = 3, PROBE_TIMEOUT_MS = 10000;
  var live = document.getElementById("live");
  var topics = (document.body.getAttribute("data-topics") || "").split(" ").filter(Boolean);
  var source = null, retryMs = RETRY_MS, checking = false, beatMs = 15000, watchdog = 0;

  function state(up) {  // <body class="stream-down">: the page's CSS marks what it shows as not current
    document.body.classList.toggle("stream-down", !up);
    if (!live) { return; }
    live.classList.toggle("down", !up);
    live.textContent = live.getAttribute(up ? "data-up" : "data-down");
  }

  function ended() {
    window.clearTimeout(watchdog);
    if (source) { source.close(); }
    window.location.assign(ENDED);
  }

  function heard() {  // the stream (or its opening) said something: it is alive for SILENT_BEATS more beats
    window.clearTimeout(watchdog);
    watchdog = window.setTimeout(function () { source.close(); state(false); check(); }, beatMs * SILENT_BEATS);
  }

  function connect() {
    source = new EventSource(url);
    heard();
    source.onopen = function () { retryMs = RETRY_MS; heard(); state(true); };
    source.onerror = function () {
      state(false);
      if (source.readyState === EventSource.CLOSED) { window.clearTimeout(watchdog); check(); }
    };  // else the browser is retrying by itself (the watchdog still runs)
    source.addEventListener("end", ended);
    source.addEventListener("ping", function (ev) {
      var seconds = parseFloat(ev.data);
      if (seconds > 0) { beatMs = seconds * 1000; }
      heard();
    });
    topics.forEach(function (topic) {
      source.addEventListener(topic, function (ev) {
        heard();
        var el = document.getElementById(topic);
        if (el) { el.innerHTML = ev.data; el.setAttribute("data-updated", String(Date.now())); }
      });
    });
  }

  function check() {
    if (checking) { return; }
    checking = true;
    var wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    window.setTimeout(function () {
      var abort = new AbortController();
      var timer = window.setTimeout(function () { abort.abort(); }, PROBE_TIMEOUT_MS);
      fetch(SESSION, { credentials: "same-origin", cache: "no-store", redirect: "manual", signal: abort.signal })
        .then(function (r) {
          window.clearTimeout(timer);
          checking = false;
          if (r.status === 401) { ended(); } else if (r.ok) { connect(); } else { check(); }
        }, function () { window.clearTimeout(timer); checking = false; check(); });
    }, wait);
  }

  connect();
}());
