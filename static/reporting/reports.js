// The report's chart: offered contacts (bars) and service level in % (line), one point per row of the table.
(function () {
  "use strict";
  var canvas = document.getElementById("report-chart");
  var source = document.getElementById("report-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: canvas.dataset.labelOffered, data: data.offered, yAxisID: "y" },
        {
          type: "line", label: canvas.dataset.labelSl, yAxisID: "sl",
          data: data.service_level.map(function (v) { return v === null ? null : Math.round(v * 1000) / 10; })
        }
      ]
    },
    options: { animation: false, scales: { y: { beginAtZero: true }, sl: { position: "right", min: 0, max: 100 } } }
  });
})();
