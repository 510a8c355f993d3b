// Posture's only script besides htmx. Loaded from /static (the CSP allows no inline code).
// Copy buttons for remediation snippets: hidden in the HTML, shown only when they can work.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http deployments have no Clipboard API: fall back to a selection copy.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function showCopyButtons(root) {
    root.querySelectorAll("button.copy[hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(source.textContent).then(
      function () { button.textContent = button.dataset.done || "✓"; button.classList.add("copied"); },
      function () { button.textContent = "✗"; }
    ).finally(function () {
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 1500);
    });
  });

  document.addEventListener("DOMContentLoaded", function () { showCopyButtons(document); });
  // Fragments swapped in by htmx may carry new buttons.
  document.addEventListener("htmx:load", function (event) { showCopyButtons(event.target); });
})();

// --- Report print button (trends, issue 17) -------------------------------------------
// The button is in the HTML hidden: without script it could not print, so it is shown
// only here. Delegated, because the report body is swapped by htmx.
(function () {
  "use strict";

  function showPrintButtons(root) {
    root.querySelectorAll("button[data-print][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("button[data-print]")) window.print();
  });
  document.addEventListener("DOMContentLoaded", function () { showPrintButtons(document); });
  document.addEventListener("htmx:load", function (event) { showPrintButtons(event.target); });
})();

// --- Folded parts opened by a link (host page plan, issue 16) -------------------------
// A link to a folded <details> (a "Fix first" line to its rule's card) opens it: the
// browser scrolls to a closed card but would leave its content hidden.
(function () {
  "use strict";

  function openTarget() {
    var id = window.location.hash.slice(1);
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") target.open = true;
  }

  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", openTarget);
})();

// The header's <details> menus: Escape closes the open one and gives the focus back to its
// summary, a click elsewhere closes it, and opening one closes the other (WCAG 2.1.2: no
// keyboard trap, and a menu never stays over the page by accident).
(function () {
  "use strict";

  function openMenus() {
    return document.querySelectorAll(".topbar details.menu[open]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(document.activeElement)) summary.focus();
    });
  });

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches(".topbar details.menu") || !opened.open) return;
    openMenus().forEach(function (menu) {
      if (menu !== opened) menu.open = false;
    });
  }, true);
})();
