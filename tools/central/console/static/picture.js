// The regional picture's charts (uPlot, vendored beside this file): the page carries its figures as JSON in
// <script type="application/json" id="picture-data">, and the words of the axes and legends, in the operator's
// language, as data- attributes of <div class="charts"> (data-searches, data-hits, data-day, data-hour, data-site);
// each chart is drawn into its <div class="chart">. Once drawn, a chart's div gets data-drawn="N" (N points),
// which the browser test checks.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("picture-data").textContent);
  var words = document.querySelector(".charts").dataset;
  var bars = uPlot.paths.bars({ size: [0.6, 60] });
  function draw(id, rows, key, label) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var xs = rows.map(function (_r, i) { return i; });
    var names = rows.map(function (r) { return String(r[key]); });
    var opts = {
      width: Math.max(320, el.clientWidth || 560), height: 220,
      scales: { x: { time: false }, hits: { auto: true } },
      axes: [
        { values: function (_u, ticks) { return ticks.map(function (t) { return names[t] !== undefined ? names[t] : ""; }); } },
        { label: words.searches },
        { scale: "hits", side: 1, label: words.hits, grid: { show: false } }
      ],
      series: [
        { label: label, value: function (_u, v) { return v === null ? "" : names[v]; } },
        { label: words.searches, stroke: "#1d5fa8", fill: "rgba(29,95,168,0.25)", paths: bars },
        { label: words.hits, scale: "hits", stroke: "#c0161b", width: 2, points: { show: true } }
      ]
    };
    new uPlot(opts, [xs, rows.map(function (r) { return r.searches; }), rows.map(function (r) { return r.hits; })], el);
    el.setAttribute("data-drawn", String(rows.length));
  }
  draw("chart-day", data.per_day, "day", words.day);
  draw("chart-hour", data.per_hour, "hour", words.hour);
  draw("chart-site", data.per_site, "site", words.site);
}());
