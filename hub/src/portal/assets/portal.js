// ppu-hub portal: the live parts. Plain JavaScript, no dependencies.
// Every value from the server is put into the page with textContent or
// setAttribute, never as HTML.
"use strict";

(function () {
  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      n.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return n;
  }

  function severityKind(sev) {
    if (sev === "critical" || sev === "major") return "bad";
    if (sev === "minor" || sev === "warning") return "warn";
    return "info";
  }

  function badge(kind, text) {
    return el("span", { "class": "badge badge-" + kind }, [text]);
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function timeEl(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return document.createTextNode(String(iso || ""));
    var text = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + " UTC";
    return el("time", { datetime: iso }, [text]);
  }

  // The same markup as the server's `portal::alerts::row`.
  function alertRow(a, operate) {
    var printer;
    if (a.serial_number) {
      printer = el("a", { href: "/portal/printers/" + encodeURIComponent(a.serial_number) }, [a.serial_number]);
    } else if (a.collector_id) {
      printer = el("a", { href: "/portal/sites/" + encodeURIComponent(a.site_id) }, ["collector"]);
    } else {
      printer = document.createTextNode("—");
    }
    var state;
    if (a.state === "acknowledged") {
      state = el("span", {}, [badge("info", "acknowledged"), " ",
        el("span", { "class": "muted" }, ["by " + (a.acknowledged_by || "?")])]);
    } else {
      state = badge("warn", a.state);
    }
    var actions = el("td", { "class": "actions" });
    if (operate) {
      if (a.state === "active") {
        actions.appendChild(el("button", { type: "button", "data-action": "acknowledge", "data-id": String(a.id) }, ["Acknowledge"]));
        actions.appendChild(document.createTextNode(" "));
      }
      actions.appendChild(el("button", { type: "button", "class": "secondary", "data-action": "clear", "data-id": String(a.id) }, ["Clear"]));
    } else {
      actions.appendChild(el("span", { "class": "muted" }, ["read only"]));
    }
    return el("tr", { id: "alert-" + a.id, "data-state": a.state }, [
      el("td", {}, [badge(severityKind(a.severity), a.severity)]),
      el("td", {}, [printer]),
      el("td", {}, [a.message, el("br"), el("code", {}, [a.code])]),
      el("td", { "class": "state" }, [state]),
      el("td", {}, [timeEl(a.first_seen), el("br"),
        el("span", { "class": "muted" }, ["last ", timeEl(a.last_seen)])]),
      el("td", {}, [String(a.occurrences)]),
      actions
    ]);
  }

  function initAlerts(table) {
    var tbody = table.querySelector("tbody");
    var status = document.getElementById("live-status");
    var message = document.getElementById("alert-message");
    var none = document.getElementById("no-alerts");
    var operate = table.getAttribute("data-operate") === "true";
    var by = table.getAttribute("data-by") || "portal";

    function setStatus(state, text) {
      status.setAttribute("data-state", state);
      status.textContent = text;
    }
    function showError(text) {
      message.textContent = text;
      message.hidden = !text;
    }
    function refreshEmpty() {
      none.hidden = tbody.rows.length > 0;
    }
    function upsert(a, fresh) {
      var old = document.getElementById("alert-" + a.id);
      if (a.state === "cleared") {
        if (old) old.remove();
        refreshEmpty();
        return;
      }
      var row = alertRow(a, operate);
      if (fresh) row.classList.add("fresh");
      if (old) {
        old.replaceWith(row);
      } else {
        tbody.insertBefore(row, tbody.firstChild);
      }
      refreshEmpty();
    }

    var source = new EventSource(table.getAttribute("data-stream"));
    source.onopen = function () { setStatus("live", "Live: new alerts appear here without reloading."); };
    source.onerror = function () { setStatus("down", "Connection to the live stream lost, reconnecting…"); };
    source.addEventListener("alert", function (ev) {
      try {
        var e = JSON.parse(ev.data);
        upsert(e.alert, e.kind === "raised");
      } catch (err) {
        showError("An alert update could not be read.");
      }
    });
    source.addEventListener("resync", function () {
      setStatus("live", "Live (caught up after a pause).");
    });
    window.addEventListener("pagehide", function () { source.close(); });

    table.addEventListener("click", function (ev) {
      var button = ev.target.closest("button[data-action]");
      if (!button) return;
      var id = button.getAttribute("data-id");
      var action = button.getAttribute("data-action");
      button.disabled = true;
      showError("");
      fetch("/api/v1/alerts/" + encodeURIComponent(id) + "/" + action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
        body: JSON.stringify({ by: by })
      }).then(function (resp) {
        return resp.json().catch(function () { return null; }).then(function (body) {
          if (!resp.ok) {
            var msg = body && body.error ? body.error.message : ("HTTP " + resp.status);
            throw new Error(msg);
          }
          if (body && body.id) upsert(body, false);
        });
      }).catch(function (err) {
        button.disabled = false;
        showError("Could not " + action + " alert " + id + ": " + err.message);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("alerts");
    if (table && window.EventSource) initAlerts(table);
  });
})();
