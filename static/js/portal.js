/* Portal behaviour, no inline script (the Content-Security-Policy allows none):
   the phone navigation, tables that scroll inside their box, typed confirmations,
   searchable multi-selects and "select all" boxes. Everything works without it, too. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function navigation() {
    var toggle = document.querySelector(".nav-toggle");
    var menu = document.getElementById("main-menu");
    if (!toggle || !menu) return;
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", open ? "false" : "true");
      menu.classList.toggle("open", !open);
    });
    // Escape closes the open menu and gives the focus back to its button.
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
      toggle.setAttribute("aria-expanded", "false");
      menu.classList.remove("open");
      toggle.focus();
    });
  }

  // After a failed submit the error summary (role=alert) takes the focus, so keyboard and
  // screen-reader users start at the list of problems; its links lead to the fields.
  function errorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }

  // A decision made in place (review queue) replaces its card: the focus moves to the next
  // undecided card, or to the progress line when none is left, instead of falling to <body>.
  function focusAfterDecision(event) {
    var card = event.detail && event.detail.target;
    if (!card || !card.id || card.id.indexOf("suggestion-") !== 0) return;
    var swapped = document.getElementById(card.id);
    if (!swapped) return;
    if (swapped.querySelector("[data-testid='decision-error']")) {
      // Refused: stay on the card, whose error says why.
      swapped.setAttribute("tabindex", "-1");
      swapped.focus();
      return;
    }
    var next = swapped.nextElementSibling;
    while (next && !(next.matches("article.suggestion") && !next.classList.contains("decided"))) {
      next = next.nextElementSibling;
    }
    var target = next || document.getElementById("queue-progress");
    if (!target) return;
    if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  }

  function scrollingTables(root) {
    root.querySelectorAll("main table").forEach(function (table) {
      var parent = table.parentElement;
      if (parent.classList.contains("table-scroll") || parent.classList.contains("overflow-auto")) return;
      var box = document.createElement("div");
      box.className = "table-scroll";
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      var label = table.getAttribute("aria-label") || table.dataset.testid || "table";
      box.setAttribute("aria-label", label.replace(/-/g, " ") + " (scrolls sideways)");
      parent.insertBefore(box, table);
      box.appendChild(table);
    });
  }

  function typedConfirmations(root) {
    root.querySelectorAll("[data-confirm-text]").forEach(function (input) {
      var form = input.form;
      if (!form) return;
      var button = form.querySelector("[data-confirm-submit]");
      if (!button) return;
      var update = function () {
        button.disabled = input.value.trim() !== input.dataset.confirmText;
      };
      input.addEventListener("input", update);
      update();
    });
  }

  function searchableSelects(root) {
    root.querySelectorAll("select[data-searchable]").forEach(function (select) {
      if (select.dataset.enhanced) return;
      select.dataset.enhanced = "1";
      var search = document.createElement("input");
      search.type = "search";
      search.placeholder = "Type to filter, e.g. contact or health";
      search.setAttribute("aria-label", "Filter " + (select.dataset.searchable || "options"));
      search.setAttribute("aria-controls", select.id);
      search.dataset.testid = "filter-" + select.name;
      select.parentElement.insertBefore(search, select);
      search.addEventListener("input", function () {
        var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
        Array.prototype.forEach.call(select.options, function (option) {
          var text = (option.text + " " + option.value).toLowerCase();
          option.hidden = !option.selected && !words.every(function (w) { return text.indexOf(w) >= 0; });
        });
      });
    });
  }

  function selectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[type=checkbox][form='" + box.dataset.selectAll + "']")
          .forEach(function (item) { if (!item.disabled) item.checked = box.checked; });
      });
    });
  }

  function enhance(root) {
    scrollingTables(root);
    typedConfirmations(root);
    searchableSelects(root);
    selectAll(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    navigation();
    enhance(document);
    errorSummary();
  });
  document.addEventListener("htmx:afterSwap", focusAfterDecision);
  document.addEventListener("htmx:afterSettle", function (event) {
    enhance(event.target.parentElement || document);
  });
})();
