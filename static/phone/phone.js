// The phone channel on the desk: the screen pop on `call.ringing`, closed when another agent answers, and live
// updates of call entries in the open timeline. desk.js hands it the `call.*` frames. Server data is only ever
// inserted with textContent.
(function () {
  "use strict";
  const me = Number(document.body.dataset.userId);

  function container() { return document.getElementById("phone-pops"); }
  function text(name) { const c = container(); return (c && c.dataset["text" + name]) || ""; }

  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined && content !== null) node.textContent = content;
    return node;
  }

  function csrf() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function post(url, fields, status) {
    const body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), "HX-Request": "true" },
    }).then(function (response) {
      return response.text().then(function (html) {
        // The answer is our own small fragment; read it as text only.
        const scratch = document.createElement("template");
        scratch.innerHTML = html;
        if (status) status.textContent = scratch.content.textContent.trim();
        return response;
      });
    });
  }

  function conversationLink(id, label) {
    const a = el("a", null, label);
    const url = "/desk/conversations/" + id + "/";
    a.href = url;
    a.setAttribute("hx-get", url);
    a.setAttribute("hx-target", "#conversation");
    a.setAttribute("hx-push-url", "true");
    return a;
  }

  function section(title, items, empty) {
    const part = el("section", "pop-section");
    const heading = el("h3", null, title);
    heading.id = "pop-h-" + Math.random().toString(36).slice(2);
    const list = el("ul");
    list.setAttribute("aria-labelledby", heading.id);
    items.forEach(function (item) { list.append(item); });
    if (!items.length && empty) list.append(el("li", "empty", empty));
    part.append(heading, list);
    return part;
  }

  function newCustomerForm(data, pop) {
    const form = el("form", "pop-new-customer");
    form.setAttribute("aria-label", text("NewCustomer"));
    const nameId = "pop-name-" + data.call, phoneId = "pop-phone-" + data.call;
    const nameLabel = el("label", null, text("Name")); nameLabel.htmlFor = nameId;
    const name = el("input"); name.id = nameId; name.name = "name"; name.required = true; name.autocomplete = "off";
    const phoneLabel = el("label", null, text("Phone")); phoneLabel.htmlFor = phoneId;
    const phone = el("input"); phone.id = phoneId; phone.name = "phone"; phone.value = data.new_customer.phone || "";
    phone.readOnly = true;
    const save = el("button", null, text("Save")); save.type = "submit";
    const status = el("span", "pop-status"); status.setAttribute("role", "status");
    form.append(el("h3", null, text("NewCustomer")), nameLabel, name, phoneLabel, phone, save, status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      post("/phone/calls/" + data.call + "/caller/", { name: name.value }, status).then(function (response) {
        if (response.ok) pop.querySelector(".pop-title").textContent = text("Incoming") + ": " + name.value;
      });
    });
    return form;
  }

  function linkedCase(data) {
    const part = el("div", "pop-linked");
    const status = el("span", "pop-status"); status.setAttribute("role", "status");
    part.append(el("p", null, text("LinkedCase") + ": "));
    part.firstChild.append(conversationLink(data.linked_case.id, "#" + data.linked_case.id + " · " + data.linked_case.channel));
    [["confirm", text("Confirm")], ["unlink", text("Unlink")]].forEach(function (choice) {
      const button = el("button", null, choice[1]); button.type = "button";
      button.addEventListener("click", function () {
        post("/phone/calls/" + data.call + "/link/", { decision: choice[0] }, status);
      });
      part.append(button);
    });
    part.append(status);
    return part;
  }

  function ringing(frame) {
    const data = frame.data;
    const host = container();
    if (!host || document.getElementById("pop-" + data.call)) return;
    const pop = el("div", "screen-pop");
    pop.id = "pop-" + data.call;
    pop.dataset.call = data.call;
    pop.setAttribute("role", "dialog");
    const title = el("h2", "pop-title", text("Incoming") + ": " + (data.customer.name || text("Unknown")));
    title.id = "pop-title-" + data.call;
    pop.setAttribute("aria-labelledby", title.id);
    pop.append(title, el("p", "pop-number", data.number));
    if (data.intent) pop.append(el("p", "pop-intent", text("Intent") + ": " + data.intent));
    if (data.linked_case) pop.append(linkedCase(data));
    const cases = data.open_cases.map(function (c) {
      const li = el("li"); li.append(conversationLink(c.id, "#" + c.id + " · " + c.channel + " · " + c.status)); return li;
    });
    pop.append(section(text("OpenCases"), cases, text("NoOpenCases")));
    const contacts = data.last_interactions.map(function (i) {
      return el("li", null, i.channel + " · " + new Date(i.at).toLocaleString() + " · " + i.text);
    });
    if (contacts.length) pop.append(section(text("LastContacts"), contacts));
    if (data.new_customer) pop.append(newCustomerForm(data, pop));
    const actions = el("div", "pop-actions");
    if (data.conversation_id) actions.append(conversationLink(data.conversation_id, text("OpenCall")));
    const dismiss = el("button", null, text("Dismiss")); dismiss.type = "button";
    dismiss.addEventListener("click", function () { pop.remove(); });
    actions.append(dismiss);
    pop.append(actions);
    host.append(pop);
    if (window.htmx) window.htmx.process(pop);
  }

  function answered(frame) {
    const pop = document.getElementById("pop-" + frame.data.call);
    if (!pop) return;
    if (frame.data.agent_id !== me) { pop.remove(); return; }
    pop.classList.add("answered");
    const note = pop.querySelector(".pop-answered") || el("p", "pop-answered");
    note.textContent = text("OnCall");
    pop.querySelector(".pop-title").after(note);
  }

  // The call is over: its pop goes, unless the agent is typing in it (naming an unknown caller).
  function ended(frame) {
    const pop = document.getElementById("pop-" + frame.data.call);
    if (pop && !pop.contains(document.activeElement)) pop.remove();
  }

  // The call's entry in the open timeline: its summary line from the frame, its details block (timings, wrap-up
  // form) reloaded from the server when the call's state changes. Only the conversation on screen is reloaded.
  function updated(frame) {
    const preview = document.querySelector("#conv-" + frame.data.conversation_id + " .preview");
    if (preview) preview.textContent = frame.data.text;
    const item = document.getElementById("interaction-" + frame.data.interaction_id);
    if (!item) return;
    const line = item.querySelector(".text");
    if (line) line.textContent = frame.data.text;
    const details = document.getElementById("call-" + frame.data.call);
    if (details && details.dataset.state === frame.data.state) return;
    if (!window.htmx) return;
    if (!details) {
      const holder = el("div");
      holder.id = "call-" + frame.data.call;
      item.append(holder);
    }
    window.htmx.ajax("GET", "/phone/calls/" + frame.data.call + "/", { target: "#call-" + frame.data.call, swap: "outerHTML" });
  }

  const handlers = { "call.ringing": ringing, "call.answered": answered, "call.ended": ended, "call.updated": updated };
  window.OmnideskPhone = {
    handles: function (type) { return Object.prototype.hasOwnProperty.call(handlers, type); },
    handle: function (frame) { handlers[frame.type](frame); },
  };
})();
