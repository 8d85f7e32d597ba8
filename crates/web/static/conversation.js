// Live updates of a conversation page: when the server says the conversation changed
// (a message, a move, a status), the page fetches itself and shows the new messages and
// facts. What is being typed in the composer stays.
(function () {
  "use strict";
  var page = document.querySelector("[data-live]");
  if (!page || !window.EventSource) return;
  var parts = ["live-messages", "live-aside"];
  function refresh() {
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) {
          window.location.reload();
          return null;
        }
        return response.text();
      })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        parts.forEach(function (id) {
          var now = document.getElementById(id);
          var then = fresh.getElementById(id);
          if (now && then) now.innerHTML = then.innerHTML;
        });
        page.dataset.liveVersion = String(Number(page.dataset.liveVersion || 0) + 1);
      });
  }
  var source = new EventSource(page.dataset.live);
  var lost = false;
  source.addEventListener("open", function () {
    if (lost) refresh();
    page.dataset.liveReady = "true";
  });
  source.addEventListener("error", function () { lost = true; });
  source.addEventListener("signed-out", function () { window.location.href = "/ui/login"; });
  source.addEventListener("conversation", refresh);
})();
