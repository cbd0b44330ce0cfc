/* Aisle's support inbox: the queue, one conversation, and the shopper beside it.
 *
 * No library and no build step. Talks to this origin only: the API under /api (the staff
 * session cookie; every change carries the CSRF token from GET /api/staff/me) and the live
 * stream /inbox/events (server-sent events; the browser's EventSource reconnects by itself
 * and sends Last-Event-ID, the server answers with what was missed or "resync").
 *
 * The stream starts first, then the lists are read, so nothing that happens in between is
 * lost: a queue row in a notice replaces the one shown, a transcript item is shown once
 * (each has a key). Everything anybody wrote is put in the page as text, never as HTML.
 */
(function () {
  "use strict";

  var TYPING_EVERY_MS = 2500; // the agent's "typing" is sent at most this often...
  var TYPING_IDLE_MS = 4000; // ...and "stopped" after this long without a key
  var SHOPPER_TYPING_MS = 6000; // the shopper's indicator goes after this long

  var state = {
    me: null, csrf: null, targets: {amber: 60, red: 180}, rows: {}, resolved: {},
    agents: [], view: "waiting", selected: null, conversation: null, shown: {},
    typingSent: 0, typingTimer: null, shopperTyping: null, loaded: false,
    // rows the stream brought while the queue was being read: the read may predate them,
    // so they are laid over its answer instead of being lost
    arrived: null,
  };

  function byId(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function safeUrl(raw) {
    try {
      var url = new URL(String(raw), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : null;
    } catch (e) { return null; }
  }

  function link(href, text) {
    var url = safeUrl(href);
    if (!url) return el("span", "", text);
    var a = el("a", "", text);
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  // --- talking to the shop ----------------------------------------------------------------

  async function api(method, path, body) {
    var headers = {"Accept": "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
    var response = await fetch(path, {
      method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) { signIn(); throw new Error("signed out"); }
    var data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    return {status: response.status, ok: response.ok, data: data};
  }

  function signIn() {
    window.location.assign("/staff/sign-in?next=/inbox");
  }

  function problem(result, fallback) {
    return (result.data && result.data.detail) || fallback;
  }

  function notice(text) {
    var node = byId("ib-notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // --- times --------------------------------------------------------------------------------

  function parseTs(ts) { return ts ? Date.parse(ts.replace(/Z?$/, "Z")) : NaN; }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }

  function clock(ts) {
    var t = parseTs(ts);
    return isNaN(t) ? "" : new Date(t).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  }

  // How long the shopper has been waiting for a person, and since when (or null).
  function waitingSince(row) {
    if (row.status === "waiting") return parseTs(row.created_at);
    if (row.status === "active" && row.awaiting_reply_since) return parseTs(row.awaiting_reply_since);
    return null;
  }

  function level(seconds) {
    if (seconds >= state.targets.red) return "red";
    if (seconds >= state.targets.amber) return "amber";
    return "ok";
  }

  // --- the queue ----------------------------------------------------------------------------

  function isMine(row) {
    if (!state.me) return false;
    if (row.agent_id !== null && row.agent_id !== undefined) return row.agent_id === state.me.id;
    return row.agent === state.me.name && state.me.id === null;
  }

  function viewOf(row) {
    if (row.status === "closed") return "resolved";
    if (row.status === "waiting") return "waiting";
    return isMine(row) ? "mine" : "others";
  }

  function allRows() {
    var rows = [];
    Object.keys(state.rows).forEach(function (id) { rows.push(state.rows[id]); });
    Object.keys(state.resolved).forEach(function (id) { rows.push(state.resolved[id]); });
    return rows;
  }

  function store(row) {
    delete state.rows[row.id];
    delete state.resolved[row.id];
    if (row.status === "closed") state.resolved[row.id] = row;
    else state.rows[row.id] = row;
  }

  function renderQueue() {
    var list = byId("ib-list");
    clear(list);
    var counts = {waiting: 0, mine: 0, others: 0, resolved: 0};
    var shown = allRows().filter(function (row) {
      counts[viewOf(row)] += 1;
      return viewOf(row) === state.view;
    });
    shown.sort(function (a, b) {
      if (state.view === "resolved") return parseTs(b.closed_at) - parseTs(a.closed_at);
      return parseTs(a.created_at) - parseTs(b.created_at) || a.id - b.id;
    });
    shown.forEach(function (row) { list.appendChild(queueItem(row)); });
    document.querySelectorAll("[data-count]").forEach(function (node) {
      node.textContent = counts[node.getAttribute("data-count")];
    });
    byId("ib-empty").hidden = shown.length > 0;
    byId("ib-empty").textContent = {waiting: "Nobody is waiting.", mine: "You hold no conversation.",
      others: "No other agent holds a conversation.", resolved: "Nothing resolved yet."}[state.view];
    document.title = (counts.waiting ? "(" + counts.waiting + ") " : "") + "Inbox";
    tick();
  }

  function queueItem(row) {
    var item = el("li", "ib-row");
    item.setAttribute("data-handoff", row.id);
    item.setAttribute("data-status", row.status);
    if (state.selected === row.id) item.classList.add("ib-row--selected");
    var button = el("button", "ib-row-button");
    button.type = "button";
    var top = el("div", "ib-row-top");
    top.appendChild(el("span", "ib-ref", row.reference));
    top.appendChild(el("span", "ib-reason ib-reason--" + row.reason_kind, row.reason_label));
    top.appendChild(el("span", "ib-channel", channelName(row.channel)));
    button.appendChild(top);
    var mid = el("div", "ib-row-mid");
    var wait = el("span", "ib-wait");
    wait.setAttribute("data-wait-for", row.id);
    mid.appendChild(wait);
    if (row.agent) mid.appendChild(el("span", "ib-agent", row.agent));
    if (row.cart_value) mid.appendChild(el("span", "ib-cart-value", "cart " + row.cart_value.formatted));
    button.appendChild(mid);
    if (row.orders && row.orders.length) {
      button.appendChild(el("div", "ib-row-orders", row.orders.map(function (o) {
        return o.number + " (" + o.status_label + ")";
      }).join(", ")));
    }
    if (row.status === "closed") {
      button.appendChild(el("div", "ib-row-outcome",
        (row.outcome === "resolved" ? "Resolved" : "Handed back") +
        (row.csat ? " · rated " + row.csat + "/5" : "")));
    }
    button.addEventListener("click", function () { select(row.id); });
    item.appendChild(button);
    return item;
  }

  function channelName(channel) {
    return {socketio: "Web chat", rest: "Web", telegram: "Telegram", twilio: "WhatsApp",
            whatsapp: "WhatsApp", facebook: "Messenger", slack: "Slack"}[channel] || channel;
  }

  // Waiting times count up every second, amber then red past the targets.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-wait-for]").forEach(function (node) {
      var row = state.rows[node.getAttribute("data-wait-for")];
      var since = row ? waitingSince(row) : null;
      if (since === null || isNaN(since)) {
        node.textContent = row && row.status === "active" ? "answered" : "";
        node.setAttribute("data-level", "none");
        return;
      }
      var seconds = (now - since) / 1000;
      node.textContent = (row.status === "waiting" ? "waiting " : "unanswered ") + duration(seconds);
      node.setAttribute("data-level", level(seconds));
    });
  }

  function setView(view) {
    state.view = view;
    document.querySelectorAll("[data-view]").forEach(function (tab) {
      tab.setAttribute("aria-selected", String(tab.getAttribute("data-view") === view));
    });
    renderQueue();
  }

  async function loadQueue() {
    state.arrived = [];
    var result = await api("GET", "/api/admin/support/inbox");
    var arrived = state.arrived || [];
    state.arrived = null;
    if (!result.ok) { notice(problem(result, "The inbox could not be read.")); return; }
    var data = result.data;
    state.me = data.me;
    state.targets = data.targets;
    state.agents = data.agents;
    state.rows = {};
    state.resolved = {};
    data.handoffs.forEach(store);
    data.resolved.forEach(store);
    arrived.forEach(store);
    var hours = data.support_hours;
    byId("ib-hours").textContent = hours.text === "always" ? "" :
      (hours.open_now ? "Open · " : "Closed, back " + hours.back_text + " · ") + hours.text;
    state.loaded = true;
    renderQueue();
    if (state.selected) await openConversation(state.selected);
  }

  // --- one conversation --------------------------------------------------------------------

  async function select(id) {
    state.selected = id;
    renderQueue();
    notice("");
    await openConversation(id);
  }

  async function openConversation(id) {
    var result = await api("GET", "/api/admin/support/inbox/" + id);
    if (state.selected !== id) return;
    if (!result.ok) { notice(problem(result, "This conversation could not be read.")); return; }
    state.conversation = result.data;
    store(Object.assign({}, state.rows[id] || state.resolved[id] || {}, rowPart(result.data)));
    renderConversation();
  }

  // The queue row inside a conversation document.
  function rowPart(doc) {
    var row = {};
    ["id", "reference", "status", "position", "conversation_id", "channel", "reason", "agent",
     "agent_id", "email", "waited_seconds", "created_at", "claimed_at", "closed_at",
     "reason_kind", "reason_label", "email_verified", "cart_value", "cart_items", "orders",
     "first_reply_at", "outcome", "csat", "awaiting_reply_since"].forEach(function (key) {
      row[key] = doc[key];
    });
    return row;
  }

  function renderConversation() {
    var doc = state.conversation;
    byId("ib-pick").hidden = true;
    byId("ib-thread").hidden = false;
    byId("ib-side").hidden = false;
    byId("ib-title").textContent = doc.reference + " · " + doc.reason_label;
    byId("ib-note").checked = false;  // the holder writes to the shopper unless they choose
    renderHead();
    var list = byId("ib-transcript");
    clear(list);
    state.shown = {};
    doc.transcript.forEach(addItem);
    renderCanned();
    renderSide();
    scrollDown();
  }

  function renderHead() {
    var doc = state.conversation;
    var row = state.rows[doc.id] || state.resolved[doc.id] || doc;
    var parts = [channelName(row.channel)];
    if (row.status === "waiting") parts.push("waiting" + (row.position ? ", #" + row.position + " in the queue" : ""));
    if (row.status === "active") parts.push("with " + row.agent);
    if (row.status === "closed") parts.push((row.outcome === "resolved" ? "resolved" : "handed back") +
      (row.csat ? ", rated " + row.csat + "/5" : ""));
    byId("ib-subtitle").textContent = parts.join(" · ");
    var mine = row.status === "active" && isMine(row);
    var admin = state.me && state.me.role === "admin";
    byId("ib-claim").hidden = row.status !== "waiting";
    byId("ib-unclaim").hidden = !(row.status === "active" && (mine || admin));
    byId("ib-handback").hidden = !(row.status === "waiting" || mine || (row.status === "active" && admin));
    byId("ib-resolve").hidden = byId("ib-handback").hidden;
    byId("ib-transfer-box").hidden = !(row.status === "waiting" ? admin : (mine || (row.status === "active" && admin)));
    fillTransfer(row);
    var open = row.status !== "closed";
    byId("ib-composer").hidden = !open;
    byId("ib-note").disabled = false;
    byId("ib-text").placeholder = mine ? "Write to the shopper (Enter sends, Shift+Enter for a new line; /shortcut + Tab for a canned reply)"
      : "Claim the conversation to write to the shopper; you can add internal notes.";
    if (!mine) byId("ib-note").checked = true;  // only the holder writes to the shopper
    byId("ib-note").disabled = !mine;
    noteMode();
  }

  function noteMode() {
    var note = byId("ib-note").checked;
    byId("ib-send").textContent = note ? "Add note" : "Send";
    byId("ib-composer").classList.toggle("ib-composer--note", note);
  }

  function fillTransfer(row) {
    var select = byId("ib-transfer");
    clear(select);
    var first = el("option", "", "Transfer to…");
    first.value = "";
    select.appendChild(first);
    state.agents.forEach(function (agent) {
      if (row.agent_id === agent.id) return;
      var option = el("option", "", agent.name + (agent.online ? " (online)" : ""));
      option.value = String(agent.id);
      select.appendChild(option);
    });
  }

  var WHO = {user: "Shopper", bot: "Aisle (bot)", activity: ""};

  function addItem(item) {
    if (!item || !item.key || state.shown[item.key]) return;
    state.shown[item.key] = true;
    var node = el("li", "ib-item ib-item--" + item.sender);
    node.setAttribute("data-key", item.key);
    if (item.sender === "activity") {
      node.appendChild(el("span", "ib-activity", item.text));
      node.appendChild(el("time", "ib-time", clock(item.ts)));
    } else {
      var head = el("div", "ib-item-head");
      var who = item.sender === "agent" ? item.agent : item.sender === "note" ? "Note · " + item.agent : WHO[item.sender];
      head.appendChild(el("span", "ib-who", who));
      head.appendChild(el("time", "ib-time", clock(item.ts)));
      if (item.sender === "agent" && item.delivered === false) {
        head.appendChild(el("span", "ib-undelivered", "not delivered"));
      }
      node.appendChild(head);
      node.appendChild(el("div", "ib-bubble", item.button ? "(button) " + item.text : item.text));
    }
    var list = byId("ib-transcript");
    var at = parseTs(item.ts);
    var before = null;
    if (!isNaN(at)) {  // in time order, whenever it arrives
      var children = list.children;
      for (var i = children.length - 1; i >= 0; i--) {
        var then = parseTs(children[i].getAttribute("data-ts"));
        if (isNaN(then) || then <= at) break;
        before = children[i];
      }
    }
    node.setAttribute("data-ts", item.ts || "");
    list.insertBefore(node, before);
  }

  function scrollDown() {
    var list = byId("ib-transcript");
    list.scrollTop = list.scrollHeight;
  }

  function renderCanned() {
    var select = byId("ib-canned");
    while (select.options.length > 1) select.remove(1);
    (state.conversation.canned_replies || []).forEach(function (reply) {
      var option = el("option", "", "/" + reply.shortcut + " · " + reply.title);
      option.value = reply.shortcut;
      select.appendChild(option);
    });
  }

  function cannedText(shortcut) {
    var found = (state.conversation.canned_replies || []).filter(function (r) {
      return r.shortcut === shortcut;
    })[0];
    return found ? found.filled : null;
  }

  // --- the shopper beside it -----------------------------------------------------------------

  function fact(list, term, value) {
    list.appendChild(el("dt", "", term));
    var dd = el("dd");
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = value || "–";
    list.appendChild(dd);
  }

  function renderSide() {
    var doc = state.conversation;
    var facts = byId("ib-shopper");
    clear(facts);
    fact(facts, "Channel", channelName(doc.channel));
    fact(facts, "Reason", doc.reason_label + " (" + doc.reason + ")");
    var email = el("span", "", doc.email || "–");
    if (doc.email) email.appendChild(el("span", doc.email_verified ? "ib-badge" : "ib-badge ib-badge--warn",
                                        doc.email_verified ? "verified" : "not verified"));
    fact(facts, "E-mail", email);
    fact(facts, "Asked", clock(doc.created_at) + (doc.first_reply_at ? " · first reply " + clock(doc.first_reply_at) : ""));
    renderCart(doc.cart);
    renderCheckout(doc.checkout);
    renderOrders(doc.order_details || []);
  }

  function renderCart(cart) {
    var box = byId("ib-cart");
    clear(box);
    byId("ib-promo").hidden = !cart || state.conversation.status === "closed";
    if (!cart || !cart.lines.length) { box.appendChild(el("p", "ib-hint", "The cart is empty.")); return; }
    var lines = el("ul", "ib-lines");
    cart.lines.forEach(function (line) {
      var li = el("li");
      li.appendChild(el("span", "", line.quantity + " × " + line.title +
                         (line.variant_title ? " (" + line.variant_title + ")" : "")));
      li.appendChild(el("span", "ib-money", line.line_total.formatted));
      lines.appendChild(li);
    });
    box.appendChild(lines);
    var totals = el("dl", "ib-facts");
    if (cart.promo_code) fact(totals, "Promo", cart.promo_code.code + (cart.promo_code.valid ? "" : " (" + cart.promo_code.reason + ")"));
    if (cart.totals.discount.amount) fact(totals, "Discount", "−" + cart.totals.discount.formatted);
    fact(totals, "Total", cart.totals.total.formatted);
    box.appendChild(totals);
  }

  function renderCheckout(checkout) {
    var box = byId("ib-checkout");
    clear(box);
    if (!checkout) { box.appendChild(el("p", "ib-hint", "No payment link sent yet.")); return; }
    var facts = el("dl", "ib-facts");
    fact(facts, "Status", checkout.status + (checkout.order_number ? " · " + checkout.order_number : ""));
    fact(facts, "Total", checkout.totals.total.formatted);
    if (checkout.payment_url) fact(facts, "Link", link(checkout.payment_url, "payment page"));
    box.appendChild(facts);
    if (state.conversation.status !== "closed" && checkout.status !== "completed") {
      var button = el("button", "ib-secondary", "Resend payment link");
      button.type = "button";
      button.id = "ib-resend-link";
      button.addEventListener("click", resendPaymentLink);
      box.appendChild(button);
    }
  }

  function renderOrders(orders) {
    var list = byId("ib-orders");
    clear(list);
    if (!orders.length) { list.appendChild(el("li", "ib-hint", "None.")); return; }
    orders.forEach(function (order) {
      var li = el("li", "ib-order");
      li.setAttribute("data-order", order.number);
      li.appendChild(el("div", "ib-order-head", order.number + " · " + order.status_label + " · " + order.total.formatted));
      var buttons = el("div", "ib-order-buttons");
      [["Status & shipments", showOrder], ["Refunds", showRefunds], ["Cancel", cancelOrder],
       ["Start a return", startReturn]].forEach(function (pair) {
        var button = el("button", "ib-small", pair[0]);
        button.type = "button";
        button.addEventListener("click", function () { pair[1](order, li); });
        buttons.appendChild(button);
      });
      li.appendChild(buttons);
      li.appendChild(el("div", "ib-order-detail"));
      list.appendChild(li);
    });
  }

  function orderPath(order, suffix) {
    return "/api/orders/" + encodeURIComponent(order.number) + (suffix || "") +
      "?email=" + encodeURIComponent(order.email);
  }

  function detailBox(li) {
    var box = li.querySelector(".ib-order-detail");
    clear(box);
    return box;
  }

  async function showOrder(order, li) {
    var result = await api("GET", orderPath(order));
    var box = detailBox(li);
    if (!result.ok) { box.textContent = problem(result, "The order could not be read."); return; }
    var o = result.data;
    box.appendChild(el("p", "", o.status_label || o.status));
    (o.lines || []).forEach(function (line) {
      box.appendChild(el("div", "ib-hint", line.quantity + " × " + (line.title || line.sku)));
    });
    (o.shipments || []).forEach(function (s) {
      var p = el("p", "", (s.carrier || "Parcel") + " " + (s.tracking_number || "") + " · " + (s.status || ""));
      if (s.tracking_url) { p.appendChild(document.createTextNode(" ")); p.appendChild(link(s.tracking_url, "track")); }
      box.appendChild(p);
    });
  }

  async function showRefunds(order, li) {
    var result = await api("GET", orderPath(order, "/refunds"));
    var box = detailBox(li);
    if (!result.ok) { box.textContent = problem(result, "The refunds could not be read."); return; }
    var refunds = result.data.refunds || [];
    if (!refunds.length) box.appendChild(el("p", "ib-hint", "No refund."));
    refunds.forEach(function (r) {
      box.appendChild(el("p", "", (r.amount && r.amount.formatted) + " · " + r.status));
    });
  }

  // Actions on the shopper's behalf go through the same shop routes the bot uses; each
  // leaves an internal note saying who did what.
  async function cancelOrder(order, li) {
    if (!window.confirm("Cancel order " + order.number + " for the shopper?")) return;
    var result = await api("POST", "/api/orders/" + encodeURIComponent(order.number) + "/cancel",
                           {email: order.email, reason: "asked in the chat"});
    detailBox(li).textContent = result.ok ? "Cancelled." : problem(result, "It could not be cancelled.");
    if (result.ok) await afterAction("Cancelled order " + order.number + " for the shopper.",
                                     order.number, "Cancelled.");
  }

  async function startReturn(order, li) {
    var found = await api("GET", orderPath(order));
    if (!found.ok) { detailBox(li).textContent = problem(found, "The order could not be read."); return; }
    var reason = window.prompt("Why is it coming back? (it returns every item of " + order.number + ")");
    if (!reason) return;
    var items = (found.data.lines || []).map(function (line) { return {sku: line.sku, quantity: line.quantity}; });
    var result = await api("POST", "/api/orders/" + encodeURIComponent(order.number) + "/returns",
                           {email: order.email, kind: "return", reason: reason, items: items});
    var said = result.ok ? "Return " + result.data.rma_number + " requested." :
      problem(result, "The return could not be started.");
    detailBox(li).textContent = said;
    if (result.ok) await afterAction("Started return " + result.data.rma_number + " for order " + order.number + ".",
                                     order.number, said);
  }

  async function applyPromo(event) {
    event.preventDefault();
    var code = byId("ib-promo-code").value.trim();
    var cart = state.conversation && state.conversation.cart;
    if (!code || !cart) return;
    var result = await api("PUT", "/api/carts/" + encodeURIComponent(cart.token) + "/promo-code", {code: code});
    if (!result.ok) { notice(problem(result, "The code was not applied.")); return; }
    byId("ib-promo-code").value = "";
    await afterAction("Applied promo code " + code + " (cart total now " + result.data.totals.total.formatted + ").");
  }

  async function resendPaymentLink() {
    var doc = state.conversation;
    var checkout = doc.checkout;
    var url = checkout.payment_url;
    if (!url && doc.cart) {  // expired: a new link for the same cart, address and method
      var result = await api("POST", "/api/carts/" + encodeURIComponent(doc.cart.token) + "/checkout", {
        email: checkout.email, shipping_address: checkout.shipping_address,
        shipping_method: checkout.shipping.method});
      if (!result.ok) { notice(problem(result, "No new payment link could be made.")); return; }
      url = result.data.payment_url;
    }
    if (!url) { notice("There is no payment link to send."); return; }
    if (!isMine(state.rows[doc.id] || {})) { notice("Claim the conversation to send the link."); return; }
    await sendReply("Here is your payment link: " + url);
    await afterAction("Sent the payment link again.");
  }

  // The note, then the conversation read again (the order's new status); what happened
  // stays written under the order, which the new reading drew afresh.
  async function afterAction(text, orderNumber, outcome) {
    await api("POST", "/api/admin/support/handoffs/" + state.conversation.id + "/notes", {text: text});
    await openConversation(state.conversation.id);
    if (!orderNumber) return;
    document.querySelectorAll("#ib-orders .ib-order").forEach(function (li) {
      if (li.getAttribute("data-order") === orderNumber) li.querySelector(".ib-order-detail").textContent = outcome;
    });
  }

  // --- what the agent does -------------------------------------------------------------------

  async function act(path, body, done) {
    var id = state.conversation.id;
    var result = await api("POST", "/api/admin/support/handoffs/" + id + path, body || {});
    if (!result.ok) { notice(problem(result, "That did not work; try again.")); return null; }
    notice(done || "");
    if (result.data && result.data.id) store(Object.assign({}, state.rows[id] || state.resolved[id], result.data));
    renderQueue();
    await openConversation(id);
    return result;
  }

  async function sendReply(text) {
    var id = state.conversation.id;
    var result = await api("POST", "/api/admin/support/handoffs/" + id + "/messages", {text: text});
    if (result.data && result.data.id) {
      addItem(Object.assign({key: "a" + result.data.id}, result.data));
      scrollDown();
    }
    if (!result.ok) notice(problem(result, "The message was not sent."));
    return result.ok;
  }

  async function submit(event) {
    event.preventDefault();
    var box = byId("ib-text");
    var text = box.value.trim();
    if (!text) return;
    var id = state.conversation.id;
    stopTyping();
    if (byId("ib-note").checked) {
      var result = await api("POST", "/api/admin/support/handoffs/" + id + "/notes", {text: text});
      if (result.ok) { box.value = ""; addItem(result.data); scrollDown(); }
      else notice(problem(result, "The note was not added."));
      return;
    }
    if (await sendReply(text)) box.value = "";
  }

  function typing() {
    var row = state.conversation && state.rows[state.conversation.id];
    if (!row || !isMine(row) || byId("ib-note").checked) return;
    var now = Date.now();
    if (now - state.typingSent > TYPING_EVERY_MS) {
      state.typingSent = now;
      api("POST", "/api/admin/support/handoffs/" + row.id + "/typing", {typing: true}).catch(function () {});
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typingTimer);
    if (!state.typingSent || !state.conversation) return;
    state.typingSent = 0;
    api("POST", "/api/admin/support/handoffs/" + state.conversation.id + "/typing", {typing: false}).catch(function () {});
  }

  function keydown(event) {
    var box = byId("ib-text");
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      byId("ib-composer").requestSubmit();
    } else if (event.key === "Tab" && /^\/[a-z0-9_-]+$/.test(box.value.trim())) {
      var filled = cannedText(box.value.trim().slice(1));
      if (filled !== null) { event.preventDefault(); box.value = filled; }
    }
  }

  // --- the live stream ----------------------------------------------------------------------

  function connect() {
    var connection = byId("ib-connection");
    var source = new EventSource("/inbox/events");
    source.addEventListener("hello", function (event) {
      var hello = JSON.parse(event.data);
      connection.textContent = hello.live_messages ? "Live" : "Live (shoppers' messages on reload)";
      connection.setAttribute("data-state", "online");
      byId("ib-me").textContent = hello.agent + " (" + hello.role + ")";
      byId("ib-canned-manage").hidden = hello.role !== "admin";
      state.targets = hello.targets;
      if (!hello.resumed) loadQueue();
    });
    source.addEventListener("resync", function () { loadQueue(); });
    source.addEventListener("handoff", function (event) {
      var row = JSON.parse(event.data).handoff;
      var before = state.rows[row.id] || state.resolved[row.id];
      if (state.arrived) state.arrived.push(row);
      store(row);
      renderQueue();
      if (state.conversation && state.conversation.id === row.id) {
        Object.assign(state.conversation, row);
        renderHead();
        if (before && before.status !== row.status) openConversation(row.id);
      }
    });
    source.addEventListener("message", function (event) {
      var data = JSON.parse(event.data);
      var row = state.rows[data.handoff_id];
      if (row && data.item.sender === "user" && !row.awaiting_reply_since) {
        row.awaiting_reply_since = data.item.ts;
        tick();
      }
      if (state.conversation && state.conversation.id === data.handoff_id) {
        if (data.item.sender === "user") byId("ib-typing").hidden = true;
        addItem(data.item);
        scrollDown();
      }
    });
    source.addEventListener("typing", function (event) {
      var data = JSON.parse(event.data);
      if (!state.conversation || state.conversation.id !== data.handoff_id || data.who !== "shopper") return;
      var node = byId("ib-typing");
      node.hidden = !data.typing;
      clearTimeout(state.shopperTyping);
      if (data.typing) state.shopperTyping = setTimeout(function () { node.hidden = true; }, SHOPPER_TYPING_MS);
    });
    source.addEventListener("canned", function () {
      if (state.conversation) openConversation(state.conversation.id);
      if (byId("ib-canned-dialog").open) loadCannedList();
    });
    source.onerror = function () {
      connection.textContent = "Reconnecting…";
      connection.setAttribute("data-state", "offline");
    };
  }

  // --- canned replies (admins) ----------------------------------------------------------------

  async function loadCannedList() {
    var result = await api("GET", "/api/admin/support/canned-replies");
    var list = byId("ib-canned-list");
    clear(list);
    (result.data ? result.data.canned_replies : []).forEach(function (reply) {
      var li = el("li");
      var edit = el("button", "ib-link", "/" + reply.shortcut + " · " + reply.title);
      edit.type = "button";
      edit.addEventListener("click", function () { editCanned(reply); });
      var remove = el("button", "ib-small", "Delete");
      remove.type = "button";
      remove.addEventListener("click", async function () {
        if (!window.confirm("Delete /" + reply.shortcut + "?")) return;
        await api("DELETE", "/api/admin/support/canned-replies/" + reply.id);
        loadCannedList();
      });
      li.appendChild(edit);
      li.appendChild(remove);
      list.appendChild(li);
    });
  }

  function editCanned(reply) {
    byId("ib-canned-id").value = reply ? reply.id : "";
    byId("ib-canned-shortcut").value = reply ? reply.shortcut : "";
    byId("ib-canned-title").value = reply ? reply.title : "";
    byId("ib-canned-text").value = reply ? reply.text : "";
    byId("ib-canned-error").hidden = true;
  }

  async function saveCanned(event) {
    event.preventDefault();
    var id = byId("ib-canned-id").value;
    var body = {shortcut: byId("ib-canned-shortcut").value.trim(),
                title: byId("ib-canned-title").value.trim(), text: byId("ib-canned-text").value.trim()};
    var result = await api(id ? "PUT" : "POST", "/api/admin/support/canned-replies" + (id ? "/" + id : ""), body);
    var error = byId("ib-canned-error");
    if (!result.ok) { error.textContent = problem(result, "Not saved."); error.hidden = false; return; }
    editCanned(null);
    loadCannedList();
  }

  // --- start ------------------------------------------------------------------------------------

  function wire() {
    document.querySelectorAll("[data-view]").forEach(function (tab) {
      tab.addEventListener("click", function () { setView(tab.getAttribute("data-view")); });
    });
    byId("ib-claim").addEventListener("click", function () {
      act("/claim", {}, "").then(function (result) {
        if (result) setView("mine");
      });
    });
    byId("ib-unclaim").addEventListener("click", function () { act("/unclaim", {}, "Back in the queue."); });
    byId("ib-handback").addEventListener("click", function () { act("/release", {}, "Handed back to the assistant."); });
    byId("ib-resolve").addEventListener("click", function () { act("/resolve", {}, "Resolved: the shopper is asked for a rating."); });
    byId("ib-transfer").addEventListener("change", function (event) {
      var to = Number(event.target.value);
      if (to) act("/transfer", {agent_id: to}, "Transferred.");
    });
    byId("ib-composer").addEventListener("submit", submit);
    byId("ib-text").addEventListener("keydown", keydown);
    byId("ib-text").addEventListener("input", typing);
    byId("ib-note").addEventListener("change", noteMode);
    byId("ib-canned").addEventListener("change", function (event) {
      var filled = cannedText(event.target.value);
      if (filled !== null) {
        var box = byId("ib-text");
        box.value = box.value ? box.value + " " + filled : filled;
        box.focus();
      }
      event.target.value = "";
    });
    byId("ib-promo").addEventListener("submit", applyPromo);
    byId("ib-sign-out").addEventListener("click", async function () {
      await api("DELETE", "/api/admin/support/presence").catch(function () {});
      await api("DELETE", "/api/staff/sessions/current").catch(function () {});
      signIn();
    });
    byId("ib-canned-manage").addEventListener("click", function () {
      editCanned(null);
      loadCannedList();
      byId("ib-canned-dialog").showModal();
    });
    byId("ib-canned-form").addEventListener("submit", saveCanned);
    byId("ib-canned-new").addEventListener("click", function () { editCanned(null); });
    byId("ib-canned-close").addEventListener("click", function () { byId("ib-canned-dialog").close(); });
    setInterval(tick, 1000);
  }

  async function start() {
    wire();
    var me;
    try { me = await api("GET", "/api/staff/me"); } catch (e) { return; }
    if (!me.ok) { signIn(); return; }
    state.csrf = me.data.csrf_token;
    connect();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
