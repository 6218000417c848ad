// perfgate report: sortable and filterable metric tables. No network, no dependencies.
(function () {
  "use strict";

  function cellKey(row, column, type) {
    var cell = row.cells[column];
    if (!cell) { return type === "num" ? Infinity : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (type === "num") {
      var value = parseFloat(raw);
      return isNaN(value) ? Infinity : value; // blanks ("—") sort last
    }
    return raw.trim().toLowerCase();
  }

  function sortTable(table, column, direction) {
    var header = table.tHead.rows[0].cells[column];
    var type = header.getAttribute("data-type") || "text";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var indexed = rows.map(function (row, i) { return [cellKey(row, column, type), i, row]; });
    indexed.sort(function (a, b) {
      if (a[0] < b[0]) { return -direction; }
      if (a[0] > b[0]) { return direction; }
      return a[1] - b[1]; // stable
    });
    indexed.forEach(function (item) { body.appendChild(item[2]); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", direction > 0 ? "ascending" : "descending");
  }

  function applyFilters(tableId) {
    var table = document.getElementById(tableId);
    if (!table) { return; }
    var text = document.querySelector('.filter-text[data-table="' + tableId + '"]');
    var verdict = document.querySelector('.filter-verdict[data-table="' + tableId + '"]');
    var count = document.querySelector('.filter-count[data-table="' + tableId + '"]');
    var query = text ? text.value.trim().toLowerCase() : "";
    var wanted = verdict ? verdict.value : "";
    var shown = 0;
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var v = row.getAttribute("data-verdict");
      var okVerdict = !wanted || v === wanted || (wanted === "flagged" && (v === "regression" || v === "inconclusive"));
      var okText = !query || row.textContent.toLowerCase().indexOf(query) !== -1;
      row.hidden = !(okVerdict && okText);
      if (!row.hidden) { shown++; }
    }
    if (count) { count.textContent = shown + " of " + rows.length + " rows"; }
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("title", "sort by " + th.textContent.trim());
      function activate() {
        var direction = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
        sortTable(table, column, direction);
      }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); activate(); }
      });
    });
    applyFilters(table.id);
  });

  Array.prototype.forEach.call(document.querySelectorAll(".filter-text, .filter-verdict"), function (input) {
    var handler = function () { applyFilters(input.getAttribute("data-table")); };
    input.addEventListener("input", handler);
    input.addEventListener("change", handler);
  });
})();
