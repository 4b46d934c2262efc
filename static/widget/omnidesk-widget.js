/*! omnidesk customer chat widget - embed with:
 *  <script src="https://desk.example/static/widget/omnidesk-widget.js" data-channel="KEY" async></script>
 * Kept pure ASCII: a classic script is decoded with the host page's charset, whatever that is.
 */
(() => {
  "use strict";

  // currentScript is only available synchronously, so read it before anything is deferred.
  const script =
    document.currentScript ||
    document.querySelector('script[data-channel][src*="omnidesk-widget.js"]');
  if (!script || window.OmnideskWidget) return; // a second copy on the page would double every message
  const channel = script.dataset.channel;
  if (!channel) {
    console.warn("[omnidesk] missing data-channel attribute; widget disabled");
    return;
  }

  // Who the visitor is, as the host website knows it (a logged-in user). Only a server-side identifier_hash
  // (HMAC-SHA256 of the email with the channel's identity secret) lets omnidesk link it to an existing customer.
  const settings = window.omnideskSettings || {};
  const identity = {
    email: settings.email || script.dataset.email || null,
    name: settings.name || script.dataset.name || null,
    identifier_hash: settings.identifierHash || script.dataset.identifierHash || null,
  };
  const hasIdentity = Boolean(identity.email || identity.name);

  const base = new URL(script.src, location.href);
  const WS_URL = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/ws/widget/";
  const MAX_LEN = 10000;

  const STRINGS = {
    en: {
      launcher: "Chat with us", dialog: "Chat", title: "Customer support", subtitle: "We usually reply within minutes",
      close: "Close chat", log: "Conversation", label: "Message", placeholder: "Type your message\u2026",
      typing: "{name} is typing\u2026",
      send: "Send", connecting: "Connecting\u2026", reconnecting: "Reconnecting\u2026",
      unavailable: "Chat is currently unavailable.", failed: "Not sent", empty: "Ask us anything \u2014 we're here to help.",
      score: "Score {n} of {max}", thanks: "Thank you for your feedback!", surveyFailed: "Your answer could not be sent.",
    },
    fr: {
      launcher: "Discuter avec nous", dialog: "Discussion", title: "Service client", subtitle: "Nous r\u00e9pondons en g\u00e9n\u00e9ral en quelques minutes",
      close: "Fermer la discussion", log: "Conversation", label: "Message", placeholder: "\u00c9crivez votre message\u2026",
      typing: "{name} est en train d\u2019\u00e9crire\u2026",
      send: "Envoyer", connecting: "Connexion\u2026", reconnecting: "Reconnexion\u2026",
      unavailable: "La discussion est indisponible pour le moment.", failed: "Non envoy\u00e9", empty: "Posez-nous vos questions, nous sommes l\u00e0 pour vous aider.",
      score: "Note {n} sur {max}", thanks: "Merci pour votre avis\u00a0!", surveyFailed: "Votre r\u00e9ponse n\u2019a pas pu \u00eatre envoy\u00e9e.",
    },
  };
  const locale = (script.dataset.locale || document.documentElement.lang || navigator.language || "en")
    .slice(0, 2).toLowerCase();
  const T = STRINGS[locale] || STRINGS.en;
  const LANG = STRINGS[locale] ? locale : "en";

  // Storage can throw (Safari private mode, sandboxed iframes, blocked third-party storage);
  // fall back to memory so the widget still works for the lifetime of the page.
  const makeStore = (getArea) => {
    const mem = new Map();
    let area = null;
    try { area = getArea(); area.getItem("omnidesk:probe"); } catch { area = null; }
    return {
      get(k) { try { return area ? area.getItem(k) : mem.get(k) ?? null; } catch { return mem.get(k) ?? null; } },
      set(k, v) { mem.set(k, v); try { area && area.setItem(k, v); } catch { /* quota/blocked: memory copy suffices */ } },
      del(k) { mem.delete(k); try { area && area.removeItem(k); } catch { /* ignore */ } },
    };
  };
  const local = makeStore(() => window.localStorage);
  const session = makeStore(() => window.sessionStorage);
  const KEY = {
    token: `omnidesk:${channel}:token`,
    lastEvent: `omnidesk:${channel}:last_event_id`, // no longer used; removed when found
    outbox: `omnidesk:${channel}:outbox`,
    open: `omnidesk:${channel}:open`,
    identity: `omnidesk:${channel}:identity`,
  };
  local.del(KEY.lastEvent);

  // The stored token belongs to whoever the page said the visitor was. When the page no longer passes that identity
  // (the site's user logged out, or another one logged in), the token belongs to someone else: forget it so the next
  // person starts a fresh anonymous chat. The server refuses such a token anyway.
  // Only a hash of the identity is stored (FNV-1a), never the email itself.
  const fnv1a = (text) => {
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i += 1) {
      hash ^= text.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash.toString(16);
  };
  const identityMark = hasIdentity
    ? fnv1a(`${identity.email || ""}|${identity.name || ""}|${identity.identifier_hash || ""}`) : "";
  const previousMark = local.get(KEY.identity) || "";
  if (previousMark !== identityMark) {
    local.del(KEY.token);
    // Unsent messages of an identified user are theirs alone; an anonymous visitor who just logged in keeps theirs.
    if (previousMark) local.del(KEY.outbox);
    if (identityMark) local.set(KEY.identity, identityMark);
    else local.del(KEY.identity);
  }
  // Always read-modify-write storage so two tabs of the same site don't overwrite each other's queue.
  const loadOutbox = () => {
    try {
      const v = JSON.parse(local.get(KEY.outbox) || "[]");
      return Array.isArray(v) ? v.filter((m) => m && typeof m.uuid === "string" && typeof m.text === "string") : [];
    } catch { return []; }
  };
  const saveOutbox = (items) => (items.length ? local.set(KEY.outbox, JSON.stringify(items)) : local.del(KEY.outbox));
  const dropFromOutbox = (uuid) => saveOutbox(loadOutbox().filter((m) => m.uuid !== uuid));

  // randomUUID only exists in secure contexts; host pages served over plain http still need ids.
  const newUuid = () => {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };

  const CSS = `
    :host { all: initial; }
    *, *::before, *::after { box-sizing: border-box; }
    [hidden] { display: none !important; }
    .root { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #0f172a; }
    button, textarea { font: inherit; }
    :focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px;
      border: 0; border-radius: 50%; background: #2563eb; color: #fff; cursor: pointer;
      box-shadow: 0 6px 20px rgba(37, 99, 235, .4); display: grid; place-items: center; transition: transform .15s; }
    .launcher:hover { transform: scale(1.06); background: #1d4ed8; }
    .launcher svg { width: 26px; height: 26px; }
    .launcher.unread::after { content: ""; position: absolute; top: 6px; right: 6px; width: 12px; height: 12px;
      border-radius: 50%; background: #f97316; border: 2px solid #fff; }
    .panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483001; width: 360px; height: 520px;
      max-height: calc(100vh - 108px); max-width: calc(100vw - 40px); display: flex; flex-direction: column;
      background: #fff; border-radius: 16px; overflow: hidden; box-shadow: 0 12px 40px rgba(15, 23, 42, .25); }
    header { background: #2563eb; color: #fff; padding: 14px 16px; display: flex; align-items: center; gap: 12px; }
    header .t { flex: 1; min-width: 0; }
    header h2 { margin: 0; font-size: 16px; font-weight: 600; }
    header p { margin: 2px 0 0; font-size: 12px; opacity: .85; }
    .close { border: 0; background: transparent; color: #fff; width: 32px; height: 32px; border-radius: 8px;
      cursor: pointer; font-size: 22px; line-height: 1; }
    .close:hover { background: rgba(255, 255, 255, .15); }
    .log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 8px; background: #f8fafc; }
    .log:empty::before { content: attr(data-empty); margin: auto; color: #64748b; text-align: center; font-size: 13px; }
    .msg { max-width: 80%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap; overflow-wrap: anywhere; }
    .msg.in { align-self: flex-end; background: #2563eb; color: #fff; border-bottom-right-radius: 4px; }
    .msg.out { align-self: flex-start; background: #e2e8f0; color: #0f172a; border-bottom-left-radius: 4px; }
    .msg .author { display: block; font-size: 12px; font-weight: 600; color: #475569; margin-bottom: 2px; }
    .msg.pending { opacity: .6; }
    .msg.failed { background: #fee2e2; color: #991b1b; border: 1px solid #fca5a5; }
    .msg.failed::after { content: attr(data-failed-label); display: block; font-size: 11px; font-weight: 600; margin-top: 2px; }
    .survey { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; } .survey button { border: 1px solid #2563eb; background: #fff; color: #1d4ed8; border-radius: 8px; min-width: 36px; height: 32px; }
    .status { font-size: 12px; color: #64748b; padding: 0 16px; background: #f8fafc; }
    .status:not(:empty) { padding: 4px 16px; }
    form { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px; border-top: 1px solid #e2e8f0; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
    textarea { flex: 1; resize: none; min-height: 40px; max-height: 120px; padding: 9px 12px; border: 1px solid #cbd5e1;
      border-radius: 10px; color: #0f172a; background: #fff; }
    textarea:focus { border-color: #2563eb; outline: none; box-shadow: 0 0 0 3px rgba(37, 99, 235, .2); }
    .send { border: 0; border-radius: 10px; background: #2563eb; color: #fff; padding: 0 16px; height: 40px; cursor: pointer; font-weight: 600; }
    .send:hover { background: #1d4ed8; }
    @media (max-width: 480px) {
      .panel { inset: 0; width: 100%; height: 100%; max-width: none; max-height: none; border-radius: 0; }
    }
    @media (prefers-reduced-motion: reduce) { .launcher { transition: none; } }
  `;

  const h = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  };

  // ---- DOM (built once body exists; the script is async and may run from <head>) ----
  const host = h("div", { "data-omnidesk-widget": "" });
  const shadow = host.attachShadow({ mode: "open" });
  const launcher = h("button", { type: "button", class: "launcher", "aria-label": T.launcher,
    "aria-expanded": "false", "aria-controls": "omnidesk-panel" });
  launcher.innerHTML = // static icon only, never server data
    '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true" focusable="false">' +
    '<path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z" stroke-linejoin="round"/></svg>';
  const closeBtn = h("button", { type: "button", class: "close", "aria-label": T.close, text: "\u00d7" });
  const log = h("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": T.log, "data-empty": T.empty });
  const status = h("div", { class: "status", role: "status" });
  const typingLine = h("div", { class: "status typing", "aria-live": "polite" });
  let typingTimer = null;
  const input = h("textarea", { id: "omnidesk-input", rows: "1", maxlength: String(MAX_LEN), placeholder: T.placeholder });
  const form = h("form", { novalidate: "" },
    h("label", { class: "sr", for: "omnidesk-input", text: T.label }), input,
    h("button", { type: "submit", class: "send", text: T.send }));
  const panel = h("div", { id: "omnidesk-panel", class: "panel", role: "dialog", "aria-label": T.dialog, hidden: "" },
    h("header", {}, h("div", { class: "t" }, h("h2", { text: T.title }), h("p", { text: T.subtitle })), closeBtn),
    log, typingLine, status, form);
  // A constructed stylesheet, not a <style> element: a host page with a strict Content-Security-Policy (style-src
  // without 'unsafe-inline', like our own demo page) would block an inline <style> inside the shadow root.
  if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [sheet];
    shadow.append(h("div", { class: "root", lang: LANG }, panel, launcher));
  } else {
    shadow.append(h("style", { text: CSS }), h("div", { class: "root", lang: LANG }, panel, launcher));
  }

  // ---- rendering ----
  const byId = new Map();
  const byUuid = new Map();
  const fmtTime = (iso) => {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString(LANG, { hour: "2-digit", minute: "2-digit", day: "numeric", month: "short" });
  };
  const scrollDown = () => { log.scrollTop = log.scrollHeight; };

  const renderMessage = (m, state) => {
    const el = h("div", { class: `msg ${m.direction === "out" ? "out" : "in"}` });
    if (m.direction === "out") el.append(h("span", { class: "author", text: String(m.author || "") }));
    el.append(h("span", { class: "text", text: String(m.text ?? "") }));
    const survey = m.survey || (m.payload && m.payload.survey);
    if (m.direction === "out" && survey) renderSurvey(el, survey);
    if (m.at) el.title = fmtTime(m.at);
    if (m.id != null) { el.dataset.messageId = String(m.id); byId.set(String(m.id), el); }
    if (m.uuid) { el.dataset.uuid = m.uuid; byUuid.set(m.uuid, el); }
    el.dataset.failedLabel = T.failed;
    if (state) el.classList.add(state);
    log.append(el);
    scrollDown();
    return el;
  };
  // A desk survey: one button per score POSTs {"score": n} to its URL, only on this widget's own server (same origin).
  function renderSurvey(el, survey) {
    let url; try { url = new URL(String(survey.url || ""), base); } catch { return; }
    const choices = (Array.isArray(survey.choices) ? survey.choices : []).filter(Number.isInteger).slice(0, 11);
    if (url.origin !== base.origin || !choices.length) return;
    const group = h("div", { class: "survey", role: "group", "aria-label": String(survey.question || "") });
    const answered = (ok) => group.replaceChildren(h("p", { role: "status", text: ok ? T.thanks : T.surveyFailed }));
    for (const n of choices) group.append(Object.assign(h("button", { type: "button", text: String(n),
      "aria-label": T.score.replace("{n}", n).replace("{max}", Math.max(...choices)) }), { onclick: () => {
      for (const b of group.querySelectorAll("button")) b.disabled = true;
      fetch(url.href, { method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit",
        body: JSON.stringify({ score: n }) }).then((r) => answered(r.ok)).catch(() => answered(false)); } }));
    el.append(group);
  }
  const setBubbleState = (uuid, state) => {
    const el = byUuid.get(uuid);
    if (!el) return;
    el.classList.remove("pending", "sent", "failed");
    el.classList.add(state);
  };
  const setStatus = (text) => { status.textContent = text || ""; };

  // ---- connection ----
  let ws = null;
  let welcomed = false;
  let attempts = 0;
  let retryTimer = null;
  let stopped = false; // set by a 44xx close: the server told us retrying is pointless
  let lastError = "";
  const welcomeWaiters = [];

  const sendFrame = (obj) => {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(obj)); return true; }
    return false;
  };

  const connect = () => {
    if (stopped || (ws && ws.readyState <= WebSocket.OPEN)) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    setStatus(attempts ? T.reconnecting : T.connecting);
    let sock;
    try { sock = new WebSocket(WS_URL); } catch { scheduleReconnect(); return; }
    ws = sock;
    welcomed = false;
    sock.onopen = () => {
      // The token only ever travels inside this frame, never in the URL (logs, referrers, proxies).
      const hello = { type: "hello", channel, token: local.get(KEY.token) || null };
      if (hasIdentity) hello.identity = identity;
      sock.send(JSON.stringify(hello));
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return; // frames from a socket we already abandoned
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame && typeof frame.type === "string") handleFrame(frame);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      welcomed = false;
      if (ev.code === 4429) {
        // Too many new chats from this network: try again after the wait the server asked for.
        setStatus(lastError || T.unavailable);
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => { retryTimer = null; connect(); }, retryAfterMs());
        return;
      }
      if (ev.code >= 4400 && ev.code <= 4499) {
        stopped = true;
        setStatus(ev.reason || lastError || T.unavailable);
        return;
      }
      scheduleReconnect();
    };
  };

  function scheduleReconnect() {
    if (stopped || retryTimer) return;
    const ceiling = Math.min(10000, 500 * 2 ** attempts);
    attempts += 1;
    // Jitter spreads reconnects out after a server restart so clients don't stampede together.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    setStatus(T.reconnecting);
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, delay);
  }

  const flushOutbox = () => {
    if (!welcomed) return;
    for (const m of loadOutbox()) sendFrame({ type: "message.send", uuid: m.uuid, text: m.text });
  };

  // Rate limits: the server refuses (never drops) what comes too fast and says when to try again.
  let retryAfter = 1;
  let flushTimer = null;
  const retryAfterMs = () => Math.min(60000, Math.max(250, retryAfter * 1000)) + Math.random() * 250;
  const flushLater = () => {
    if (flushTimer) return;
    flushTimer = setTimeout(() => { flushTimer = null; flushOutbox(); }, retryAfterMs());
  };

  const renderPendingOutbox = () => {
    for (const m of loadOutbox()) {
      // Already in history means the server stored it but the ack was lost; resending is harmless (same uuid).
      if (!byUuid.has(m.uuid)) renderMessage({ uuid: m.uuid, direction: "in", text: m.text, at: m.at }, "pending");
    }
  };

  // Extensions (omnidesk-followup.js, OmnideskWidget.extension) see every frame, even those before they loaded.
  const ext = { frames: [], last: {}, beforeClose: null };
  const handleFrame = (f) => {
    ext.last[f.type] = f; for (const fn of ext.frames) fn(f);
    switch (f.type) {
      case "welcome": {
        if (f.token) local.set(KEY.token, String(f.token));
        log.replaceChildren();
        byId.clear();
        byUuid.clear();
        for (const m of Array.isArray(f.history) ? f.history : []) renderMessage(m, m.direction === "in" ? "sent" : null);
        renderPendingOutbox();
        welcomed = true;
        for (const resolve of welcomeWaiters.splice(0)) resolve(local.get(KEY.token));
        attempts = 0;
        lastError = "";
        setStatus("");
        flushOutbox();
        break;
      }
      case "message.accepted": if (f.uuid) { dropFromOutbox(f.uuid); setBubbleState(f.uuid, "sent"); } break;
      case "message.created": {
        const m = f.data && f.data.message;
        if (!m || m.id == null || byId.has(String(m.id))) break;
        const mine = m.uuid && byUuid.get(m.uuid);
        if (mine) {
          mine.dataset.messageId = String(m.id);
          byId.set(String(m.id), mine);
          dropFromOutbox(m.uuid); // created implies accepted, even if the ack frame was lost
          setBubbleState(m.uuid, "sent");
        } else {
          renderMessage(m, m.direction === "in" ? "sent" : null);
          if (m.direction === "out" && panel.hidden) launcher.classList.add("unread");
        }
        break;
      }
      case "agent.typing": {
        // Ephemeral: shown while the agent types, cleared when they stop (or after a while if that frame is lost).
        const d = f.data || {};
        clearTimeout(typingTimer);
        typingLine.textContent = d.typing ? T.typing.replace("{name}", String(d.name || "")) : "";
        if (d.typing) typingTimer = setTimeout(() => { typingLine.textContent = ""; }, 6000);
        break;
      }
      case "resync":
        // The next welcome carries the full history.
        if (ws) { const old = ws; ws = null; welcomed = false; old.close(1000); }
        attempts = 0;
        connect();
        break;
      case "error":
        if (f.code === "rate_limited") {
          // Not stored yet, not lost: the message stays in the outbox (and pending) and goes again after the wait.
          retryAfter = Number(f.retry_after) > 0 ? Number(f.retry_after) : 1;
          lastError = String(f.message || f.code);
          if (f.uuid) flushLater();
          break;
        }
        if (f.code === "already_greeted") break;
        lastError = String(f.message || f.code || T.unavailable);
        setStatus(lastError);
        if (f.uuid) { dropFromOutbox(f.uuid); setBubbleState(f.uuid, "failed"); }
        break;
      default:
        break; // unknown frames are ignored so the server can add types without breaking old widgets
    }
  };

  // ---- UI behaviour ----
  const open = (focus = true) => {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.classList.remove("unread");
    session.set(KEY.open, "1");
    connect();
    scrollDown();
    if (focus) input.focus();
  };
  const close = () => {
    if (ext.beforeClose && ext.beforeClose()) return; // e.g. a visitor leaving unanswered is offered email first
    const hadFocus = shadow.activeElement && panel.contains(shadow.activeElement);
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    session.set(KEY.open, "0");
    if (hadFocus) launcher.focus();
  };

  launcher.addEventListener("click", () => (panel.hidden ? open() : close())); closeBtn.addEventListener("click", close);
  panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); close(); } });

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });

  // Typing: at most one "typing" frame every 2 s while keys are pressed, one "stopped" after 3 s idle or on send.
  let typingSent = false;
  let typingAt = 0;
  let typingIdle = null;
  const sendTyping = (state) => {
    const now = Date.now();
    if (!welcomed || (state === typingSent && (!state || now - typingAt < 2000))) return;
    typingSent = state;
    typingAt = now;
    sendFrame({ type: "typing", typing: state });
  };
  input.addEventListener("input", () => {
    sendTyping(input.value.trim() !== "");
    clearTimeout(typingIdle);
    typingIdle = setTimeout(() => sendTyping(false), 3000);
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(typingIdle);
    sendTyping(false);
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (lastError && status.textContent === lastError && !stopped) setStatus("");
    queueText(text);
  });
  function queueText(text) { // also the contact page's first message (OmnideskWidget.send)
    const item = { uuid: newUuid(), text, at: new Date().toISOString() };
    // Persist before anything else so a crash or reload between here and the ack loses nothing.
    saveOutbox([...loadOutbox(), item]);
    renderMessage({ uuid: item.uuid, direction: "in", text: item.text, at: item.at }, "pending");
    if (welcomed) sendFrame({ type: "message.send", uuid: item.uuid, text: item.text }); else connect();
  }

  // Skip the remaining backoff as soon as the network comes back.
  window.addEventListener("online", () => { if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; connect(); } });

  window.OmnideskWidget = {
    // The contact page waits for the session token (to tell the server the intent chosen), then sends the first message.
    whenWelcomed: () => new Promise((resolve) => {
      if (welcomed) resolve(local.get(KEY.token)); else { welcomeWaiters.push(resolve); open(false); }
    }),
    send: (text) => queueText(String(text).slice(0, MAX_LEN)),
    open: () => open(),
    close: () => close(),
    state: () => ({ connected: !!(welcomed && ws && ws.readyState === WebSocket.OPEN), outbox: loadOutbox().length }),
    extension: { ext, panel, form, sendFrame, lang: LANG, close: () => { ext.beforeClose = null; close(); } },
  };

  const start = () => {
    document.body.appendChild(host);
    document.head.append(h("script", { src: new URL("omnidesk-followup.js", base).href, async: "" }));
    renderPendingOutbox(); // show queued messages even before (or without) a connection
    if (session.get(KEY.open) === "1") open(false); // don't steal focus from the host page on reload
    else if (local.get(KEY.token)) connect(); // returning visitor: receive replies while the panel is closed
  };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
