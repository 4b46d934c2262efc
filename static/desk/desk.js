// The desk's live updates: one websocket, frames applied to the lists and the open conversation.
// Server data is only ever inserted with textContent.
(function () {
  "use strict";
  const body = document.body;
  const me = Number(body.dataset.userId);
  let lastEventId = Number(body.dataset.lastEventId || 0);
  let socket = null;
  let backoff = 500;

  function status(text) {
    const el = document.getElementById("live-status");
    if (el) el.textContent = text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A list item's moment in the page's language, written the same way whether the server rendered the item or it
  // arrived live (the server's text stays for a browser without this script).
  function localWhen(node) {
    const at = new Date(node.getAttribute("datetime"));
    if (!isNaN(at)) node.textContent = at.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "short", timeStyle: "short" });
    return node;
  }

  function localListTimes(root) {
    (root || document).querySelectorAll(".conversation-item time.when").forEach(localWhen);
  }

  function listItem(c) {
    const li = el("li", "conversation-item");
    li.id = "conv-" + c.id;
    li.dataset.conversationId = c.id;
    const a = el("a");
    const url = "/desk/conversations/" + c.id + "/";
    a.href = url;
    a.setAttribute("hx-get", url);
    a.setAttribute("hx-target", "#conversation");
    a.setAttribute("hx-push-url", "true");
    a.append(el("span", "customer", c.customer), el("span", "channel", c.channel));
    if (c.preview) a.append(el("span", "preview", c.preview));
    if (c.last_message_at) {
      const when = el("time", "when");
      when.setAttribute("datetime", c.last_message_at);
      a.append(localWhen(when));
    }
    li.append(a);
    return li;
  }

  function setEmpty(list) {
    const items = list.querySelectorAll(".conversation-item");
    const empty = list.querySelector(".empty");
    if (items.length && empty) empty.remove();
    if (!items.length && !empty) list.append(el("li", "empty", list.dataset.emptyText || body.dataset.textEmpty));
    const count = list.parentElement && list.parentElement.querySelector("h2 .count");
    if (count) count.textContent = String(items.length);
  }

  function upsertConversation(c) {
    const old = document.getElementById("conv-" + c.id);
    if (old) old.remove();
    let target = null;
    if (c.status === "open" && c.assignee_id === me) target = document.getElementById("list-mine");
    else if (c.status === "open" && c.assignee_id === null) target = document.getElementById("list-queue");
    if (target) {
      const item = listItem(c);
      if (target.id === "list-mine") target.prepend(item); else target.append(item);
      if (window.htmx) window.htmx.process(item);
    }
    markCurrent();
    document.querySelectorAll(".conversation-list").forEach(setEmpty);
  }

  function appendMessage(data) {
    const view = document.querySelector("[data-conversation-id].conversation-view");
    const timeline = document.getElementById("timeline");
    if (!view || !timeline) return;
    if (Number(view.dataset.conversationId) !== data.conversation_id) return;
    const m = data.message;
    if (document.getElementById("interaction-" + m.id)) return;
    const li = el("li", "item " + m.direction + " " + m.kind);
    li.id = "interaction-" + m.id;
    li.dataset.interactionId = m.id;
    const meta = el("div", "meta");
    const time = el("time", null, new Date(m.at).toLocaleString());
    time.setAttribute("datetime", m.at);
    // The entry's own channel, not the case's: one case spans channels.
    meta.append(el("span", "author", m.author), " · ", el("span", "channel", m.channel_label || data.conversation.channel));
    if (m.kind === "note") meta.append(" · ", el("span", "kind", body.dataset.textNote));
    meta.append(" · ", time);
    li.append(meta, el("p", "text", m.text));
    timeline.append(li);
    li.scrollIntoView({ block: "end" });
  }

  const handlers = {
    "welcome": function () { status(body.dataset.textLive); backoff = 500; heartbeat(); },
    "resync": function () { window.location.reload(); },
    "message.created": function (frame) {
      upsertConversation(frame.data.conversation);
      noticeCollision(frame.data);
      appendMessage(frame.data);
    },
    "conversation.queued": function (frame) { upsertConversation(frame.data.conversation); },
    "conversation.assigned": function (frame) { upsertConversation(frame.data.conversation); },
    "conversation.resolved": function (frame) { upsertConversation(frame.data.conversation); },
    "conversation.status_changed": function (frame) { upsertConversation(frame.data.conversation); },
    "conversation.sla_warning": function (frame) { markSla(frame.data.conversation.id, "at-risk"); },
    "conversation.sla_breached": function (frame) { markSla(frame.data.conversation.id, "breached"); },
    "message.status_changed": function (frame) { showDelivery(frame.data); },
    "offer.created": function (frame) { addOffer(frame.data); },
    "offer.withdrawn": function (frame) { removeOffer(frame.data.offer_id); },
    "mention.created": function (frame) { addMention(frame.data); },
    "agent.presence_changed": function (frame) {
      document.querySelectorAll('#presence input[name="presence"]').forEach(function (radio) {
        radio.checked = radio.value === frame.data.presence;
      });
    },
    "presence.viewers": function (frame) { showViewers(frame.data); },
    "presence.typing": function (frame) { showTyping(frame.data); },
  };

  // ---- Typing and collision (ephemeral frames: never stored, never replayed) ----
  function openConversationId() {
    const view = document.querySelector("[data-conversation-id].conversation-view");
    return view ? Number(view.dataset.conversationId) : null;
  }
  function sendFrame(frame) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
  }
  function composing() {
    const text = document.getElementById("reply-text");
    return !!(text && text.value.trim());
  }
  let viewingSent = null;
  function heartbeat() {
    const id = openConversationId();
    if (id === null) { viewingSent = null; return; }
    viewingSent = id + ":" + composing();
    sendFrame({ type: "viewing", conversation_id: id, composing: composing() });
  }
  setInterval(heartbeat, 10000);
  function showViewers(data) {
    const box = document.getElementById("viewers");
    if (!box || data.conversation_id !== openConversationId()) return;
    box.textContent = "";
    const others = data.viewers.filter(function (v) { return v.user_id !== me; });
    if (!others.length) return;
    box.append(body.dataset.textAlsoHere);
    others.forEach(function (v) {
      const span = el("span", "viewer" + (v.composing ? " composing" : ""));
      span.dataset.userId = v.user_id;
      const avatar = el("span", "avatar", (v.name || "?").slice(0, 1).toUpperCase());
      avatar.setAttribute("aria-hidden", "true");
      span.append(avatar, el("span", "name", v.name + (v.composing ? " (" + body.dataset.textReplying + ")" : "")));
      box.append(span);
    });
  }
  const typingTimers = {};
  function showTyping(data) {
    const line = document.getElementById("typing-indicator");
    if (!line || data.conversation_id !== openConversationId() || data.user_id === me) return;
    const key = data.who === "visitor" ? "visitor" : "agent-" + data.user_id;
    const text = data.who === "visitor" ? body.dataset.textVisitorTyping : body.dataset.textAgentTyping.replace("{name}", data.name);
    clearTimeout(typingTimers[key]);
    if (data.typing) {
      line.textContent = text;
      line.dataset.who = key;
      // A lost "stopped" frame must not leave the line forever.
      typingTimers[key] = setTimeout(function () { if (line.dataset.who === key) line.textContent = ""; }, 6000);
    } else if (line.dataset.who === key) {
      line.textContent = "";
    }
  }
  let typingState = false;
  let typingAt = 0;
  let typingIdle = null;
  function typing(state) {
    const id = openConversationId();
    if (id === null) return;
    const now = Date.now();
    if (state === typingState && (!state || now - typingAt < 2000)) return;
    typingState = state;
    typingAt = now;
    sendFrame({ type: "typing", conversation_id: id, typing: state });
  }
  // Collision: the reply being written started before another agent's reply landed: flag it before sending.
  let collision = false;
  document.addEventListener("input", function (event) {
    if (!(event.target instanceof HTMLTextAreaElement) || event.target.id !== "reply-text") return;
    const form = event.target.form;
    const noteMode = form && form.dataset.mode === "note";
    if (!noteMode) {
      typing(composing());
      clearTimeout(typingIdle);
      typingIdle = setTimeout(function () { typing(false); }, 3000);
    }
    if (!composing()) collision = false;
    if ((openConversationId() + ":" + composing()) !== viewingSent) heartbeat();
  });
  function noticeCollision(data) {
    const m = data.message;
    if (data.conversation_id !== openConversationId() || m.kind !== "message" || m.direction !== "out") return;
    if (m.author === body.dataset.userName || !composing()) return;
    collision = true;
  }
  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element ? event.target.closest(".send-reply") : null;
    if (!button) return;
    const warning = document.getElementById("collision-warning");
    if (collision) {
      // First press after someone else replied: stop, say so; the next press sends.
      event.preventDefault();
      event.stopPropagation();
      collision = false;
      if (warning) warning.hidden = false;
      return;
    }
    if (warning) warning.hidden = true;
    clearTimeout(typingIdle);
    typing(false);
  }, true);

  // @mentions in internal notes: a new entry on top of the Mentions list, and a toast saying who and where.
  function addMention(data) {
    const list = document.getElementById("list-mentions");
    if (list && !list.querySelector('[data-mention-id="' + data.mention_id + '"]')) {
      const li = el("li", "mention-item unread");
      li.dataset.mentionId = data.mention_id;
      const a = el("a");
      a.href = "/desk/mentions/" + data.mention_id + "/";
      a.append(el("span", "author", data.author), " · ", el("span", "customer", data.customer), " ", el("span", "excerpt", data.text));
      li.append(a);
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
      list.prepend(li);
      const count = document.getElementById("mentions-unread");
      if (count) count.textContent = String(list.querySelectorAll(".mention-item.unread").length);
    }
    toast(data.author + " " + body.dataset.textMentioned + " · " + data.customer);
  }
  function toast(text) {
    let box = document.getElementById("desk-toast");
    if (!box) {
      box = el("div", "toast");
      box.id = "desk-toast";
      box.setAttribute("role", "status");
      body.append(box);
    }
    box.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { box.textContent = ""; }, 8000);
  }

  // The composer's two modes. The button of the other mode is disabled, not only hidden, so that no implicit
  // submission can ever send a note to the customer through the reply endpoint.
  function setMode(form, mode) {
    form.dataset.mode = mode;
    form.classList.toggle("mode-note", mode === "note");
    form.classList.toggle("mode-reply", mode !== "note");
    const send = form.querySelector(".send-reply");
    const note = form.querySelector(".add-note");
    if (send) send.disabled = mode === "note";
    if (note) note.disabled = mode !== "note";
    const text = form.querySelector("textarea");
    if (text) text.placeholder = mode === "note" ? text.dataset.placeholderNote : text.dataset.placeholderReply;
    const label = form.querySelector('label[for="reply-text"]');
    if (label) label.textContent = mode === "note" ? form.dataset.textNote : form.dataset.textReply;
    const radio = form.querySelector('input[name="mode"][value="' + mode + '"]');
    if (radio) radio.checked = true;
  }
  document.addEventListener("change", function (event) {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.name === "mode" && input.form && input.form.id === "composer") setMode(input.form, input.value);
  });

  // SLA warnings and breaches: a badge on the list item and, when the conversation is open, in its header.
  function slaBadge(level) {
    const badge = el("span", "badge " + level, level === "breached" ? body.dataset.textSlaBreached : body.dataset.textSlaAtRisk);
    badge.setAttribute("role", "status");
    badge.dataset.slaBadge = level;
    return badge;
  }
  function markSla(conversationId, level) {
    const item = document.getElementById("conv-" + conversationId);
    if (item) {
      const old = item.querySelector("[data-sla-badge]");
      if (old) old.remove();
      item.append(slaBadge(level));
    }
    const view = document.querySelector("[data-conversation-id].conversation-view");
    if (!view || Number(view.dataset.conversationId) !== conversationId) return;
    let box = view.querySelector(".sla");
    if (!box) {
      box = el("div", "sla");
      const meta = view.querySelector("header .meta");
      if (meta) meta.after(box); else view.prepend(box);
    }
    box.className = "sla sla-" + level;
    box.dataset.slaLevel = level;
    const old = box.querySelector(".badge");
    if (old) old.remove();
    box.prepend(slaBadge(level));
  }

  // Delivery receipts of outbound messages (sent, delivered, read, failed) update the timeline entry in place.
  const statusLabels = JSON.parse(body.dataset.statusLabels || "{}");
  function showDelivery(data) {
    const item = document.getElementById("interaction-" + data.message_id);
    if (!item) return;
    let line = item.querySelector(".delivery");
    if (!line) { line = el("p"); item.append(line); }
    line.className = "delivery " + data.status;
    line.dataset.status = data.status;
    line.textContent = statusLabels[data.status] || data.status;
    if (data.error) { line.append(" — "); line.append(el("span", "error", data.error)); }
  }

  // Offers (queues in offer mode): the server sends the offer's data; the agent accepts or declines with a form.
  function offerForm(offerId, decision, label, customer) {
    const form = el("form");
    form.method = "post";
    form.action = "/desk/offers/" + offerId + "/" + decision + "/";
    const token = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (token) form.append(token.cloneNode());
    const button = el("button", "", label);
    button.type = "submit";
    button.setAttribute("aria-label", label + " " + customer);
    form.append(button);
    return form;
  }
  function addOffer(data) {
    const list = document.getElementById("offers");
    if (!list || list.querySelector('[data-offer-id="' + data.offer_id + '"]')) return;
    const li = el("li", "", data.customer + " · " + data.channel + " ");
    li.dataset.offerId = data.offer_id;
    li.append(offerForm(data.offer_id, "accept", list.dataset.textAccept, data.customer));
    li.append(offerForm(data.offer_id, "decline", list.dataset.textDecline, data.customer));
    list.append(li);
  }
  function removeOffer(offerId) {
    const li = document.querySelector('#offers [data-offer-id="' + offerId + '"]');
    if (li) li.remove();
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + body.dataset.wsPath);
    socket.addEventListener("open", function () {
      socket.send(JSON.stringify({ type: "hello", last_event_id: lastEventId }));
    });
    socket.addEventListener("message", function (message) {
      const frame = JSON.parse(message.data);
      if (typeof frame.id === "number" && frame.id > lastEventId) lastEventId = frame.id;
      const handler = handlers[frame.type];
      if (handler) handler(frame);
      else if (window.OmnideskPhone && window.OmnideskPhone.handles(frame.type)) window.OmnideskPhone.handle(frame);
      // Every frame is also a DOM event, so a feature's own script (escalation badges, suggestions…) can follow the
      // stream without another socket and without editing this file.
      document.dispatchEvent(new CustomEvent("omnidesk:frame", { detail: frame }));
    });
    socket.addEventListener("close", function (event) {
      status(body.dataset.textReconnecting);
      if (event.code === 4401) { window.location.reload(); return; }
      setTimeout(connect, backoff + Math.random() * 250);
      backoff = Math.min(backoff * 2, 10000);
    });
  }

  // The websocket may deliver the agent's own reply before the POST answers: never show it twice.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target.id !== "timeline") return;
    const match = /id="(interaction-\d+)"/.exec(event.detail.serverResponse || "");
    if (match && document.getElementById(match[1])) event.detail.shouldSwap = false;
  });

  // Scroll the open conversation to its newest entry after htmx swaps it in, and mark it in the lists.
  document.addEventListener("htmx:afterSwap", function (event) {
    const timeline = document.getElementById("timeline");
    // The agent's own reply may come back by POST before the websocket frame: it is appended, so scroll to it too.
    if (timeline && event.detail.target.id === "timeline") timeline.scrollTop = timeline.scrollHeight;
    if (timeline && event.detail.target.id === "conversation") {
      timeline.scrollTop = timeline.scrollHeight;
      collision = false;
      heartbeat();
    }
    localListTimes(event.detail.target);
    markCurrent();
  });

  // After a reply was accepted, empty the composer (replaces an inline hx-on handler: CSP forbids eval).
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    const composer = form instanceof HTMLElement ? form.closest("#composer") : null;
    if (event.detail.successful && composer instanceof HTMLFormElement) {
      const mode = composer.dataset.mode || "reply";
      composer.reset();
      setMode(composer, mode);
      collision = false;
      const warning = document.getElementById("collision-warning");
      if (warning) warning.hidden = true;
      heartbeat();
    }
  });

  // The open conversation's list entry carries aria-current, so it is both highlighted and announced.
  function markCurrent() {
    const view = document.querySelector("[data-conversation-id].conversation-view");
    const current = view ? view.dataset.conversationId : null;
    document.querySelectorAll(".conversation-item").forEach(function (item) {
      const link = item.querySelector("a");
      if (!link) return;
      if (current && item.dataset.conversationId === current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
  }
  markCurrent();

  // On first load, show the newest entry of an open conversation.
  const initialTimeline = document.getElementById("timeline");
  if (initialTimeline) initialTimeline.scrollTop = initialTimeline.scrollHeight;

  window.OmnideskDesk = { setMode: setMode, el: el, state: function () { return { connected: !!socket && socket.readyState === 1, lastEventId: lastEventId }; } };
  localListTimes();
  connect();
})();
