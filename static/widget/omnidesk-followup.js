/*! omnidesk chat widget - continue by email when no agent answers (loaded by omnidesk-widget.js, same origin).
 * Offered when the server says no agent can take the chat, when the visitor has waited longer than the server's
 * `followup.after_seconds` for an answer, or when they close the chat before one. Pure ASCII, like the widget.
 */
(() => {
  "use strict";

  const api = window.OmnideskWidget && window.OmnideskWidget.extension;
  if (!api || api.ext.followup) return;
  api.ext.followup = true;

  const STRINGS = {
    en: {
      group: "Continue by email",
      no_agent: "No one is available to answer right now. Leave your email address: we will send you this conversation and answer you by email.",
      waited: "Sorry for the wait. Leave your email address: we will send you this conversation and answer you by email.",
      leaving: "Leaving before we answered? Leave your email address: we will send you this conversation and answer you by email.",
      label: "Your email address", submit: "Send me the answer by email", dismiss: "No thanks",
      sending: "Sending\u2026", done: "Thank you. This conversation has been sent to {email}; we will answer you there, no need to repeat anything.",
      invalid: "Please enter a valid email address.",
    },
    fr: {
      group: "Continuer par e-mail",
      no_agent: "Personne n\u2019est disponible pour vous r\u00e9pondre pour le moment. Laissez votre adresse e-mail\u00a0: nous vous enverrons cette conversation et vous r\u00e9pondrons par e-mail.",
      waited: "D\u00e9sol\u00e9s pour l\u2019attente. Laissez votre adresse e-mail\u00a0: nous vous enverrons cette conversation et vous r\u00e9pondrons par e-mail.",
      leaving: "Vous partez avant notre r\u00e9ponse\u00a0? Laissez votre adresse e-mail\u00a0: nous vous enverrons cette conversation et vous r\u00e9pondrons par e-mail.",
      label: "Votre adresse e-mail", submit: "Recevoir la r\u00e9ponse par e-mail", dismiss: "Non merci",
      sending: "Envoi\u2026", done: "Merci. Cette conversation a \u00e9t\u00e9 envoy\u00e9e \u00e0 {email}\u00a0; nous vous r\u00e9pondrons \u00e0 cette adresse, inutile de r\u00e9p\u00e9ter quoi que ce soit.",
      invalid: "Veuillez saisir une adresse e-mail valide.",
    },
  };
  const T = STRINGS[api.lang] || STRINGS.en;

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

  const CSS = `
    .followup { border-top: 1px solid #e2e8f0; padding: 10px 12px; background: #f8fafc; display: grid; gap: 6px; }
    .followup p { margin: 0; }
    .followup input { font: inherit; padding: 6px 8px; border: 1px solid #94a3b8; border-radius: 8px; width: 100%; }
    .followup .row { display: flex; gap: 6px; flex-wrap: wrap; }
    .followup button { font: inherit; border-radius: 8px; padding: 6px 10px; border: 1px solid #1d4ed8; cursor: pointer; }
    .followup button.primary { background: #1d4ed8; color: #fff; }
    .followup button.secondary { background: #fff; color: #1d4ed8; }
    .followup :focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
  `;
  const root = api.panel.getRootNode();
  if (root && "adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  }

  const reason = h("p", { id: "omnidesk-followup-reason" });
  const input = h("input", { id: "omnidesk-followup-email", type: "email", autocomplete: "email", maxlength: "320",
    required: "", "aria-describedby": "omnidesk-followup-reason" });
  const submit = h("button", { type: "submit", class: "primary", text: T.submit });
  const dismiss = h("button", { type: "button", class: "secondary", text: T.dismiss });
  const status = h("p", { role: "status" });
  const form = h("form", { class: "followup", role: "group", "aria-label": T.group, novalidate: "", hidden: "" },
    reason, h("label", { for: "omnidesk-followup-email", text: T.label }), input, h("div", { class: "row" }, submit, dismiss),
    status);
  api.panel.insertBefore(form, api.form);

  // The visitor's state as the frames tell it: an offer is possible, and whether they await an answer.
  let offer = { email: false, after_seconds: 0 };
  let awaiting = false;
  let state = "idle"; // idle | shown | sending | done | dismissed
  let waitTimer = null;
  let offered = ""; // "no_agent" from the welcome: shown once the visitor's message is stored (it makes the case)

  const show = (why, focus) => {
    if (!offer.email || state !== "idle") return false;
    state = "shown";
    reason.textContent = T[why] || T.no_agent;
    form.hidden = false;
    if (focus) input.focus();
    return true;
  };
  const armWaitTimer = () => {
    clearTimeout(waitTimer);
    if (awaiting && offer.after_seconds > 0) waitTimer = setTimeout(() => show("waited", false), offer.after_seconds * 1000);
  };
  const answered = () => { awaiting = false; clearTimeout(waitTimer); };

  const onFrame = (f) => {
    if (f.type === "welcome") {
      if (f.followup && typeof f.followup === "object") {
        offer = { email: !!f.followup.email, after_seconds: Number(f.followup.after_seconds) || 0 };
        if (f.followup.no_agent) offered = "no_agent";
      }
      const history = Array.isArray(f.history) ? f.history : [];
      awaiting = history.length > 0 && history[history.length - 1].direction === "in";
      armWaitTimer();
      if (awaiting && offered) show(offered, false);
    } else if (f.type === "message.created") {
      const m = f.data && f.data.message;
      if (m && m.direction === "out") answered();
      else if (m && !awaiting) { awaiting = true; armWaitTimer(); if (offered) show(offered, false); }
    } else if (f.type === "followup.accepted") {
      state = "done";
      answered();
      input.disabled = true; submit.hidden = true; dismiss.hidden = true;
      status.textContent = T.done.replace("{email}", input.value.trim());
    } else if (f.type === "error" && f.about === "followup") {
      state = "shown";
      submit.disabled = false;
      status.textContent = String(f.message || T.invalid);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  };
  api.ext.frames.push(onFrame);
  if (api.ext.last.welcome) onFrame(api.ext.last.welcome);

  // Closing before an answer: offer email once (focus moves to the address); closing again really closes.
  api.ext.beforeClose = () => awaiting && show("leaving", true);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const email = input.value.trim();
    if (!email || !input.checkValidity()) {
      status.textContent = T.invalid;
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    state = "sending";
    submit.disabled = true;
    status.textContent = T.sending;
    api.sendFrame({ type: "followup.email", email, language: api.lang });
  });
  dismiss.addEventListener("click", () => {
    state = "dismissed";
    form.hidden = true;
    api.form.querySelector("textarea").focus();
  });
  form.addEventListener("keydown", (e) => { if (e.key === "Escape" && !form.hidden) { e.stopPropagation(); dismiss.click(); } });
})();
