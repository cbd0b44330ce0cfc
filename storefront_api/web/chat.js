/* Aisle web chat: a small widget that talks to Rasa's socketio channel.
 *
 * Before connecting, the page asks the shop (POST /api/chat/sessions, same origin) for a
 * token: the shop chooses the conversation id and signs it; Rasa's channel lets the socket
 * talk only in the conversation its token names. Token and conversation id live in
 * localStorage, so a reload or a new tab continues the same conversation; the token is
 * renewed (same conversation) before it expires or when Rasa refuses it.
 *
 * No library: Socket.IO v5 over Engine.IO v4 is a short text protocol on one WebSocket
 * (the page works offline and on shops that allow no third-party script).
 *   server "0{sid, pingInterval, pingTimeout}"  open          client '40{"token": T}' connect
 *   server "40{sid}"  connected, or "44{message}" refused     server "2" -> client "3"
 *   client 42["session_request", {session_id}]   server 42["session_confirm", id]
 *   client 42["user_uttered", {message, session_id}]
 *   server 42["bot_uttered", {text, quick_replies, attachment, cards, agent, ...}]
 * The messages shown are kept in localStorage too.
 *
 * While a person from the shop holds the conversation (the bot said {"handoff": "waiting"}
 * or an agent wrote), the page also tells the shop when the shopper types
 * (POST /api/chat/typing with the chat token, at most every few seconds; never the text)
 * and listens to /chat/events (server-sent events, the token in the query) for the agent
 * typing or joining. Keystrokes never go through Rasa.
 * See docs/web-chat.md for the message shapes and how to embed the widget.
 */
