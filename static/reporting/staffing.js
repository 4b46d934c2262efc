// The staffing chart: agents needed per 15-minute interval (bars) and agents logged in now (line); the table carries
// every figure, the chart is for the eye.
(function () {
  "use strict";
  var canvas = document.getElementById("staffing-chart");
  var source = document.getElementById("staffing-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: canvas.dataset.labelNeeded, data: data.needed },
        { type: "line", label: canvas.dataset.labelLoggedIn, data: data.logged_in, pointRadius: 0 }
      ]
    },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
