// The live wallboard: the server pushes numbers only (`wallboard.updated`, at most once a second); the labels stay the
// ones this page was rendered with, in the supervisor's language.
(function () {
  "use strict";
  var main = document.querySelector("main.wallboard");
  if (!main) { return; }
  var status = document.getElementById("wallboard-status");
  var lastEventId = parseInt(main.dataset.lastEventId || "0", 10);
  var backoff = 500;
  var chart = null;

  function shown(value, format) {
    if (value === null || value === undefined) { return main.dataset.textNone; }
    if (format === "percent") { return Math.round(value * 100) + " %"; }
    if (format === "seconds") { return Math.round(value) + " s"; }
    return String(Math.round(value));
  }

  function fill(scope, values) {
    scope.querySelectorAll("[data-figure]").forEach(function (cell) {
      if (Object.prototype.hasOwnProperty.call(values, cell.dataset.figure)) {
        cell.textContent = shown(values[cell.dataset.figure], cell.dataset.format);
      }
    });
  }

  function alerts(list, names) {
    list.textContent = "";
    names.forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = name === "service_level" ? main.dataset.textAlertSl : main.dataset.textAlertWait;
      list.appendChild(item);
    });
  }

  function apply(data) {
    data.queues.forEach(function (q) {
      var tile = main.querySelector('[data-queue="' + q.id + '"]');
      if (!tile) { return; }
      fill(tile, q);
      alerts(tile.querySelector("[data-alerts]"), q.alerts);
    });
    main.querySelectorAll("[data-state]").forEach(function (cell) {
      cell.textContent = String(data.states[cell.dataset.state] || 0);
    });
    data.agents.forEach(function (a) {
      var row = main.querySelector('[data-agent="' + a.id + '"]');
      if (row) { fill(row, a); }
    });
    draw(data.intervals);
  }

  function draw(intervals) {
    var canvas = document.getElementById("wallboard-chart");
    if (!canvas || typeof window.Chart === "undefined") { return; }
    var labels = intervals.map(function (i) { return new Date(i.at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); });
    var volume = intervals.map(function (i) { return i.offered; });
    var sl = intervals.map(function (i) { return i.service_level === null ? null : Math.round(i.service_level * 1000) / 10; });
    if (chart) {
      chart.data.labels = labels; chart.data.datasets[0].data = volume; chart.data.datasets[1].data = sl; chart.update();
      return;
    }
    chart = new window.Chart(canvas, {
      data: { labels: labels, datasets: [
        { type: "bar", label: main.dataset.labelVolume, data: volume, yAxisID: "y" },
        { type: "line", label: main.dataset.labelSl, data: sl, yAxisID: "sl" }
      ] },
      options: { animation: false, scales: { y: { beginAtZero: true }, sl: { position: "right", min: 0, max: 100 } } }
    });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + main.dataset.wsUrl);
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ type: "hello", last_event_id: lastEventId }));
    });
    socket.addEventListener("message", function (message) {
      var frame = JSON.parse(message.data);
      if (typeof frame.id === "number") { lastEventId = Math.max(lastEventId, frame.id); }
      if (frame.type === "welcome") { status.textContent = main.dataset.textLive; status.classList.add("is-live"); backoff = 500; }
      else if (frame.type === "resync") { window.location.reload(); }
      else if (frame.type === "wallboard.updated") { apply(frame.data); }
    });
    socket.addEventListener("close", function () {
      status.textContent = main.dataset.textReconnecting;
      status.classList.remove("is-live");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  var button = document.getElementById("wallboard-fullscreen");
  button.addEventListener("click", function () {
    if (document.fullscreenElement) { document.exitFullscreen(); } else if (main.requestFullscreen) { main.requestFullscreen(); }
  });
  document.addEventListener("fullscreenchange", function () {
    button.setAttribute("aria-pressed", document.fullscreenElement ? "true" : "false");
    main.classList.toggle("is-fullscreen", Boolean(document.fullscreenElement));
  });

  var initial = document.getElementById("wallboard-intervals");
  if (initial) { window.addEventListener("load", function () { draw(JSON.parse(initial.textContent)); }); }
  connect();
})();
