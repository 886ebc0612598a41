// The create wizard's small helpers, loaded as a file (no inline script, so a strict CSP holds).
// Everything works without it: the search narrows a long table, the confirm guards a change.
(function () {
  "use strict";

  // "All hyperparameters": show only the rows whose name or description holds every word typed.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-hp-search]")) return;
    var table = document.querySelector(box.getAttribute("data-hp-search"));
    if (!table) return;
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    table.querySelectorAll("tbody tr.hp-row").forEach(function (row) {
      var text = row.textContent.toLowerCase();
      row.hidden = !words.every(function (word) { return text.indexOf(word) !== -1; });
    });
  });

  // hx-confirm asks before a change that replaces what was typed (another algorithm's defaults,
  // removing a definition). Declined, the algorithm choice goes back to what it was, so that the
  // next round trip does not load the new one's defaults after all.
  document.addEventListener("htmx:confirm", function (event) {
    var question = event.detail.question;
    if (!question) return;
    event.preventDefault();
    if (window.confirm(question)) {
      event.detail.issueRequest(true);
      return;
    }
    var select = document.getElementById("id_def-algorithm");
    if (select && event.detail.elt && event.detail.elt.value === "load-defaults") {
      Array.prototype.forEach.call(select.options, function (option) { option.selected = option.defaultSelected; });
    }
    document.querySelectorAll('input[name="def-algorithm_source"]').forEach(function (radio) {
      radio.checked = radio.defaultChecked;
    });
  });
})();
