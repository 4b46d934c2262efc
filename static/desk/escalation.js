// "Escalated" badges on the desk: the cases escalated when the page was rendered (#escalation-state), then every
// `conversation.escalated` frame that desk.js re-dispatches as an `omnidesk:frame` DOM event. desk.js rebuilds a list
// item on each conversation frame and htmx swaps whole lists, so the badges are re-applied after both.
(function () {
  "use strict";
  var state = document.getElementById("escalation-state");
  if (!state) return;
  var label = state.dataset.textEscalated;
  var escalated = new Set((state.dataset.escalated || "").split(/\s+/).filter(Boolean).map(Number));

  function badge() {
    var span = document.createElement("span");
    span.className = "badge escalated";
    span.dataset.escalationBadge = "";
    span.textContent = label;
    return span;
  }

  function mark() {
    escalated.forEach(function (id) {
      var item = document.getElementById("conv-" + id);
      // Inside the link, so that the link's accessible name says the case is escalated.
      var link = item && (item.querySelector("a") || item);
      if (link && !link.querySelector("[data-escalation-badge]")) link.append(" ", badge());
    });
    var view = document.querySelector("[data-conversation-id].conversation-view");
    if (!view || !escalated.has(Number(view.dataset.conversationId))) return;
    var header = view.querySelector("header") || view;
    if (!header.querySelector("[data-escalation-badge]")) header.append(badge());
  }

  document.addEventListener("omnidesk:frame", function (event) {
    var frame = event.detail;
    if (frame && frame.type === "conversation.escalated" && frame.data && frame.data.conversation) {
      escalated.add(Number(frame.data.conversation.id));
    }
    mark();
  });
  document.body.addEventListener("htmx:afterSwap", mark);
  mark();
})();
