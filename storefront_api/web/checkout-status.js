/* The payment-done page (/checkout/{token}/done): polls GET /api/checkouts/{token} until the
 * webhook has created the order, then shows its number. Every 2 s for 2 minutes, then every
 * 10 s; text only (textContent), never HTML from the answer. */
(function () {
  "use strict";
  var box = document.getElementById("checkout-status");
  if (!box) return;
  var token = box.getAttribute("data-checkout");
  var started = Date.now();

  function show(title, text, kind) {
    box.className = kind;
    box.textContent = "";
    var h = document.createElement("h2");
    h.textContent = title;
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(h);
    box.appendChild(p);
  }

  function poll() {
    fetch("/api/checkouts/" + encodeURIComponent(token), {headers: {Accept: "application/json"},
                                                          cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (checkout) {
        if (checkout && checkout.order_number) {
          show("Payment received", "Thank you! Your order number is " + checkout.order_number +
               " (" + checkout.totals.total.formatted + "). A confirmation is on its way by " +
               "e-mail, and the chat has it too.", "ok");
          box.querySelector("p").setAttribute("data-order-number", checkout.order_number);
          return;
        }
        if (checkout && (checkout.status === "expired" || checkout.status === "failed")) {
          show("This payment did not go through", (checkout.failure_reason || "") +
               " Nothing was charged for an order. Ask for a new payment link in the chat.",
               "bad");
          return;
        }
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    setTimeout(poll, Date.now() - started < 120000 ? 2000 : 10000);
  }

  schedule();
})();
