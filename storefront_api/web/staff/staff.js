// The staff pages' script (no build step): sign-in, sign-out and set-password, talking JSON
// to /api/staff/... on this origin only. The session lives in an HttpOnly cookie this script
// never sees; changes made with it carry the CSRF token that /api/staff/me returns.
"use strict";

(function () {
  function byId(id) { return document.getElementById(id); }

  // Where to go after signing in: a path on this site only ("/x", never "//host", "/\host"
  // or "https://host"), so a link cannot use the sign-in page to send staff elsewhere.
  function safeNext(raw) {
    if (typeof raw !== "string" || raw.length > 2000 || raw[0] !== "/") return null;
    if (raw[1] === "/" || /[\\\u0000-\u001f\u007f]/.test(raw)) return null;
    var url;
    try { url = new URL(raw, window.location.origin); } catch (e) { return null; }
    if (url.origin !== window.location.origin) return null;
    return url.pathname + url.search + url.hash;
  }

  async function api(method, path, body, csrfToken) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrfToken) headers["X-CSRF-Token"] = csrfToken;
    var response = await fetch(path, {
      method: method, headers: headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    var data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    return { status: response.status, data: data };
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function problemText(result, fallback) {
    if (result.status === 429) {
      var seconds = result.data && result.data.retry_after;
      return "Too many attempts. Try again in " + (seconds || 60) + " seconds.";
    }
    return (result.data && result.data.detail) || fallback;
  }

  // --- sign-in ---------------------------------------------------------------------------

  function signInPage() {
    var form = byId("sign-in-form"), error = byId("sign-in-error");
    var button = byId("sign-in-button"), panel = byId("signed-in");
    var status = byId("sign-in-status");
    var next = safeNext(new URLSearchParams(window.location.search).get("next"));
    var csrfToken = null;

    function signedIn(staff, token) {
      csrfToken = token;
      byId("signed-in-who").textContent = staff.name ? staff.name + " <" + staff.email + ">"
        : staff.email;
      byId("signed-in-role").textContent = staff.role;
      form.hidden = true;
      panel.hidden = false;
    }

    function signedOut(message) {
      csrfToken = null;
      panel.hidden = true;
      form.hidden = false;
      status.textContent = message || "";
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      show(error, "");
      status.textContent = "";
      button.disabled = true;
      try {
        var result = await api("POST", "/api/staff/sessions", {
          email: byId("email").value, password: byId("password").value, kind: "cookie",
        });
        byId("password").value = "";
        if (result.status === 201) {
          if (next) { window.location.assign(next); return; }
          signedIn(result.data.staff, result.data.csrf_token);
        } else if (result.status === 401) {
          show(error, "E-mail or password is incorrect.");
        } else if (result.status === 422) {
          show(error, "Enter your e-mail and your password.");
        } else {
          show(error, problemText(result, "Signing in did not work; try again."));
        }
      } catch (e) {
        show(error, "The shop cannot be reached; check your connection and try again.");
      } finally {
        button.disabled = false;
      }
    });

    byId("sign-out-button").addEventListener("click", async function () {
      var result = await api("DELETE", "/api/staff/sessions/current", undefined, csrfToken);
      if (result.status === 204 || result.status === 401) {
        signedOut("You are signed out.");
      } else {
        status.textContent = problemText(result, "Signing out did not work; try again.");
      }
    });

    // Already signed in: go straight on, or say who.
    api("GET", "/api/staff/me").then(function (result) {
      if (result.status !== 200) return;
      if (next) { window.location.replace(next); return; }
      signedIn(result.data.staff, result.data.csrf_token || null);
    }).catch(function () { /* the form stays */ });
  }

  // --- set-password ----------------------------------------------------------------------

  function setPasswordPage() {
    var form = byId("password-form"), error = byId("password-error");
    var button = byId("password-button");
    var token = new URLSearchParams(window.location.search).get("token") || "";
    // The token stays in this page only: not in the address bar, history or a bookmark.
    window.history.replaceState(null, "", window.location.pathname);
    if (!token) {
      form.hidden = true;
      show(error, "Open this page with the link from your e-mail.");
      form.parentNode.appendChild(error);
      return;
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var password = byId("new-password").value, repeat = byId("repeat-password").value;
      var minimum = byId("new-password").minLength;
      if (password.length < minimum) {
        show(error, "Use at least " + minimum + " characters.");
        return;
      }
      if (password !== repeat) {
        show(error, "The two passwords differ.");
        return;
      }
      show(error, "");
      button.disabled = true;
      try {
        var result = await api("POST", "/api/staff/password", { token: token, password: password });
        if (result.status === 200) {
          form.hidden = true;
          byId("password-done").hidden = false;
        } else if (result.status === 422 && result.data && result.data.errors) {
          show(error, result.data.errors.map(function (e) { return e.message; }).join("; "));
        } else {
          show(error, problemText(result, "The password was not set; try again."));
        }
      } catch (e) {
        show(error, "The shop cannot be reached; check your connection and try again.");
      } finally {
        button.disabled = false;
      }
    });
  }

  var page = document.body.dataset.page;
  if (page === "sign-in") signInPage();
  if (page === "set-password") setPasswordPage();
})();
