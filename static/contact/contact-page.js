/*! omnidesk contact page - embed with:
 *  <script src="https://desk.example/static/contact/contact-page.js" data-site="KEY" async></script>
 * Intent first, then the solutions that fit the live load. Pure ASCII (decoded with the host page's charset).
 */
(() => {
  "use strict";
  const script = document.currentScript || document.querySelector('script[data-site][src*="contact-page.js"]');
  if (!script || window.OmnideskContact) return;
  const site = script.dataset.site;
  if (!site) { console.warn("[omnidesk] contact page: missing data-site"); return; }
  const base = new URL(script.src, location.href);
  const API = `${base.origin}/contact/${encodeURIComponent(site)}/api/`;
  const WIDGET_SRC = script.dataset.widget || `${base.origin}/static/widget/omnidesk-widget.js`;
  const settings = window.omnideskSettings || {};

  const STRINGS = {
    en: {
      title: "How can we help?", search: "Describe your request", searchButton: "Search", results: "Suggestions",
      noResult: "No matching topic; pick one below.", back: "Back to topics", helped: "Did this solve your problem?",
      yes: "Yes, solved", no: "No, I need more help", glad: "Glad we could help. You can close this page.",
      ways: "Ways to reach us now", none: "No way to reach us is available right now; please come back later.",
      slot: "Pick a time slot", phone: "Your phone number", name: "Your name", book: "Book this callback",
      booked: "Done: we will call you between {start} and {end}.", email: "Your email", message: "Your message",
      sendForm: "Send", sent: "Sent: we will answer by email.", chatReady: "The chat is open; an agent will answer you.",
      chatFirst: "Contact page: {intent}", error: "Something went wrong.", loading: "Loading\u2026",
    },
    fr: {
      title: "Comment pouvons-nous vous aider\u00a0?", search: "D\u00e9crivez votre demande", searchButton: "Rechercher",
      results: "Suggestions", noResult: "Aucun sujet ne correspond\u00a0; choisissez ci-dessous.", back: "Retour aux sujets",
      helped: "Cela a-t-il r\u00e9solu votre probl\u00e8me\u00a0?", yes: "Oui, r\u00e9solu", no: "Non, j\u2019ai besoin d\u2019aide",
      glad: "Ravis d\u2019avoir pu vous aider. Vous pouvez fermer cette page.", ways: "Pour nous joindre maintenant",
      none: "Aucun moyen de contact n\u2019est disponible pour le moment\u00a0; revenez plus tard.",
      slot: "Choisissez un cr\u00e9neau", phone: "Votre num\u00e9ro de t\u00e9l\u00e9phone", name: "Votre nom",
      book: "R\u00e9server ce rappel", booked: "C\u2019est not\u00e9\u00a0: nous vous appellerons entre {start} et {end}.",
      email: "Votre e-mail", message: "Votre message", sendForm: "Envoyer",
      sent: "Envoy\u00e9\u00a0: nous vous r\u00e9pondrons par e-mail.", chatReady: "La discussion est ouverte\u00a0; un conseiller va vous r\u00e9pondre.",
      chatFirst: "Page contact\u00a0: {intent}", error: "Une erreur est survenue.", loading: "Chargement\u2026",
    },
  };
  const LANG = ((script.dataset.locale || document.documentElement.lang || navigator.language || "en").slice(0, 2)
    .toLowerCase() === "fr") ? "fr" : "en";
  const T = STRINGS[LANG];
  const device = window.matchMedia && window.matchMedia("(pointer: coarse)").matches ? "mobile" : "desktop";

  const CSS = `
    :host { all: initial; display: block; }
    .root { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #0f172a; max-width: 720px; }
    [hidden] { display: none !important; }
    :focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
    h2 { font-size: 22px; margin: 0 0 12px; } h3 { font-size: 17px; margin: 16px 0 8px; }
    button, input, textarea, select { font: inherit; }
    .intents { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 8px; list-style: none; padding: 0; }
    .intents button, .solutions button, .solutions a { width: 100%; text-align: left; padding: 10px 12px; border: 1px solid #cbd5e1;
      border-radius: 10px; background: #fff; cursor: pointer; color: #0f172a; text-decoration: none; display: block; }
    .intents button:hover, .solutions button:hover { border-color: #2563eb; background: #eff6ff; }
    .solutions { list-style: none; padding: 0; display: grid; gap: 8px; }
    .why { display: block; color: #475569; font-size: 13px; }
    .primary { background: #2563eb; color: #fff; border: 0; border-radius: 8px; padding: 8px 16px; cursor: pointer; }
    label { display: block; margin: 8px 0 2px; font-weight: 600; }
    input, textarea { width: 100%; max-width: 420px; padding: 8px; border: 1px solid #94a3b8; border-radius: 8px; box-sizing: border-box; }
    .answer { background: #f1f5f9; border-radius: 10px; padding: 12px; white-space: pre-wrap; }
    .status { min-height: 1.5em; }
    .error { color: #991b1b; }
  `;
  const h = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  };

  const host = h("div", { "data-omnidesk-contact": "" });
  const shadow = host.attachShadow({ mode: "open" });
  const main = h("section", { class: "root", lang: LANG, "aria-labelledby": "oc-title" });
  const status = h("p", { class: "status", role: "status", "aria-live": "polite" });
  if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet === "function") {
    const sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); shadow.adoptedStyleSheets = [sheet];
  } else shadow.append(h("style", { text: CSS }));
  const view = h("div");
  main.append(h("h2", { id: "oc-title", text: T.title }), view, status);
  shadow.append(main);

  let visit = null;
  let tree = [];
  let done = false;
  let current = null; // the intent shown

  const post = async (path, body) => {
    // text/plain keeps it a "simple" cross-origin request (no preflight); the server reads the body as JSON anyway.
    const r = await fetch(API + path, { method: "POST", headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ visit, ...body }), credentials: "omit", keepalive: true }); // a step survives leaving
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.message || T.error);
    return data;
  };
  const say = (text, isError = false) => { status.textContent = text; status.className = isError ? "status error" : "status"; };
  const fail = (e) => say(e.message || T.error, true);
  const focusFirst = (el) => { const f = el.querySelector("h3, button, input, a"); if (f) { if (f.tagName === "H3") f.tabIndex = -1; f.focus(); } };

  const showTopics = () => {
    current = null;
    const input = h("input", { id: "oc-q", type: "search", autocomplete: "off" });
    const results = h("div");
    const form = h("form", { role: "search", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const data = await post("search/", { q: input.value });
        results.replaceChildren(h("h3", { text: T.results }), data.results.length
          ? h("ul", { class: "intents" }, ...data.results.map((r) => h("li", {}, intentButton(r))))
          : h("p", { text: T.noResult }));
      } catch (err) { fail(err); }
    } }, h("label", { for: "oc-q", text: T.search }), input, " ", h("button", { type: "submit", class: "primary", text: T.searchButton }));
    const sections = tree.map((cat) => h("div", {}, h("h3", { text: `${cat.icon ? cat.icon + " " : ""}${cat.label}` }),
      h("ul", { class: "intents" }, ...cat.intents.map((i) => h("li", {}, intentButton(i))))));
    view.replaceChildren(form, results, ...sections);
  };
  const intentButton = (i) => h("button", { type: "button", onclick: () => chooseIntent(i.id) },
    `${i.icon ? i.icon + " " : ""}${i.label}`, ...(i.description ? [h("span", { class: "why", text: i.description })] : []));

  const chooseIntent = async (id) => {
    try {
      say(T.loading);
      current = await post("intent/", { intent: id });
      say("");
      if (current.answer) showAnswer(); else showSolutions();
    } catch (err) { fail(err); }
  };
  const step = (name) => post("step/", { step: name, intent: current && current.intent }).catch(() => {});

  const showAnswer = () => {
    step("answer_shown");
    view.replaceChildren(
      h("h3", { text: current.label }), h("div", { class: "answer", text: current.answer }),
      h("p", { id: "oc-helped", text: T.helped }),
      h("div", { role: "group", "aria-labelledby": "oc-helped" },
        h("button", { type: "button", class: "primary", onclick: () => { step("helpful_yes"); done = true;
          view.replaceChildren(h("p", { text: T.glad })); say(T.glad); } , text: T.yes }), " ",
        h("button", { type: "button", onclick: () => { step("helpful_no"); showSolutions(); }, text: T.no })),
      h("p", {}, h("button", { type: "button", onclick: showTopics, text: T.back })));
    focusFirst(view);
  };

  const showSolutions = () => {
    const items = current.solutions.map((s) => h("li", {}, solutionControl(s)));
    view.replaceChildren(h("h3", { text: `${current.label} \u2014 ${T.ways}` }),
      items.length ? h("ul", { class: "solutions" }, ...items) : h("p", { text: T.none }),
      h("div", { id: "oc-detail" }), h("p", {}, h("button", { type: "button", onclick: showTopics, text: T.back })));
    focusFirst(view);
  };
  const solutionControl = (s) => {
    const why = h("span", { class: "why", text: s.reason });
    const link = { phone: "tel:", sms: "sms:" }[s.kind];
    if (["phone", "sms", "self_service", "form", "whatsapp"].includes(s.kind)) {
      return h("a", { href: link ? link + s.target : s.target, rel: "noopener", target: link ? "_self" : "_blank",
        onclick: () => post("step/", { step: "solution_chosen", intent: current.intent, solution: s.kind }).catch(() => {}) },
      why);
    }
    const act = { chat: openChat, callback: showCallback, email: showEmail }[s.kind];
    return h("button", { type: "button", "data-kind": s.kind, onclick: () => act(s) }, why);
  };

  const detail = () => view.querySelector("#oc-detail");

  const openChat = async () => {
    try {
      if (!window.OmnideskWidget) {
        await new Promise((resolve, reject) => {
          const tag = h("script", { src: WIDGET_SRC, "data-channel": site, "data-locale": LANG });
          tag.onload = resolve; tag.onerror = reject;
          document.body.append(tag);
        });
      }
      const token = await window.OmnideskWidget.whenWelcomed();
      await post("chat/", { intent: current.intent, token });
      window.OmnideskWidget.send(T.chatFirst.replace("{intent}", current.label));
      window.OmnideskWidget.open();
      done = true;
      say(T.chatReady);
    } catch (err) { fail(err); }
  };

  const fmt = (iso) => new Date(iso).toLocaleString(LANG, { weekday: "short", hour: "2-digit", minute: "2-digit" });
  const showCallback = () => {
    const options = current.slots.map((slot, n) => h("div", {},
      h("input", { type: "radio", name: "slot", id: `oc-slot-${n}`, value: slot.start, ...(n ? {} : { checked: "" }) }),
      h("label", { for: `oc-slot-${n}`, style: "display:inline;font-weight:400", text: ` ${fmt(slot.start)} \u2013 ${fmt(slot.end)}` })));
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      const chosen = form.querySelector("input[name=slot]:checked");
      try {
        const data = await post("callback/", { intent: current.intent, slot: chosen && chosen.value,
          phone: form.querySelector("#oc-phone").value, name: form.querySelector("#oc-name").value });
        done = true;
        const slot = current.slots.find((s) => s.start === chosen.value) || { start: data.slot, end: data.slot };
        say(T.booked.replace("{start}", fmt(slot.start)).replace("{end}", fmt(slot.end)));
      } catch (err) { fail(err); }
    } },
    h("fieldset", {}, h("legend", { text: T.slot }), ...options),
    h("label", { for: "oc-phone", text: T.phone }), h("input", { id: "oc-phone", type: "tel", autocomplete: "tel", required: "" }),
    h("label", { for: "oc-name", text: T.name }), h("input", { id: "oc-name", autocomplete: "name" }),
    h("p", {}, h("button", { type: "submit", class: "primary", text: T.book })));
    detail().replaceChildren(form);
    focusFirst(form);
  };

  const showEmail = () => {
    const known = Boolean(settings.email && settings.identifierHash);
    const fields = known ? [] : [h("label", { for: "oc-email", text: T.email }),
      h("input", { id: "oc-email", type: "email", autocomplete: "email", required: "" })];
    const form = h("form", { onsubmit: async (e) => {
      e.preventDefault();
      try {
        await post("email/", { intent: current.intent, text: form.querySelector("#oc-message").value,
          email: known ? settings.email : form.querySelector("#oc-email").value, name: settings.name || "",
          identifier_hash: known ? settings.identifierHash : "" });
        done = true;
        detail().replaceChildren();
        say(T.sent);
      } catch (err) { fail(err); }
    } }, ...fields,
    h("label", { for: "oc-message", text: T.message }), h("textarea", { id: "oc-message", rows: "5", required: "" }),
    h("p", {}, h("button", { type: "submit", class: "primary", text: T.sendForm })));
    detail().replaceChildren(form);
    focusFirst(form);
  };

  // Leaving without a contact made: one beacon (sendBeacon survives the page's unload; a fetch would not).
  window.addEventListener("pagehide", () => {
    if (!visit || done) return;
    const body = JSON.stringify({ visit, step: "abandoned", intent: current ? current.intent : null });
    navigator.sendBeacon(API + "step/", new Blob([body], { type: "text/plain" }));
  });

  const start = async () => {
    (script.dataset.target ? document.querySelector(script.dataset.target) : null || script.parentNode || document.body)
      .append(host);
    try {
      const data = await post("start/", { language: LANG, device,
        identity: settings.email && settings.identifierHash ? { email: settings.email, identifier_hash: settings.identifierHash } : null });
      visit = data.visit;
      tree = data.tree;
      showTopics();
    } catch (err) { fail(err); }
  };
  window.OmnideskContact = { visit: () => visit };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
