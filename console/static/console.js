// paysync console: the one small script, served from the console itself.
// Copy buttons copy a field's text; an order awaiting payment follows its
// status without a reload. Every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy-button").forEach(function (b) {
    b.addEventListener("click", function () {
      var field = document.getElementById(b.dataset.copy);
      if (!field) return;
      var done = function () { b.textContent = b.dataset.done; b.classList.add("done"); };
      field.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done, function () { if (document.execCommand("copy")) done(); });
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });
  var badge = document.querySelector("[data-live]");
  if (!badge) return;
  var version = badge.dataset.version;
  var poll = function () {
    fetch(badge.dataset.live, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return setTimeout(poll, 5000);
        badge.textContent = s.label;
        badge.className = "badge " + s.tone;
        badge.dataset.status = s.status;
        if (String(s.version) !== version && s.status !== "pending") {
          var note = document.getElementById("live-note");
          if (note) note.hidden = true;
          return; // settled: nothing more to follow
        }
        setTimeout(poll, 2000);
      })
      .catch(function () { setTimeout(poll, 5000); });
  };
  setTimeout(poll, 2000);
});
