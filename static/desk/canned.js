// The composer's canned-response picker. Server data is only ever inserted with textContent.
(function () {
  "use strict";

  // desk.js, deferred before this file, shares its element builder.
  const el = window.OmnideskDesk.el;

  // Canned responses: "/word" at the start of a line of the composer searches them (rendered by the server for this
  // customer, in their language); arrows choose, Enter or Tab inserts, Escape closes.
  let cannedTimer = null;
  let cannedResults = [];
  let cannedActive = -1;
  function cannedQuery(text) {
    const caret = text.selectionStart;
    const before = text.value.slice(0, caret);
    const match = /(^|\n)\/([^\s\/]*)$/.exec(before);
    return match ? { query: match[2], start: caret - match[2].length - 1 } : null;
  }
  function closeCanned() {
    const list = document.getElementById("canned-results");
    if (list) { list.hidden = true; list.textContent = ""; }
    cannedResults = [];
    cannedActive = -1;
    const text = document.getElementById("reply-text");
    if (text) text.removeAttribute("aria-activedescendant");
  }
  function showCanned(results) {
    const list = document.getElementById("canned-results");
    if (!list) return;
    list.textContent = "";
    cannedResults = results;
    cannedActive = results.length ? 0 : -1;
    results.forEach(function (result, index) {
      const li = el("li", "canned-option");
      li.id = "canned-" + index;
      li.setAttribute("role", "option");
      li.append(el("strong", "", "/" + result.shortcut + " "), el("span", "", result.title), el("span", "canned-preview", result.text));
      li.addEventListener("mousedown", function (event) { event.preventDefault(); insertCanned(index); });
      list.append(li);
    });
    list.hidden = !results.length;
    markCanned();
  }
  function markCanned() {
    const text = document.getElementById("reply-text");
    document.querySelectorAll(".canned-option").forEach(function (option, index) {
      option.setAttribute("aria-selected", index === cannedActive ? "true" : "false");
    });
    if (text && cannedActive >= 0) text.setAttribute("aria-activedescendant", "canned-" + cannedActive);
  }
  function insertCanned(index) {
    const text = document.getElementById("reply-text");
    const result = cannedResults[index];
    const found = text ? cannedQuery(text) : null;
    if (!text || !result || !found) { closeCanned(); return; }
    const end = text.selectionStart;
    text.value = text.value.slice(0, found.start) + result.text + text.value.slice(end);
    const caret = found.start + result.text.length;
    text.setSelectionRange(caret, caret);
    closeCanned();
    text.focus();
  }
  document.addEventListener("input", function (event) {
    const text = event.target;
    if (!(text instanceof HTMLTextAreaElement) || text.id !== "reply-text") return;
    const found = cannedQuery(text);
    clearTimeout(cannedTimer);
    if (!found) { closeCanned(); return; }
    cannedTimer = setTimeout(function () {
      fetch(text.dataset.cannedUrl + "?q=" + encodeURIComponent(found.query), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) { if (cannedQuery(text)) showCanned(data.results || []); });
    }, 150);
  });
  document.addEventListener("keydown", function (event) {
    const text = event.target;
    if (!(text instanceof HTMLTextAreaElement) || text.id !== "reply-text" || !cannedResults.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      cannedActive = (cannedActive + step + cannedResults.length) % cannedResults.length;
      markCanned();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned(cannedActive);
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeCanned();
    }
  });
})();
