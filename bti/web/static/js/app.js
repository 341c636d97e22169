// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // An error summary takes the focus, so a screen reader reads it and Tab goes to its links.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
    // a link in the summary puts the cursor in its field (not only scrolls to it)
    summary.addEventListener("click", function (e) {
      var link = e.target.closest("a[href^='#']");
      var field = link && document.getElementById(link.getAttribute("href").slice(1));
      if (field) { e.preventDefault(); field.focus(); field.scrollIntoView({ block: "center" }); }
    });
  }
  // Warn before leaving a form with unsaved text (the server keeps nothing until it is sent).
  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (e) {
      if (dirty) { e.preventDefault(); e.returnValue = ""; }
    });
  });
  // The main menu folds behind its button on a narrow screen (app.css, .js-menu).
  var toggle = document.querySelector(".menu-toggle");
  if (toggle) {
    document.documentElement.classList.add("js-menu");
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", open ? "false" : "true");
    });
  }
});
