// The keyboard-first desk (issue 15): single-key shortcuts, never while typing in a field; `?` shows them all.
(function () {
  "use strict";

  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    if (target.isContentEditable) return true;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    // Buttons-like inputs do not take text: a shortcut on a focused radio or checkbox is fine.
    return !["radio", "checkbox", "button", "submit", "reset"].includes(target.type);
  }

  function links() {
    return Array.from(document.querySelectorAll(".conversation-list .conversation-item:not([hidden]) > a"));
  }

  function move(step) {
    const all = links();
    if (!all.length) return;
    let index = all.findIndex(function (a) { return a.getAttribute("aria-current") === "page"; });
    index = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    all[index].focus();
    all[index].click();
  }

  function composer(mode) {
    const form = document.getElementById("composer");
    const text = document.getElementById("reply-text");
    if (!form || !text) return null;
    if (window.OmnideskDesk && window.OmnideskDesk.setMode) window.OmnideskDesk.setMode(form, mode);
    text.focus();
    return text;
  }

  function openMenu(name, selector) {
    const menu = document.querySelector('details[data-menu="' + name + '"]');
    if (!menu) return;
    menu.open = true;
    const field = menu.querySelector(selector) || menu.querySelector("input, select, button");
    if (field) field.focus();
  }

  function help() {
    const dialog = document.getElementById("shortcuts-help");
    if (dialog && !dialog.open) dialog.showModal();
  }

  const keys = {
    "j": function () { move(1); },
    "k": function () { move(-1); },
    "r": function () { composer("reply"); },
    "n": function () { composer("note"); },
    "e": function () {
      const button = document.querySelector(".resolve-form button[type=submit]");
      if (button) button.click();
    },
    "s": function () { openMenu("status", "#snoozed-until"); },
    "t": function () { openMenu("transfer", "select, input"); },
    "c": function () {
      const text = composer(document.getElementById("composer") ? document.getElementById("composer").dataset.mode || "reply" : "reply");
      if (!text) return;
      const at = text.selectionStart;
      const prefix = at === 0 || text.value[at - 1] === "\n" ? "/" : "\n/";
      text.setRangeText(prefix, at, text.selectionEnd, "end");
      text.dispatchEvent(new Event("input", { bubbles: true }));
    },
    "/": function () {
      const search = document.getElementById("list-search");
      if (search) search.focus();
    },
    "?": help,
  };

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    // Ctrl/Cmd+Enter in the composer sends with the button of the current mode (never the other one).
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target instanceof HTMLTextAreaElement && target.id === "reply-text") {
      event.preventDefault();
      const form = document.getElementById("composer");
      const button = form && form.querySelector(form.dataset.mode === "note" ? ".add-note" : ".send-reply");
      if (button && !button.disabled) button.click();
      return;
    }
    if (event.key === "Escape" && typing(target)) {
      const menu = target.closest("details[open]");
      if (menu) { menu.open = false; const summary = menu.querySelector("summary"); if (summary) summary.focus(); }
      else target.blur();
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(target)) return;
    if (document.querySelector("dialog[open]")) return;
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // Search: the search box belongs to the list filters form (static/desk/list-filters.js); the server searches names,
  // identities and message text as the agent types, and keeps live updates to what matches.
  document.addEventListener("keydown", function (event) {
    // Enter in the search opens the first match.
    if (event.key === "Enter" && event.target instanceof HTMLInputElement && event.target.id === "list-search") {
      event.preventDefault();
      const first = links()[0];
      if (first) { first.focus(); first.click(); }
    }
  });
  // Focus management: after a conversation is swapped in, focus lands on its timeline (announced, scrollable by
  // keyboard), unless the agent is typing somewhere; a list item re-rendered by a live update keeps the focus.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id !== "conversation") return;
    if (typing(document.activeElement)) return;
    const timeline = document.getElementById("timeline");
    if (timeline) timeline.focus({ preventScroll: true });
  });
  let focusedConversation = null;
  document.addEventListener("focusin", function (event) {
    const item = event.target instanceof HTMLElement ? event.target.closest(".conversation-item") : null;
    focusedConversation = item ? item.id : null;
  });
  new MutationObserver(function () {
    if (!focusedConversation || document.activeElement !== document.body) return;
    const item = document.getElementById(focusedConversation);
    const link = item && item.querySelector("a");
    if (link) link.focus();
  }).observe(document.querySelector(".desk-side") || document.body, { childList: true, subtree: true });
})();
