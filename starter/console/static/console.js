// The staff console's progressive enhancement, plain JavaScript (no framework, no build):
// 1. countdowns: every <span class="countdown"> counts down to the second; a business-time
//    clock counts only the working windows the page lists (it stands still overnight);
// 2. refresh: every few seconds the page is fetched again and each [data-live] region is
//    replaced, so the queue and a complaint's deadlines and timeline follow the workflow.
//    Forms are outside the live regions: nothing a person is typing is lost.
"use strict";

(function () {
  var REFRESH_MS = 4000;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + two(m) + "m " + two(sec) + "s";
  }

  function businessLeft(windows, now) {
    var left = 0;
    for (var i = 0; i < windows.length; i++) {
      var start = Date.parse(windows[i][0]), end = Date.parse(windows[i][1]);
      if (end > now) { left += end - Math.max(start, now); }
    }
    return left;
  }

  function tick() {
    var now = Date.now();
    var clocks = document.querySelectorAll("span.countdown");
    for (var i = 0; i < clocks.length; i++) {
      var el = clocks[i];
      var state = el.getAttribute("data-state");
      if (state === "paused") {
        el.textContent = el.getAttribute("data-paused-label");
        el.className = "countdown state-paused";
        continue;
      }
      if (state !== "open") { continue; }
      var due = Date.parse(el.getAttribute("data-due"));
      var warn = Date.parse(el.getAttribute("data-warn"));
      var business = el.getAttribute("data-business") === "1";
      var label, css;
      if (now >= due) {
        label = "Breached " + duration(now - due) + " ago";
        css = "breached";
      } else {
        var left = business ? businessLeft(JSON.parse(el.getAttribute("data-windows") || "[]"), now)
                            : due - now;
        var soon = now >= warn;
        label = (soon ? "Due soon: " : "On time: ") + duration(left) + " left" +
                (business ? " (business time)" : "");
        css = soon ? "due-soon" : "on-time";
      }
      el.textContent = label;
      el.className = "countdown state-" + css;
    }
  }

  function refresh() {
    var live = document.querySelectorAll("[data-live][id]");
    if (!live.length || document.hidden) { return; }
    fetch(window.location.href, {credentials: "same-origin", headers: {"X-Console-Refresh": "1"}})
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/sign-in") !== -1) {
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        for (var i = 0; i < live.length; i++) {
          // A region where the person has ticked something (complaints to reassign) waits.
          if (live[i].querySelector("input[type=checkbox]:checked")) { continue; }
          var next = fresh.getElementById(live[i].id);
          if (next && next.innerHTML !== live[i].innerHTML) { live[i].innerHTML = next.innerHTML; }
        }
        tick();
      })
      .catch(function () { /* offline for a moment: the next refresh tries again */ });
  }

  // "Use this reply": the canned reply, filled in for this complaint by the server, goes
  // into the reply box to be edited (without a script the button reloads the page with it).
  function cannedReplies() {
    var form = document.querySelector("form.canned");
    var box = document.getElementById("reply-message");
    if (!form || !box) { return; }
    form.addEventListener("submit", function (event) {
      var select = form.querySelector("select");
      var chosen = select && select.options[select.selectedIndex];
      if (!chosen) { return; }
      event.preventDefault();
      box.value = chosen.getAttribute("data-text");
      box.focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    cannedReplies();
    tick();
    window.setInterval(tick, 1000);
    window.setInterval(refresh, REFRESH_MS);
  });
})();
