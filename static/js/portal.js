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
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    enhance(event.target.parentElement || document);
  });
})();
