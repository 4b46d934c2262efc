// Next best action panel (issue 15, item 4): one click applies a suggestion, and the answer is recorded so that the
// ranking learns (dismissing goes through the panel's own htmx form).
(function () {
  "use strict";

  function csrfToken(panel) {
    const input = panel.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  // Record "applied"; the server answers with the panel ranked again, swapped in place.
  function recordApplied(panel, key) {
    const body = new FormData();
    body.append("key", key);
    body.append("outcome", "accepted");
    return fetch(panel.dataset.feedbackUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(panel), "HX-Request": "true" },
    }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html || !panel.isConnected) return;
      const holder = document.createElement("div");
      holder.innerHTML = html;
      const fresh = holder.querySelector("#next-actions");
      if (!fresh) return;
      panel.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
    });
  }

  function insertIntoComposer(text) {
    const area = document.getElementById("reply-text");
    if (!(area instanceof HTMLTextAreaElement)) return false;
    const replyMode = document.querySelector('#composer input[name="mode"][value="reply"]');
    if (replyMode instanceof HTMLInputElement && !replyMode.checked) replyMode.click();
    const start = area.selectionStart ?? area.value.length;
    const end = area.selectionEnd ?? area.value.length;
    const before = area.value.slice(0, start);
    const glue = before && !/\s$/.test(before) ? " " : "";
    area.value = before + glue + text + area.value.slice(end);
    const caret = (before + glue + text).length;
    area.focus();
    area.setSelectionRange(caret, caret);
    area.dispatchEvent(new Event("input", { bubbles: true }));
    return true;
  }

  function openConversation(item) {
    const url = item.dataset.conversationUrl;
    const current = document.querySelector("[data-conversation-id]");
    const interaction = item.dataset.interactionId;
    if (interaction && current && url && url.indexOf("/conversations/" + current.dataset.conversationId + "/") >= 0) {
      const entry = document.getElementById("interaction-" + interaction);
      if (entry) {
        entry.setAttribute("tabindex", "-1");
        entry.scrollIntoView({ block: "center" });
        entry.focus();
        return;
      }
    }
    if (!url) return;
    if (window.htmx) {
      window.htmx.ajax("GET", url, { target: "#conversation", swap: "innerHTML" }).then(function () {
        history.pushState({}, "", url);
      });
    } else {
      window.location.assign(url);
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest("[data-apply]") : null;
    if (!button) return;
    const item = button.closest(".suggestion");
    const panel = button.closest("#next-actions");
    if (!item || !panel) return;
    const action = item.dataset.action;
    if (action === "callback") {
      // The form records the suggestion as applied when the callback is requested.
      const form = item.querySelector(".callback-form");
      if (form) {
        form.hidden = false;
        const first = form.querySelector("input:not([type=hidden])");
        if (first) first.focus();
      }
      return;
    }
    if (action === "insert") {
      const payload = item.querySelector("template.suggestion-payload");
      if (!insertIntoComposer(payload ? payload.content.textContent || payload.innerHTML : "")) return;
      recordApplied(panel, item.dataset.key);
      return;
    }
    if (action === "open") {
      recordApplied(panel, item.dataset.key).finally(function () { openConversation(item); });
    }
  });
})();
