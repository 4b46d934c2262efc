// Conversation list filters kept live (issue 15, item 7). Unfiltered, desk.js inserts live conversations itself.
// Filtered, only the server knows whether a conversation matches (intent, SLA, mentions, message text): an item that
// desk.js inserts is hidden at once, and the lists are fetched again with the filters, a little later, so that a
// burst of frames costs one request.
(function () {
  "use strict";
  const REFRESH_AFTER_MS = 250;
  const FRAMES = /^(message\.created|conversation\.|mention\.created)/;
  let timer = null;

  function form() { return document.getElementById("list-filters"); }

  function params() {
    const f = form();
    if (!f) return new URLSearchParams();
    const values = new URLSearchParams();
    new FormData(f).forEach(function (value, name) { if (String(value) !== "") values.append(name, String(value)); });
    return values;
  }

  // Anything other than the defaults (status open, every list, queue, channel and intent, no search) is a filter.
  function active() {
    let found = false;
    params().forEach(function (value, name) { if (!(name === "status" && value === "open")) found = true; });
    return found;
  }

  function markListed() {
    document.querySelectorAll(".lists .conversation-item").forEach(function (item) { item.dataset.listed = "1"; });
  }

  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(function () {
      const lists = document.querySelector(".desk-side .lists");
      if (!lists || !window.htmx) return;
      const query = params().toString();
      window.htmx.ajax("GET", "/desk/" + (query ? "?" + query : ""), { target: lists, swap: "innerHTML" });
    }, REFRESH_AFTER_MS);
  }

  document.addEventListener("omnidesk:frame", function (event) {
    const frame = event.detail || {};
    if (typeof frame.type === "string" && FRAMES.test(frame.type) && active()) refresh();
  });

  // desk.js's live insertions: hidden under filters until the server's answer replaces the lists.
  function watch() {
    const side = document.querySelector(".desk-side .lists");
    if (!side) return;
    new MutationObserver(function (records) {
      if (!active()) return;
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node instanceof HTMLElement && node.classList.contains("conversation-item") && !node.dataset.listed) {
            node.hidden = true;
          }
        });
      });
    }).observe(side, { childList: true, subtree: true });
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target instanceof Element && event.detail.target.matches(".desk-side .lists")) markListed();
  });
  document.addEventListener("DOMContentLoaded", function () { markListed(); watch(); });
})();
