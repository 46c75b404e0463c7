// remediator console: the pages work without this file. It only keeps a status page fresh:
// pages marked data-refresh reload every N seconds, unless the reader is typing in a form,
// the tab is hidden, or a <details> is open (reloading would close it under their thumb).
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!seconds) { return; }
  function busy() {
    var el = document.activeElement;
    if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT")) { return true; }
    var fields = document.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    return document.querySelector("details[open]") !== null;
  }
  setInterval(function () {
    if (document.visibilityState === "visible" && !busy()) { window.location.reload(); }
  }, seconds * 1000);
})();
