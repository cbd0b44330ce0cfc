/* Aisle web chat: a small widget that talks to Rasa's socketio channel.
 *
 * No library: Socket.IO v5 over Engine.IO v4 is a short text protocol on one WebSocket
 * (the page works offline and on shops that allow no third-party script).
 *   server "0{sid, pingInterval, pingTimeout}"  open          client "40"   connect
 *   server "40{sid}"                             connected     server "2" -> client "3"
 *   client 42["session_request", {session_id}]   server 42["session_confirm", id]
 *   client 42["user_uttered", {message, session_id}]
 *   server 42["bot_uttered", {text, quick_replies, attachment, cards, agent, ...}]
 * The session id lives in localStorage, so with Rasa's session_persistence a reload or a new
 * tab continues the same conversation; the messages shown are kept there too.
 * See docs/web-chat.md for the message shapes and how to embed the widget.
 */
(function () {
  "use strict";

  var MAX_KEPT = 100; // messages kept for a reload
  var TYPING_TIMEOUT_MS = 20000;
  var MAX_BACKOFF_MS = 15000;

  // --- Socket.IO v5 client (WebSocket transport only) ------------------------------------

  function socketUrl(base) {
    var url = new URL(base || "/", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (url.pathname === "" || url.pathname === "/") url.pathname = "/socket.io/";
    if (url.pathname.slice(-1) !== "/") url.pathname += "/";
    url.search = "?EIO=4&transport=websocket";
    return url.toString();
  }

  function SocketIO(url, on) {
    this.url = url;
    this.on = on; // {open(), close(), event(name, data)}
    this.attempts = 0;
    this.ws = null;
    this.watchdog = null;
    this.stopped = false;
  }

  SocketIO.prototype.connect = function () {
    var self = this;
    var ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = function (message) { self.packet(String(message.data)); };
    ws.onclose = function () {
      if (self.ws !== ws) return;
      self.ws = null;
      clearTimeout(self.watchdog);
      self.on.close();
      self.retry();
    };
    ws.onerror = function () { ws.close(); };
  };

  SocketIO.prototype.retry = function () {
    if (this.stopped) return;
    // 0.5 s, 1 s, 2 s ... up to 15 s, with jitter so that a restarted Rasa is not hit by
    // every open page at the same instant
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, this.attempts++));
    setTimeout(this.connect.bind(this), delay * (0.5 + Math.random() / 2));
  };

  SocketIO.prototype.packet = function (data) {
    var type = data.charAt(0);
    if (type === "0") { // Engine.IO open: say hello to the default namespace
      var open = JSON.parse(data.slice(1));
      this.liveness = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
      this.alive();
      this.send("40");
    } else if (type === "2") { // ping
      this.alive();
      this.send("3");
    } else if (type === "1") { // the server closes
      if (this.ws) this.ws.close();
    } else if (type === "4") {
      this.message(data.slice(1));
    }
  };

  SocketIO.prototype.message = function (data) {
    var type = data.charAt(0);
    if (type === "0") { // namespace connected
      this.attempts = 0;
      this.on.open();
    } else if (type === "2") { // event, possibly with an ack id before the array
      var body = JSON.parse(data.slice(1).replace(/^\d+/, ""));
      this.on.event(body[0], body[1]);
    } else if ((type === "1" || type === "4") && this.ws) { // disconnected or refused
      this.ws.close();
    }
  };

  SocketIO.prototype.alive = function () {
    var self = this;
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(function () { if (self.ws) self.ws.close(); }, this.liveness);
  };

  SocketIO.prototype.send = function (text) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  };

  SocketIO.prototype.emit = function (name, data) {
    this.send("42" + JSON.stringify([name, data]));
  };

  // --- what is kept across reloads --------------------------------------------------------

  function newSessionId() {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID().replace(/-/g, "");
    }
    var hex = "";
    for (var i = 0; i < 32; i++) hex += Math.floor(Math.random() * 16).toString(16);
    return hex;
  }

  function Memory(key) {
    this.key = "aisle-chat:" + key;
    var saved = {};
    try { saved = JSON.parse(window.localStorage.getItem(this.key)) || {}; } catch (e) {}
    this.sessionId = saved.sessionId || newSessionId();
    this.log = Array.isArray(saved.log) ? saved.log : [];
    this.agent = saved.agent || null;
    this.save();
  }

  Memory.prototype.save = function () {
    this.log = this.log.slice(-MAX_KEPT);
    try {
      window.localStorage.setItem(this.key, JSON.stringify(
        {sessionId: this.sessionId, log: this.log, agent: this.agent}));
    } catch (e) { /* private mode or full: the chat still works, without memory */ }
  };

  // --- building the widget ---------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(raw) {
    try {
      var url = new URL(String(raw), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.toString() : null;
    } catch (e) {
      return null;
    }
  }

  // Text with its web addresses as links (payment links, tracking links).
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var pattern = /https?:\/\/[^\s<>"']+/g;
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var address = match[0].replace(/[).,;:!?]+$/, "");
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      var link = el("a", "", address);
      link.href = address;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      fragment.appendChild(link);
      last = match.index + address.length;
      pattern.lastIndex = last;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function priceText(price) {
    if (price && typeof price === "object") return price.formatted || "";
    return price === undefined || price === null ? "" : String(price);
  }

  function Chat(root) {
    this.root = root;
    this.shopName = root.getAttribute("data-shop-name") || "the shop";
    this.mode = root.getAttribute("data-mode") || "page";
    var url = socketUrl(root.getAttribute("data-socket-url"));
    this.memory = new Memory(url);
    this.ready = false;
    this.pending = [];
    this.build();
    this.replay();
    this.socket = new SocketIO(url, {
      open: this.connected.bind(this),
      close: this.disconnected.bind(this),
      event: this.received.bind(this),
    });
    this.status("connecting", "Connecting…");
    this.socket.connect();
  }

  Chat.prototype.build = function () {
    var root = this.root;
    root.classList.add("aisle-chat");
    root.setAttribute("role", "region");
    root.setAttribute("aria-label", "Chat with " + this.shopName);
    var header = el("div", "aisle-chat__header");
    header.appendChild(el("div", "aisle-chat__title", this.shopName));
    this.statusNode = el("div", "aisle-chat__status");
    header.appendChild(this.statusNode);
    root.appendChild(header);
    this.banner = el("div", "aisle-chat__banner");
    this.banner.hidden = true;
    root.appendChild(this.banner);
    this.log = el("div", "aisle-chat__log");
    this.log.setAttribute("aria-live", "polite");
    this.typing = el("div", "aisle-chat__typing");
    this.typing.setAttribute("aria-label", "typing");
    for (var i = 0; i < 3; i++) this.typing.appendChild(el("span"));
    this.typing.hidden = true;
    this.log.appendChild(this.typing);
    root.appendChild(this.log);
    this.buildForm();
    if (this.mode === "launcher") this.buildLauncher(header);
  };

  Chat.prototype.buildForm = function () {
    var self = this;
    var form = el("form", "aisle-chat__form");
    var label = el("label", "aisle-chat__sr", "Your message");
    label.setAttribute("for", "aisle-chat-input");
    this.input = el("input", "aisle-chat__input");
    this.input.id = "aisle-chat-input";
    this.input.type = "text";
    this.input.autocomplete = "off";
    this.input.maxLength = 1000;
    this.input.placeholder = "Type a message…";
    var send = el("button", "aisle-chat__send", "Send");
    send.type = "submit";
    form.appendChild(label);
    form.appendChild(this.input);
    form.appendChild(send);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = self.input.value.trim();
      if (!text) return;
      self.input.value = "";
      self.say(text, text);
    });
    this.root.appendChild(form);
  };

  Chat.prototype.buildLauncher = function (header) {
    var self = this;
    var launcher = el("button", "aisle-chat-launcher", "💬");
    launcher.type = "button";
    launcher.setAttribute("aria-label", "Chat with " + this.shopName);
    var close = el("button", "aisle-chat__close", "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close the chat");
    header.appendChild(close);
    this.root.hidden = true;
    launcher.addEventListener("click", function () {
      self.root.hidden = !self.root.hidden;
      if (!self.root.hidden) self.input.focus();
    });
    close.addEventListener("click", function () { self.root.hidden = true; });
    document.body.appendChild(launcher);
  };

  // --- the connection --------------------------------------------------------------------

  Chat.prototype.status = function (state, text) {
    this.statusNode.setAttribute("data-state", state);
    this.statusNode.textContent = text;
    this.root.setAttribute("data-connection", state);
  };

  Chat.prototype.connected = function () {
    this.socket.emit("session_request", {session_id: this.memory.sessionId});
  };

  Chat.prototype.disconnected = function () {
    this.ready = false;
    this.status("offline", "Reconnecting…");
  };

  Chat.prototype.received = function (name, data) {
    if (name === "session_confirm") {
      this.ready = true;
      this.status("online", "Online");
      var waiting = this.pending;
      this.pending = [];
      for (var i = 0; i < waiting.length; i++) this.transmit(waiting[i]);
    } else if (name === "bot_uttered" && data && typeof data === "object") {
      this.showTyping(false);
      this.remember("bot", data);
      this.render("bot", data, true);
    }
  };

  Chat.prototype.transmit = function (payload) {
    if (!this.ready) {
      this.pending.push(payload);
      return;
    }
    this.socket.emit("user_uttered", {message: payload, session_id: this.memory.sessionId});
  };

  // The shopper says something: ``shown`` in the log, ``payload`` to Rasa (a button shows its
  // title and sends its payload, e.g. /select_product{"product_id": 12}).
  Chat.prototype.say = function (shown, payload) {
    var data = {text: shown};
    this.remember("user", data);
    this.render("user", data, true);
    this.transmit(payload);
    this.showTyping(true);
  };

  Chat.prototype.showTyping = function (on) {
    var self = this;
    clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    if (on) {
      this.typingTimer = setTimeout(function () { self.typing.hidden = true; },
                                    TYPING_TIMEOUT_MS);
      this.scroll();
    }
  };

  Chat.prototype.remember = function (who, data) {
    this.memory.log.push({who: who, data: data});
    if (who === "bot" && data.handoff === "ended") this.memory.agent = null;
    else if (who === "bot" && data.agent) this.memory.agent = String(data.agent);
    this.memory.save();
  };

  Chat.prototype.replay = function () {
    var log = this.memory.log;
    for (var i = 0; i < log.length; i++) {
      this.render(log[i].who, log[i].data, i === log.length - 1);
    }
    this.showAgent(this.memory.agent);
  };

  // --- rendering one message -------------------------------------------------------------

  Chat.prototype.render = function (who, data, live) {
    var kind = who === "user" ? "user" : (data.agent ? "agent" : "bot");
    var message = el("div", "aisle-chat__msg aisle-chat__msg--" + kind);
    if (kind === "agent") message.appendChild(el("div", "aisle-chat__who", data.agent));
    if (typeof data.text === "string" && data.text) {
      var bubble = el("div", "aisle-chat__bubble");
      bubble.appendChild(richText(data.text));
      message.appendChild(bubble);
    }
    this.renderImages(message, data);
    this.renderCards(message, data);
    var buttons = data.quick_replies || data.buttons;
    if (Array.isArray(buttons) && buttons.length) {
      message.appendChild(this.buttonRow(buttons, live, Boolean(data.quick_replies)));
    }
    if (who === "bot") this.handoffState(data);
    if (!message.childNodes.length) return; // nothing this widget knows how to show
    this.log.insertBefore(message, this.typing);
    this.scroll();
  };

  Chat.prototype.renderImages = function (message, data) {
    var attachment = data.attachment || {};
    var sources = [data.image];
    if (attachment.type === "image" && attachment.payload) sources.push(attachment.payload.src);
    for (var i = 0; i < sources.length; i++) {
      var src = sources[i] && safeUrl(sources[i]);
      if (!src) continue;
      var image = el("img", "aisle-chat__image");
      image.src = src;
      image.alt = "";
      image.loading = "lazy";
      message.appendChild(image);
    }
  };

  // Product cards: custom {"cards": [...]} or Rasa's generic template (elements).
  Chat.prototype.renderCards = function (message, data) {
    var cards = data.cards;
    var attachment = data.attachment || {};
    if (!cards && attachment.type === "template" && attachment.payload) {
      cards = attachment.payload.elements;
    }
    if (!cards && data.elements) cards = data.elements;
    if (cards && !Array.isArray(cards)) cards = [cards];
    if (!cards || !cards.length) return;
    var row = el("div", "aisle-chat__cards");
    for (var i = 0; i < cards.length; i++) {
      if (cards[i] && typeof cards[i] === "object") row.appendChild(this.card(cards[i]));
    }
    message.classList.add("aisle-chat__msg--wide");
    message.appendChild(row);
  };

  Chat.prototype.card = function (card) {
    var node = el("div", "aisle-chat__card");
    var image = safeUrl(card.image_url || card.image || "");
    if (image) {
      var img = el("img");
      img.src = image;
      img.alt = card.title || "";
      img.loading = "lazy";
      // An image that cannot load (offline, moved) leaves a quiet placeholder, not alt text.
      img.addEventListener("error", function () {
        if (img.parentNode) img.parentNode.replaceChild(el("div", "aisle-chat__image-missing"), img);
      });
      node.appendChild(img);
    }
    var body = el("div", "aisle-chat__card-body");
    body.appendChild(el("div", "aisle-chat__card-title", card.title || ""));
    if (card.subtitle) body.appendChild(el("div", "aisle-chat__card-subtitle", card.subtitle));
    var price = priceText(card.price);
    if (price) body.appendChild(el("div", "aisle-chat__card-price", price));
    node.appendChild(body);
    if (Array.isArray(card.buttons) && card.buttons.length) {
      node.appendChild(this.buttonRow(card.buttons, true, false));
    }
    return node;
  };

  // Buttons send their payload and show their title; a button with a url is a link.
  // Quick replies are one-off: once one is chosen, the row is disabled.
  Chat.prototype.buttonRow = function (buttons, live, oneOff) {
    var self = this;
    var row = el("div", "aisle-chat__buttons");
    buttons.forEach(function (button) {
      if (!button || !button.title) return;
      var url = button.url && safeUrl(button.url);
      var node;
      if (url) {
        node = el("a", "aisle-chat__button", button.title);
        node.href = url;
        node.target = "_blank";
        node.rel = "noopener noreferrer";
      } else {
        node = el("button", "aisle-chat__button", button.title);
        node.type = "button";
        node.disabled = !live && oneOff;
        node.addEventListener("click", function () {
          if (oneOff) row.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
          self.say(button.title, button.payload || button.title);
        });
      }
      row.appendChild(node);
    });
    return row;
  };

  // An agent's messages carry {"agent": name}; {"handoff": "waiting" | "ended"} changes the
  // banner (sent by the handoff actions).
  Chat.prototype.handoffState = function (data) {
    if (data.handoff === "ended") this.showAgent(null);
    else if (data.agent) this.showAgent(String(data.agent));
    else if (data.handoff === "waiting") this.showBanner("Connecting you with a person from " +
                                                         this.shopName + "…");
  };

  Chat.prototype.showAgent = function (agent) {
    if (agent) this.showBanner("You are talking with " + agent + " from " + this.shopName + ".");
    else this.showBanner(null);
  };

  Chat.prototype.showBanner = function (text) {
    this.banner.hidden = !text;
    this.banner.textContent = text || "";
  };

  Chat.prototype.scroll = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  function start() {
    var root = document.getElementById("aisle-chat");
    if (root && !root.aisleChat) root.aisleChat = new Chat(root);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
