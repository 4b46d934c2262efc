// The supervisors' queue view: the server pushes the rendered figures (`queue.stats_changed`); swap them in.
(function () {
  "use strict";
  var main = document.querySelector("main.supervisor");
  var region = document.getElementById("stats");
  var status = document.getElementById("supervisor-status");
  var lastEventId = parseInt(main.dataset.lastEventId || "0", 10);
  var backoff = 500;

  // An SLA escalation (`conversation.escalated`): the "Escalated" badge on the case's row of the open conversations.
  function markEscalated(conversationId) {
    var row = document.querySelector('tr[data-conversation="' + conversationId + '"]');
    var cell = row && row.querySelector("th");
    if (!cell || cell.querySelector("[data-escalation-badge]")) return;
    var badge = document.createElement("span");
    badge.className = "badge escalated";
    badge.dataset.escalationBadge = "";
    badge.textContent = main.dataset.textEscalated;
    cell.append(" ", badge);
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
      else if (frame.type === "queue.stats_changed") { region.innerHTML = frame.data.html; }
      else if (frame.type === "conversation.escalated") { markEscalated(frame.data.conversation.id); }
    });
    socket.addEventListener("close", function () {
      status.textContent = main.dataset.textReconnecting;
      status.classList.remove("is-live");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    });
  }
  connect();
})();