(function () {
  "use strict";

  // The script tag that loaded the widget: it may carry the settings itself (one tag to
  // embed the chat, docs/web-chat.md). Only set while the script first runs.
  var SCRIPT = document.currentScript;

  var MAX_KEPT = 100; // messages kept for a reload
  var TYPING_TIMEOUT_MS = 20000;
  var MAX_BACKOFF_MS = 15000;
  var RENEW_BEFORE_MS = 10 * 60 * 1000; // a token is renewed this long before it expires
  var MAX_TIMER_MS = 2147483647; // setTimeout's longest delay
  var TYPING_EVERY_MS = 2500; // "typing" told to the shop at most this often...
  var TYPING_IDLE_MS = 4000; // ...and "stopped" after this long without a key
  var AGENT_TYPING_MS = 8000; // the agent's indicator goes after this long without news

  // A random number in [0, 1) from the browser's CSPRNG (no Math.random anywhere).
  function random() {
    var value = new Uint32Array(1);
    window.crypto.getRandomValues(value);
    return value[0] / 4294967296;
  }

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
    // {token() -> Promise of the token, open(), close(), refused(), event(name, data)}
    this.on = on;
    this.attempts = 0;
    this.attempt = 0; // each connect() starts a new attempt; older ones are ignored
    this.ws = null;
    this.token = null;
    this.watchdog = null;
    this.retryTimer = null;
    this.stopped = false;
  }

  SocketIO.prototype.connect = function () {
    var self = this;
    var attempt = ++this.attempt;
    clearTimeout(this.retryTimer);
    this.on.token().then(function (token) {
      if (attempt !== self.attempt) return;
      self.token = token;
      self.open();
    }, function () {
      if (attempt === self.attempt) self.retry(); // the shop did not answer: later
    });
  };

  // Drop the connection and connect again at once (with a renewed token).
  SocketIO.prototype.reconnect = function () {
    this.drop();
    this.attempts = 0;
    this.on.close();
    this.connect();
  };

  SocketIO.prototype.drop = function () {
    var ws = this.ws;
    this.ws = null; // its close event is then not ours to handle
    clearTimeout(this.watchdog);
    if (ws) ws.close();
  };

  SocketIO.prototype.open = function () {
    var self = this;
    var ws;
    this.drop();
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = function (message) {
      if (self.ws === ws) self.packet(String(message.data));
    };
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
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(this.connect.bind(this), delay * (0.5 + random() / 2));
  };

  SocketIO.prototype.packet = function (data) {
    var type = data.charAt(0);
    if (type === "0") { // Engine.IO open: connect to the default namespace with the token
      var open = JSON.parse(data.slice(1));
      this.liveness = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
      this.alive();
      this.send("40" + JSON.stringify({token: this.token}));
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
    } else if (type === "4") { // refused: the token is no good any more, renew it
      this.on.refused();
      if (this.ws) this.ws.close();
    } else if (type === "1" && this.ws) { // disconnected by the server
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

  // The conversation this browser is in: the id the shop chose, the token it signed for
  // it (expiresAt in unix seconds), and the messages shown. A saved conversation without a
  // token (an older version of the widget chose its own id) cannot be continued.
  function Memory(key) {
    this.key = "aisle-chat:" + key;
    var saved = {};
    try { saved = JSON.parse(window.localStorage.getItem(this.key)) || {}; } catch (e) {}
    if (typeof saved.token !== "string" || typeof saved.conversationId !== "string") saved = {};
    this.conversationId = saved.conversationId || null;
    this.token = saved.token || null;
    this.expiresAt = Number(saved.expiresAt) || 0;
    this.log = Array.isArray(saved.log) ? saved.log : [];
    this.agent = saved.agent || null;
    this.handoff = saved.handoff || null; // "waiting" | "active" | null: a person holds it
    this.save();
  }

  Memory.prototype.save = function () {
    this.log = this.log.slice(-MAX_KEPT);
    try {
      window.localStorage.setItem(this.key, JSON.stringify(
        {conversationId: this.conversationId, token: this.token, expiresAt: this.expiresAt,
         log: this.log, agent: this.agent, handoff: this.handoff}));
    } catch (e) { /* private mode or full: the chat still works, without memory */ }
  };

  // A session from the shop: the same conversation renewed, or a new one (then what was
  // shown belongs to the old conversation and is forgotten).
  Memory.prototype.adopt = function (session) {
    var changed = session.conversation_id !== this.conversationId;
    if (changed) {
      this.log = [];
      this.agent = null;
      this.handoff = null;
    }
    this.conversationId = session.conversation_id;
    this.token = session.token;
    this.expiresAt = Number(session.expires_at) || 0;
    this.save();
    return changed;
  };

  Memory.prototype.fresh = function () {
    return Boolean(this.token) && this.expiresAt * 1000 - Date.now() > RENEW_BEFORE_MS;
  };

  // POST the session route; resolves with {conversation_id, token, expires_at}, or
  // rejects with the HTTP status (0: unreachable).
  function requestSession(url, previousToken) {
    var body = previousToken ? {token: previousToken} : {};
    return window.fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body),
    }).then(function (response) {
      if (!response.ok) throw response.status;
      return response.json();
    }, function () { throw 0; });
  }

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

  // Text with its web addresses as links (payment links, tracking links). In the bot's and
  // an agent's messages also **bold** and [a link](https://...): built as DOM nodes, never as
  // HTML, and a link only to an absolute http(s) address (anything else stays plain text).
  var PLAIN = /https?:\/\/[^\s<>"']+/g;
  var MARKDOWN = /\*\*([^*\n](?:[^*\n]|\*(?!\*)){0,500}?)\*\*|\[([^\[\]\n]{1,300})\]\(([^()\s]{1,2000})\)|https?:\/\/[^\s<>"']+/g;

  function link(address, text) {
    var node = el("a", "", text);
    node.href = address;
    node.target = "_blank";
    node.rel = "noopener noreferrer";
    return node;
  }

  function richText(text, markdown) {
    var fragment = document.createDocumentFragment();
    var pattern = new RegExp((markdown ? MARKDOWN : PLAIN).source, "g");
    var last = 0;
    var match;
    while ((match = pattern.exec(text)) !== null) {
      var end = match.index + match[0].length;
      fragment.appendChild(document.createTextNode(text.slice(last, match.index)));
      if (match[1] !== undefined) { // **bold** (its addresses still links)
        var strong = el("strong");
        strong.appendChild(richText(match[1], false));
        fragment.appendChild(strong);
      } else if (match[2] !== undefined) { // [text](address)
        var target = /^https?:\/\//i.test(match[3]) ? safeUrl(match[3]) : null;
        fragment.appendChild(target ? link(target, match[2])
                                    : document.createTextNode(match[0]));
      } else { // a bare address, without the punctuation that ends its sentence
        var address = match[0].replace(/[).,;:!?]+$/, "");
        end = match.index + address.length;
        fragment.appendChild(link(address, address));
      }
      last = end;
      pattern.lastIndex = end;
    }
    fragment.appendChild(document.createTextNode(text.slice(last)));
    return fragment;
  }

  function priceText(price) {
    if (price && typeof price === "object") return price.formatted || "";
    return price === undefined || price === null ? "" : String(price);
  }

  // What the greeting offers: data-suggestions='[{"title": "...", "payload": "..."}]' on the
  // widget's element, else these (text goes through the assistant's language understanding,
  // a payload starting with "/" names the intent).
  var SUGGESTIONS = [
    {title: "Show me t-shirts", payload: "Show me t-shirts"},
    {title: "My cart", payload: "/view_cart"},
    {title: "Track an order", payload: "/track_order"},
    {title: "Talk to a person", payload: "/human_handoff"},
  ];

  function suggestions(raw) {
    var chosen = null;
    try { chosen = raw ? JSON.parse(raw) : null; } catch (e) { chosen = null; }
    if (!Array.isArray(chosen)) return SUGGESTIONS;
    chosen = chosen.filter(function (s) {
      return s && typeof s.title === "string" && s.title &&
        (s.payload === undefined || typeof s.payload === "string");
    }).slice(0, 6);
    return chosen.length ? chosen : SUGGESTIONS;
  }

  function Chat(root) {
    this.root = root;
    this.shopName = root.getAttribute("data-shop-name") || "the shop";
    this.mode = root.getAttribute("data-mode") || "page";
    var url = socketUrl(root.getAttribute("data-socket-url"));
    this.sessionUrl = new URL(root.getAttribute("data-session-url") || "/api/chat/sessions",
                              window.location.href).toString();
    // Where the page tells the shop about typing, and hears the agent's (same origin).
    this.typingUrl = new URL(root.getAttribute("data-typing-url") || "/api/chat/typing",
                             window.location.href).toString();
    this.streamUrl = new URL(root.getAttribute("data-stream-url") || "/chat/events",
                             window.location.href).toString();
    // The count of the conversation's cart, shown in the header (same origin).
    this.cartUrl = new URL(root.getAttribute("data-cart-url") || "/api/chat/cart",
                           window.location.href).toString();
    this.suggestions = suggestions(root.getAttribute("data-suggestions"));
    this.typingSent = 0;
    this.stream = null;
    this.memory = new Memory(url);
    this.mustRenew = false;
    this.ready = false;
    this.pending = [];
    this.build();
    this.replay();
    if (!this.memory.log.length) this.greet();
    this.socket = new SocketIO(url, {
      token: this.sessionToken.bind(this),
      open: this.connected.bind(this),
      close: this.disconnected.bind(this),
      refused: this.refused.bind(this),
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
    this.cartNode = this.buildCartCounter();
    header.appendChild(this.cartNode);
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
    this.typingWho = el("em", "aisle-chat__typing-who");
    this.typingWho.hidden = true;
    this.typing.appendChild(this.typingWho);
    this.typing.hidden = true;
    this.log.appendChild(this.typing);
    root.appendChild(this.log);
    this.buildForm();
    if (this.mode === "launcher") this.buildLauncher(header);
  };

  // The cart counter: how many items the conversation's cart holds; pressing it asks the
  // assistant for the cart.
  Chat.prototype.buildCartCounter = function () {
    var self = this;
    var node = el("button", "aisle-chat__cart");
    node.type = "button";
    node.hidden = true;
    node.appendChild(el("span", "aisle-chat__cart-icon", "\uD83D\uDED2"));
    this.cartCount = el("span", "aisle-chat__cart-count", "0");
    node.appendChild(this.cartCount);
    node.addEventListener("click", function () { self.say("My cart", "/view_cart"); });
    return node;
  };

  Chat.prototype.showCart = function (items) {
    this.cartNode.hidden = false;
    this.cartCount.textContent = String(items);
    this.cartNode.setAttribute("data-items", String(items));
    this.cartNode.setAttribute("aria-label", items === 1 ? "Your cart: 1 item"
                                                          : "Your cart: " + items + " items");
  };

  // Ask the shop how full the cart is (after the bot answers: it may have changed it). Several
  // answers in a row cost one request.
  Chat.prototype.refreshCart = function () {
    var self = this;
    clearTimeout(this.cartTimer);
    this.cartTimer = setTimeout(function () {
      if (!self.memory.token) return;
      window.fetch(self.cartUrl, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: {"Content-Type": "application/json", "Accept": "application/json"},
        body: JSON.stringify({token: self.memory.token}),
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (cart) {
        if (cart && typeof cart.items === "number") {
          self.showCart(cart.items);
          // the page around the chat may show the same cart (the demo shop front does)
          document.dispatchEvent(new CustomEvent("aisle-chat:cart", {detail: {items: cart.items}}));
        }
      }).catch(function () { /* only a counter */ });
    }, 300);
  };

  // The opening of a conversation: a greeting and a few things to ask, as quick replies (kept
  // with the messages, so a reload shows them as they were).
  Chat.prototype.greet = function () {
    var data = {text: "Hi! I'm the assistant of " + this.shopName + ". I can find products, " +
                      "fill your cart, send you a payment link and help with your orders. " +
                      "What are you looking for?",
                quick_replies: this.suggestions, greeting: true};
    this.remember("bot", data);
    this.render("bot", data, true);
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
      self.stopTyping();
      self.say(text, text);
    });
    this.input.addEventListener("input", function () { self.typed(); });
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

  // The token to connect with: the kept one while it is good, else a renewed one (same
  // conversation), else, if the shop no longer renews it, a new conversation's.
  Chat.prototype.token = function () {
    var self = this;
    var memory = this.memory;
    if (memory.fresh() && !this.mustRenew) {
      this.scheduleRenewal();
      return Promise.resolve(memory.token);
    }
    var asked = memory.token ? requestSession(this.sessionUrl, memory.token).catch(
      function (status) {
        if (status === 401) return requestSession(self.sessionUrl, null);
        throw status;
      }) : requestSession(this.sessionUrl, null);
    return asked.then(function (session) {
      if (memory.adopt(session)) self.forgetShown();
      self.mustRenew = false;
      self.scheduleRenewal();
      return memory.token;
    });
  };

  // The token, asked for once at a time: the socket and the page beside it (window.AisleChat)
  // may both want it while the first session is being made, and must get the same one.
  Chat.prototype.sessionToken = function () {
    var self = this;
    if (this.memory.fresh() && !this.mustRenew) return this.token();
    if (!this.pendingToken) {
      this.pendingToken = this.token().then(function (token) {
        self.pendingToken = null;
        return token;
      }, function (status) {
        self.pendingToken = null;
        throw status;
      });
    }
    return this.pendingToken;
  };

  // Renew before the token runs out: reconnecting with the new one keeps the socket's
  // conversation (Rasa disconnects a socket whose token has expired).
  Chat.prototype.scheduleRenewal = function () {
    var self = this;
    clearTimeout(this.renewalTimer);
    var wait = this.memory.expiresAt * 1000 - Date.now() - RENEW_BEFORE_MS;
    this.renewalTimer = setTimeout(function () { self.renew(); },
                                   Math.max(1000, Math.min(wait, MAX_TIMER_MS)));
  };

  // A new conversation: what the page shows belonged to the old one.
  Chat.prototype.forgetShown = function () {
    var shown = this.log.querySelectorAll(".aisle-chat__msg");
    for (var i = 0; i < shown.length; i++) shown[i].parentNode.removeChild(shown[i]);
    this.showAgent(null);
    this.followAgent();
    this.greet();
  };

  Chat.prototype.renew = function () {
    this.mustRenew = true;
    this.socket.reconnect();
  };

  Chat.prototype.refused = function () {
    this.mustRenew = true;
  };

  Chat.prototype.connected = function () {
    this.socket.emit("session_request", {session_id: this.memory.conversationId});
    this.followAgent(); // the token may be a new one: listen with it
  };

  Chat.prototype.disconnected = function () {
    this.ready = false;
    this.status("offline", "Reconnecting…");
  };

  Chat.prototype.received = function (name, data) {
    if (name === "session_confirm") {
      this.ready = true;
      this.status("online", "Online");
      this.refreshCart();
      var waiting = this.pending;
      this.pending = [];
      for (var i = 0; i < waiting.length; i++) this.transmit(waiting[i]);
    } else if (name === "bot_uttered" && data && typeof data === "object") {
      this.showTyping(false);
      this.remember("bot", data);
      this.render("bot", data, true);
      this.refreshCart();
    }
  };

  Chat.prototype.transmit = function (payload) {
    if (!this.ready) {
      this.pending.push(payload);
      return;
    }
    if (!this.memory.fresh()) { // e.g. a laptop woken after a night: renew first
      this.pending.push(payload);
      if (!this.mustRenew) this.renew();
      return;
    }
    this.socket.emit("user_uttered", {message: payload,
                                      session_id: this.memory.conversationId});
  };

  // The shopper says something: ``shown`` in the log, ``payload`` to Rasa (a button shows its
  // title and sends its payload, e.g. /select_product{"product_id": 12}).
  Chat.prototype.say = function (shown, payload) {
    var data = {text: shown};
    // the greeting's suggestions were for an empty conversation
    this.log.querySelectorAll(".aisle-chat__msg--greeting button").forEach(function (b) {
      b.disabled = true;
    });
    this.remember("user", data);
    this.render("user", data, true);
    this.transmit(payload);
    if (!this.memory.handoff) this.showTyping(true); // a person answers when they answer
  };

  // --- a person from the shop holds the conversation --------------------------------------

  // The shopper types: the shop (and so the agent) hears it, at most every few seconds.
  Chat.prototype.typed = function () {
    var self = this;
    if (!this.memory.handoff || !this.memory.token) return;
    var now = Date.now();
    if (now - this.typingSent > TYPING_EVERY_MS) {
      this.typingSent = now;
      this.tellTyping(true);
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(function () { self.stopTyping(); }, TYPING_IDLE_MS);
  };

  Chat.prototype.stopTyping = function () {
    clearTimeout(this.typingIdle);
    if (!this.typingSent) return;
    this.typingSent = 0;
    this.tellTyping(false);
  };

  Chat.prototype.tellTyping = function (typing) {
    window.fetch(this.typingUrl, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({token: this.memory.token, typing: typing}),
    }).catch(function () { /* only an indicator */ });
  };

  // Listen for the agent (typing, joined) while a person holds the conversation, with the
  // current token; stop listening when the bot has it back.
  Chat.prototype.followAgent = function () {
    var self = this;
    var url = this.memory.handoff && this.memory.token ?
      this.streamUrl + "?token=" + encodeURIComponent(this.memory.token) : null;
    if (this.stream && this.stream.url === url && this.stream.readyState !== 2) return;
    if (this.stream) this.stream.close();
    this.stream = null;
    if (!url || typeof window.EventSource !== "function") return;
    this.stream = new window.EventSource(url);
    this.stream.addEventListener("typing", function (event) {
      var data = JSON.parse(event.data);
      self.showAgentTyping(data.typing ? String(data.agent || "") : null);
    });
    this.stream.addEventListener("agent", function (event) {
      var data = JSON.parse(event.data);
      if (data.agent) {
        self.memory.agent = String(data.agent);
        self.memory.handoff = "active";
        self.memory.save();
        self.showAgent(self.memory.agent);
      }
    });
  };

  Chat.prototype.showAgentTyping = function (agent) {
    var self = this;
    clearTimeout(this.typingTimer);
    this.typing.hidden = agent === null;
    this.typingWho.hidden = !agent;
    this.typingWho.textContent = agent ? agent + " is typing" : "";
    if (agent !== null) {
      this.typingTimer = setTimeout(function () { self.showAgentTyping(null); }, AGENT_TYPING_MS);
      this.scroll();
    }
  };

  Chat.prototype.showTyping = function (on) {
    var self = this;
    clearTimeout(this.typingTimer);
    this.typing.hidden = !on;
    this.typingWho.hidden = true;
    if (on) {
      this.typingTimer = setTimeout(function () { self.typing.hidden = true; },
                                    TYPING_TIMEOUT_MS);
      this.scroll();
    }
  };

  Chat.prototype.remember = function (who, data) {
    this.memory.log.push({who: who, data: data});
    if (who === "bot" && data.handoff === "ended") {
      this.memory.agent = null;
      this.memory.handoff = null;
    } else if (who === "bot" && data.agent) {
      this.memory.agent = String(data.agent);
      this.memory.handoff = "active";
    } else if (who === "bot" && data.handoff === "waiting") {
      this.memory.handoff = "waiting";
    }
    this.memory.save();
    if (who === "bot") this.followAgent();
  };

  Chat.prototype.replay = function () {
    var log = this.memory.log;
    for (var i = 0; i < log.length; i++) {
      this.render(log[i].who, log[i].data, i === log.length - 1);
    }
    this.showAgent(this.memory.agent);
    if (this.memory.handoff === "waiting" && !this.memory.agent) {
      this.showBanner("Connecting you with a person from " + this.shopName + "…");
    }
  };

  // --- rendering one message -------------------------------------------------------------

  Chat.prototype.render = function (who, data, live) {
    var kind = who === "user" ? "user" : (data.agent ? "agent" : "bot");
    var message = el("div", "aisle-chat__msg aisle-chat__msg--" + kind);
    if (data.greeting) message.classList.add("aisle-chat__msg--greeting");
    if (kind === "agent") message.appendChild(el("div", "aisle-chat__who", data.agent));
    if (typeof data.text === "string" && data.text) {
      var bubble = el("div", "aisle-chat__bubble");
      bubble.appendChild(richText(data.text, who !== "user"));
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

  // Embedded with one tag: <script src=".../chat.js" data-socket-url=... data-shop-name=...>
  // makes the widget's element (launcher mode unless data-mode says otherwise) and loads its
  // styles from beside the script.
  var SETTINGS = ["data-socket-url", "data-shop-name", "data-mode", "data-session-url",
                  "data-cart-url", "data-typing-url", "data-stream-url", "data-suggestions"];

  function mountFromScript() {
    if (!SCRIPT || !SCRIPT.hasAttribute("data-socket-url")) return null;
    var root = document.createElement("div");
    root.id = "aisle-chat";
    SETTINGS.forEach(function (name) {
      if (SCRIPT.hasAttribute(name)) root.setAttribute(name, SCRIPT.getAttribute(name));
    });
    if (!root.hasAttribute("data-mode")) root.setAttribute("data-mode", "launcher");
    var styles = new URL("chat.css", SCRIPT.src).toString();
    if (!document.querySelector('link[href="' + styles + '"]')) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = styles;
      document.head.appendChild(link);
    }
    document.body.appendChild(root);
    return root;
  }

  function start() {
    var root = document.getElementById("aisle-chat") || mountFromScript();
    if (!root || root.aisleChat) return;
    var chat = root.aisleChat = new Chat(root);
    // What the page beside the chat may use: the conversation's token (to share its cart),
    // a message said for the shopper, the panel opened; and "aisle-cart:changed" when the
    // page changed the cart.
    window.AisleChat = {
      token: function () { return chat.sessionToken(); },
      say: function (shown, payload) { chat.say(String(shown), String(payload || shown)); },
      open: function () { chat.root.hidden = false; chat.input.focus(); },
    };
    document.addEventListener("aisle-cart:changed", function () { chat.refreshCart(); });
    document.dispatchEvent(new CustomEvent("aisle-chat:ready"));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
