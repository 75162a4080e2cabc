// Live updates for Sharaka Gate pages, written here (no library): one EventSource on the URL of
// <body data-stream="...">; an event named TOPIC replaces the contents of the element with id TOPIC
// with the HTML the server rendered (escaped server-side, in the user's language). "end" means the
// session is over: back to the sign-in page. The element with id "live" shows whether the stream is up.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-stream");
  if (!url || !window.EventSource) { return; }
  var live = document.getElementById("live");
  function state(up) {
    if (!live) { return; }
    live.classList.toggle("down", !up);
    live.textContent = live.getAttribute(up ? "data-up" : "data-down");
  }
  var source = new EventSource(url);
  source.onopen = function () { state(true); };
  source.onerror = function () { state(false); };
  source.addEventListener("end", function () { source.close(); window.location.assign("/login"); });
  var topics = (document.body.getAttribute("data-topics") || "").split(" ");
  topics.forEach(function (topic) {
    if (!topic) { return; }
    source.addEventListener(topic, function (ev) {
      var el = document.getElementById(topic);
      if (el) { el.innerHTML = ev.data; el.setAttribute("data-updated", String(Date.now())); }
    });
  });
}());
