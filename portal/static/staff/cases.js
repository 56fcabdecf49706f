// The answer form of a case: a refused answer (409 already answered, 422 empty or too long)
// comes back as the answer region with its message, so htmx swaps it in like a success; the
// message's element has autofocus, which htmx moves the focus to after the swap.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var target = event.detail.target;
    if ((status === 409 || status === 422) && target && target.id === "case-answer") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
