// promogate admin: the budget burn chart, drawn by uPlot from the series the server computed
// (GET /v1/reports/campaigns/{id}/series, embedded in the page as JSON).
"use strict";
(function () {
  function draw() {
    var el = document.getElementById("burn");
    var data = document.getElementById("burn-data");
    if (!el || !data || typeof uPlot === "undefined") return;
    var s = JSON.parse(data.textContent);
    var limit = s.limits.redemptions;
    var series = [
      {},
      { label: "Redemptions used (cumulative)", stroke: "#1456c8", width: 2, scale: "used" },
      { label: "Redeemed per hour", stroke: "#17753a", width: 1, scale: "rate" },
      { label: "Refused per hour", stroke: "#b3261e", width: 1, scale: "rate" },
    ];
    var rows = [s.t, s.redemptions_used, s.succeeded, s.failed];
    if (limit) {
      series.push({ label: "Redemption limit", stroke: "#9a5b00", dash: [6, 4], width: 1, scale: "used" });
      rows.push(s.t.map(function () { return limit; }));
    }
    var width = Math.max(280, el.clientWidth);
    var opts = {
      width: width, height: 300, series: series,
      scales: { x: { time: true }, used: { range: function (u, lo, hi) { return [0, Math.max(1, hi, limit || 0) * 1.05]; } }, rate: {} },
      axes: [{}, { scale: "used", label: "cumulative" }, { scale: "rate", side: 1, label: "per hour", grid: { show: false } }],
    };
    el.textContent = "";
    var plot = new uPlot(opts, rows, el);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(280, el.clientWidth), height: 300 }); });
    el.dataset.drawn = "1";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
