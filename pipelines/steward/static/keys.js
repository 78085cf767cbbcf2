// Keyboard shortcuts: an element with data-key="x" is followed (link), submitted (form) or clicked.
// One key per decision; keys typed into a text field are left alone.
(function () {
  "use strict";
  var sent = false;
  function copyNote() {
    var note = document.getElementById("note");
    if (!note) return;
    document.querySelectorAll("input.note-copy").forEach(function (el) { el.value = note.value; });
  }
  document.addEventListener("submit", function (e) {
    if (sent && e.target.method === "post") { e.preventDefault(); return; }
    copyNote();
    if (e.target.method === "post") sent = true;
  });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (e.key === "Escape") t.blur();
      return;
    }
    if (e.key === "n") {
      var note = document.getElementById("note");
      if (note) { e.preventDefault(); note.focus(); }
      return;
    }
    var el = document.querySelector('[data-key="' + e.key + '"]');
    if (!el) return;
    e.preventDefault();
    if (el.tagName === "FORM") {
      if (sent) return;
      copyNote();
      sent = true;
      el.submit();
    } else if (el.tagName === "A") {
      window.location.href = el.href;
    } else {
      el.click();
    }
  });
})();
