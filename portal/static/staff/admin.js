// Keyboard annotation in the NLU inbox: j/k move between messages, c confirm, o out of scope,
// i ignore, / the filter, 1-9 correct to the n-th intent. After an htmx swap the focus goes to
// the next message (or stays on the same one when the label was refused), unless the user has
// moved on with j, k or / while the label was on its way.
(function () {
  "use strict";
  var nextAfterSwap = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-row]")); }
  function currentRow() {
    var el = document.activeElement;
    return el && el.closest ? el.closest("tr[data-row]") : null;
  }
  function focusRow(row) { if (row) { row.focus(); row.scrollIntoView({block: "nearest"}); } }
  function move(step) {
    nextAfterSwap = null;
    var all = rows(), row = currentRow(), index = all.indexOf(row);
    focusRow(all[index < 0 ? 0 : Math.min(Math.max(index + step, 0), all.length - 1)]);
  }
  function press(row, key) {
    var button = row.querySelector('button[data-key="' + key + '"]');
    if (button) { button.click(); }
  }
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA"
                  || el.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (!document.getElementById("nlu-inbox")) { return; }
    var key = event.key, row = currentRow();
    if (key === "/") {
      event.preventDefault();
      nextAfterSwap = null;
      document.getElementById("below").focus();
      return;
    }
    if (key === "j" || key === "k") {
      event.preventDefault();
      move(key === "j" ? 1 : -1);
      return;
    }
    if (!row) { return; }
    if (key === "c" || key === "o" || key === "i") {
      event.preventDefault();
      press(row, key);
    } else if (/^[1-9]$/.test(key)) {
      var select = row.querySelector("select.admin-intent");
      var option = select && select.options[Number(key) - 1];
      if (option) {
        event.preventDefault();
        select.value = option.value;
        press(row, "correct");
      }
    }
  });

  // The inbox is aria-busy while a label is on its way, until the focus has moved on.
  function busy(on) {
    var inbox = document.getElementById("nlu-inbox");
    if (!inbox) { return; }
    if (on) { inbox.setAttribute("aria-busy", "true"); } else { inbox.removeAttribute("aria-busy"); }
  }

  // Remember where the focus goes once the row has been replaced.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.target.closest && event.target.closest("tr[data-row]");
    if (!row) { return; }
    var next = row.nextElementSibling;
    nextAfterSwap = {same: row.id, next: next ? next.id : row.id};
    busy(true);
  });
  // A failed request (no answer, or 5xx) swaps nothing: the focus stays where it is.
  document.addEventListener("htmx:afterRequest", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (nextAfterSwap && (status === 0 || status >= 500)) {
      nextAfterSwap = null;
      busy(false);
    }
  });
  // A refused label (4xx) comes back as the row with its error: show it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500 && event.detail.serverResponse) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      if (nextAfterSwap) { nextAfterSwap.next = nextAfterSwap.same; }
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (nextAfterSwap) {
      var target = document.getElementById(nextAfterSwap.next);
      nextAfterSwap = null;
      focusRow(target);
    }
    busy(false);
  });
})();
