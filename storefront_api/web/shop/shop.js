/* The demo shop front: catalog, product pages and cart drawn from the public API.
 *
 * Views by address: #/?q=..&category=..&color=..&size=..&sort=..&in_stock=1&page=2 (the
 * catalog), #/product/12, #/cart. Everything the API returns is inserted as text.
 *
 * The cart is the chat's: the page asks the embedded chat for its token (window.AisleChat)
 * and the shop for that conversation's cart (POST /api/chat/cart/open), so what the assistant
 * adds shows here and what is added here shows in the chat (the page says
 * "aisle-cart:changed"; the chat says "aisle-chat:cart" after each of its answers). Without a
 * chat (not configured), the page keeps a cart of its own.
 */
(function () {
  "use strict";

  var main = document.getElementById("shop-main");
  var countNode = document.querySelector(".shop-cart-count");
  var cartToken = null;
  var OWN_CART = "aisle-shop:cart";

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function api(path, options) {
    options = options || {};
    return window.fetch(path, {
      method: options.method || "GET", cache: "no-store", credentials: "same-origin",
      headers: {"Accept": "application/json", "Content-Type": "application/json"},
      body: options.body ? JSON.stringify(options.body) : undefined,
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw {status: response.status, body: body};
        return body;
      });
    });
  }

  function price(money) { return money && money.formatted ? money.formatted : ""; }

  // A product's picture; a product without one (or whose picture does not load) gets a quiet
  // block of the same size rather than a broken image.
  function picture(url, alt) {
    if (!url || !/^(https?:\/\/|\/)/.test(url)) return el("div", "shop-picture shop-no-picture");
    var img = el("img", "shop-picture");
    img.alt = alt || "";
    img.loading = "lazy";
    img.src = url;
    img.addEventListener("error", function () {
      if (img.parentNode) img.parentNode.replaceChild(el("div", "shop-picture shop-no-picture"), img);
    });
    return img;
  }

  // --- the cart shared with the chat -------------------------------------------------------

  function chatReady(timeout) {
    return new Promise(function (resolve, reject) {
      if (window.AisleChat) return resolve(window.AisleChat);
      document.addEventListener("aisle-chat:ready", function () { resolve(window.AisleChat); });
      setTimeout(function () { reject(new Error("no chat")); }, timeout);
    });
  }

  function ownCart() {
    var kept = window.localStorage.getItem(OWN_CART);
    if (kept) return Promise.resolve(kept);
    return api("/api/carts", {method: "POST", body: {}}).then(function (cart) {
      window.localStorage.setItem(OWN_CART, cart.token);
      return cart.token;
    });
  }

  function theCart() {
    if (cartToken) return Promise.resolve(cartToken);
    return chatReady(8000).then(function (chat) { return chat.token(); }).then(function (token) {
      return api("/api/chat/cart/open", {method: "POST", body: {token: token}});
    }).then(function (opened) { return opened.token; }, function () { return ownCart(); })
      .then(function (token) { cartToken = token; return token; });
  }

  function showCount(items) {
    countNode.textContent = String(items);
    countNode.parentNode.setAttribute("data-items", String(items));
  }

  function refreshCount() {
    return theCart().then(function (token) {
      return api("/api/carts/" + encodeURIComponent(token));
    }).then(function (cart) { showCount(cart.item_count); return cart; });
  }

  function cartChanged(cart) {
    showCount(cart.item_count);
    document.dispatchEvent(new CustomEvent("aisle-cart:changed"));
  }

  // --- the catalog ---------------------------------------------------------------------------

  function query() {
    var hash = window.location.hash.replace(/^#\/?/, "");
    var at = hash.indexOf("?");
    return {path: at < 0 ? hash : hash.slice(0, at),
            params: new URLSearchParams(at < 0 ? "" : hash.slice(at + 1))};
  }

  function go(params) {
    var clean = new URLSearchParams();
    params.forEach(function (value, key) { if (value) clean.set(key, value); });
    window.location.hash = "#/?" + clean.toString();
  }

  function select(name, label, options, current, onChange) {
    var wrap = el("label", "shop-filter");
    wrap.appendChild(el("span", "", label));
    var node = el("select");
    node.name = name;
    node.appendChild(new Option("Any", ""));
    options.forEach(function (o) {
      node.appendChild(new Option(o.count !== undefined ? o.label + " (" + o.count + ")"
                                                        : o.label, o.value));
    });
    node.value = current || "";
    node.addEventListener("change", function () { onChange(node.value); });
    wrap.appendChild(node);
    return wrap;
  }

  function catalog(params) {
    document.getElementById("shop-q").value = params.get("q") || "";
    var apiParams = new URLSearchParams();
    ["q", "category", "color", "size", "sort", "page"].forEach(function (k) {
      if (params.get(k)) apiParams.set(k, params.get(k));
    });
    if (params.get("in_stock")) apiParams.set("in_stock", "true");
    apiParams.set("page_size", "12");
    main.replaceChildren(el("p", "shop-loading", "Loading…"));
    return api("/api/products?" + apiParams.toString()).then(function (list) {
      var view = el("section", "shop-catalog");
      view.appendChild(filters(params, list.facets || {}));
      var heading = params.get("q") ? list.total + " results for “" + params.get("q") + "”"
                                    : list.total + " products";
      view.appendChild(el("h1", "shop-heading", heading));
      var grid = el("div", "shop-grid");
      list.items.forEach(function (item) { grid.appendChild(card(item)); });
      if (!list.items.length) grid.appendChild(el("p", "", "Nothing matches: try fewer filters."));
      view.appendChild(grid);
      view.appendChild(pager(params, list));
      main.replaceChildren(view);
    }, failed);
  }

  function filters(params, facets) {
    var row = el("div", "shop-filters");
    function set(name) {
      return function (value) { params.set(name, value); params.delete("page"); go(params); };
    }
    row.appendChild(select("category", "Category", (facets.category || []).map(function (c) {
      return {label: c.name, value: c.slug || String(c.id), count: c.count};
    }), params.get("category"), set("category")));
    row.appendChild(select("color", "Colour", (facets.color || []).map(function (c) {
      return {label: c.value, value: c.value.toLowerCase(), count: c.count};
    }), params.get("color"), set("color")));
    row.appendChild(select("size", "Size", (facets.size || []).map(function (s) {
      return {label: s.value, value: s.value, count: s.count};
    }), params.get("size"), set("size")));
    row.appendChild(select("sort", "Sort", [
      {label: "Price, low to high", value: "price_asc"},
      {label: "Price, high to low", value: "price_desc"},
      {label: "Best rated", value: "rating"}, {label: "Newest", value: "newest"},
    ], params.get("sort"), set("sort")));
    var stock = el("label", "shop-filter shop-filter--check");
    var box = el("input");
    box.type = "checkbox";
    box.name = "in_stock";
    box.checked = Boolean(params.get("in_stock"));
    box.addEventListener("change", function () { set("in_stock")(box.checked ? "1" : ""); });
    stock.appendChild(box);
    stock.appendChild(el("span", "", "In stock"));
    row.appendChild(stock);
    return row;
  }

  function card(item) {
    var node = el("a", "shop-card");
    node.href = "#/product/" + item.id;
    node.appendChild(picture(item.image, item.title));
    node.appendChild(el("span", "shop-card-title", item.title));
    node.appendChild(el("span", "shop-card-vendor", item.vendor));
    var line = el("span", "shop-card-price", price(item.price));
    if (item.on_sale && item.compare_at_price) {
      line.appendChild(el("s", "shop-was", price(item.compare_at_price)));
    }
    node.appendChild(line);
    if (!item.in_stock) node.appendChild(el("span", "shop-badge", "Out of stock"));
    return node;
  }

  function pager(params, list) {
    var row = el("nav", "shop-pager");
    var page = list.page;
    function link(label, to) {
      var a = el("a", "shop-page-link", label);
      var next = new URLSearchParams(params);
      next.set("page", String(to));
      a.href = "#/?" + next.toString();
      return a;
    }
    if (page > 1) row.appendChild(link("← Previous", page - 1));
    row.appendChild(el("span", "", "Page " + page + " of " + Math.max(1, list.pages)));
    if (page < list.pages) row.appendChild(link("Next →", page + 1));
    return row;
  }

  // --- a product ----------------------------------------------------------------------------

  function product(id) {
    main.replaceChildren(el("p", "shop-loading", "Loading…"));
    return api("/api/products/" + encodeURIComponent(id)).then(function (p) {
      var view = el("article", "shop-product");
      var gallery = el("div", "shop-gallery");
      (p.images.length ? p.images : [{url: p.image, alt: p.title}]).forEach(function (i) {
        gallery.appendChild(picture(i.url, i.alt));
      });
      view.appendChild(gallery);
      var info = el("div", "shop-product-info");
      var crumbs = el("p", "shop-crumbs");
      (p.breadcrumb || []).forEach(function (c, n) {
        if (n) crumbs.appendChild(document.createTextNode(" › "));
        var a = el("a", "", c.name);
        a.href = "#/?category=" + encodeURIComponent(c.slug || c.id);
        crumbs.appendChild(a);
      });
      info.appendChild(crumbs);
      info.appendChild(el("h1", "shop-heading", p.title));
      info.appendChild(el("p", "shop-card-vendor", p.vendor));
      var shownPrice = el("p", "shop-product-price", price(p.price));
      info.appendChild(shownPrice);
      info.appendChild(el("p", "shop-description", p.description));
      info.appendChild(buyBox(p, shownPrice));
      var facts = el("dl", "shop-facts");
      (p.attributes || []).forEach(function (a) {
        facts.appendChild(el("dt", "", a.name));
        facts.appendChild(el("dd", "", a.value));
      });
      info.appendChild(facts);
      view.appendChild(info);
      main.replaceChildren(view);
    }, failed);
  }

  function buyBox(p, shownPrice) {
    var form = el("form", "shop-buy");
    var colours = unique(p.variants.map(function (v) { return v.color; }));
    var sizes = unique(p.variants.map(function (v) { return v.size; }));
    var colour = choice("Colour", "color", colours);
    var size = choice("Size", "size", sizes);
    if (colour) form.appendChild(colour.wrap);
    if (size) form.appendChild(size.wrap);
    var quantity = el("input", "shop-quantity");
    quantity.type = "number";
    quantity.min = "1";
    quantity.max = "99";
    quantity.value = "1";
    quantity.setAttribute("aria-label", "Quantity");
    form.appendChild(quantity);
    var button = el("button", "shop-add", "Add to cart");
    button.type = "submit";
    form.appendChild(button);
    var note = el("p", "shop-note");
    note.setAttribute("role", "status");
    form.appendChild(note);

    function chosen() {
      return p.variants.filter(function (v) {
        return (!colour || v.color === colour.node.value) && (!size || v.size === size.node.value);
      })[0] || null;
    }
    function update() {
      var v = chosen();
      button.disabled = !v || !v.available;
      note.textContent = !v ? "This combination is not made." :
        (v.available ? (v.availability || "In stock") : "Out of stock");
      if (v) shownPrice.textContent = price(v.price);
    }
    [colour, size].forEach(function (c) { if (c) c.node.addEventListener("change", update); });
    // start on a variant that can be bought, if there is one
    var first = p.variants.filter(function (v) { return v.available; })[0];
    if (first && colour && first.color) colour.node.value = first.color;
    if (first && size && first.size) size.node.value = first.size;
    update();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var v = chosen();
      if (!v) return;
      button.disabled = true;
      theCart().then(function (token) {
        return api("/api/carts/" + encodeURIComponent(token) + "/items", {
          method: "POST", body: {variant_id: v.id, quantity: Number(quantity.value) || 1}});
      }).then(function (cart) {
        cartChanged(cart);
        note.textContent = "Added to your cart.";
      }, function (problem) {
        note.textContent = (problem && problem.body && problem.body.detail) ||
          "Could not add it; please try again.";
      }).then(function () { button.disabled = false; });
    });
    return form;
  }

  function unique(values) {
    var seen = [];
    values.forEach(function (v) { if (v && seen.indexOf(v) < 0) seen.push(v); });
    return seen;
  }

  function choice(label, name, values) {
    if (!values.length) return null;
    var wrap = el("label", "shop-filter");
    wrap.appendChild(el("span", "", label));
    var node = el("select");
    node.name = name;
    values.forEach(function (v) { node.appendChild(new Option(v, v)); });
    wrap.appendChild(node);
    return {wrap: wrap, node: node};
  }

  // --- the cart -------------------------------------------------------------------------------

  function cartView() {
    main.replaceChildren(el("p", "shop-loading", "Loading…"));
    return refreshCount().then(function (cart) {
      var view = el("section", "shop-cart");
      view.appendChild(el("h1", "shop-heading", "Your cart"));
      if (!cart.lines.length) {
        view.appendChild(el("p", "", "Your cart is empty. Find something in the catalog, or ask " +
                                     "the assistant."));
      }
      var list = el("ul", "shop-lines");
      cart.lines.forEach(function (line) { list.appendChild(cartLine(line)); });
      view.appendChild(list);
      if (cart.lines.length) {
        var totals = el("dl", "shop-totals");
        [["Subtotal", cart.totals.subtotal], ["Discount", cart.totals.discount],
         ["Total", cart.totals.total]].forEach(function (row) {
          if (!row[1] || (row[0] === "Discount" && !row[1].amount)) return;
          totals.appendChild(el("dt", "", row[0]));
          totals.appendChild(el("dd", "", price(row[1])));
        });
        view.appendChild(totals);
        var checkout = el("button", "shop-add", "Check out with the assistant");
        checkout.type = "button";
        checkout.addEventListener("click", function () {
          if (!window.AisleChat) return;
          window.AisleChat.open();
          window.AisleChat.say("Check out", "/checkout");
        });
        view.appendChild(checkout);
      }
      main.replaceChildren(view);
    }, failed);
  }

  function cartLine(line) {
    var item = el("li", "shop-line");
    item.appendChild(picture(line.image, line.title));
    var text = el("div", "shop-line-text");
    var title = el("a", "shop-card-title", line.title);
    title.href = "#/product/" + line.product_id;
    text.appendChild(title);
    if (line.variant_title) text.appendChild(el("span", "shop-card-vendor", line.variant_title));
    item.appendChild(text);
    var quantity = el("input", "shop-quantity");
    quantity.type = "number";
    quantity.min = "1";
    quantity.max = "99";
    quantity.value = String(line.quantity);
    quantity.setAttribute("aria-label", "Quantity of " + line.title);
    quantity.addEventListener("change", function () {
      changeLine(line.id, "PATCH", {quantity: Number(quantity.value) || 1});
    });
    item.appendChild(quantity);
    item.appendChild(el("span", "shop-line-total", price(line.line_total)));
    var remove = el("button", "shop-remove", "Remove");
    remove.type = "button";
    remove.addEventListener("click", function () { changeLine(line.id, "DELETE"); });
    item.appendChild(remove);
    return item;
  }

  function changeLine(lineId, method, body) {
    return theCart().then(function (token) {
      return api("/api/carts/" + encodeURIComponent(token) + "/items/" + lineId,
                 {method: method, body: body});
    }).then(function (cart) { cartChanged(cart); return cartView(); }, failed);
  }

  function failed(problem) {
    var text = (problem && problem.body && problem.body.detail) ||
      "The shop is not answering; please try again.";
    main.replaceChildren(el("p", "shop-error", text));
  }

  // --- routing --------------------------------------------------------------------------------

  function route() {
    var here = query();
    var match = /^product\/(\d+)$/.exec(here.path);
    if (match) return product(match[1]);
    if (here.path === "cart") return cartView();
    return catalog(here.params);
  }

  document.querySelector(".shop-search").addEventListener("submit", function (event) {
    event.preventDefault();
    var params = new URLSearchParams();
    params.set("q", document.getElementById("shop-q").value.trim());
    go(params);
  });
  window.addEventListener("hashchange", route);
  // the assistant changed the cart: the count (and the cart, if it is open) follow
  document.addEventListener("aisle-chat:cart", function (event) {
    showCount(event.detail.items);
    if (query().path === "cart") cartView();
  });
  route();
  refreshCount().catch(function () { /* the count waits for the next change */ });
})();
