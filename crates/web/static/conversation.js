// The conversation page, made smoother. Without this script the page works as it is: a
// "Show older messages" link pages back, and a reload shows what changed.
// - Scrolling up to the oldest message shown loads the older ones above it (the link's
//   own page, fetched and merged).
// - When the server says the conversation changed (a message, a move, a status), the page
//   fetches itself: new messages are added, changed ones replaced, and the facts swapped.
//   What is being typed in the composer stays.
(function () {
  "use strict";
  var page = document.querySelector("[data-live]");
  var messages = document.getElementById("live-messages");
  if (!page || !messages || !window.fetch) return;

  function fetchPage(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (response.redirected || !response.ok) {
        window.location.reload();
        return null;
      }
      return response.text().then(function (html) {
        return new DOMParser().parseFromString(html, "text/html");
      });
    });
  }

  function list(root) {
    return root.querySelector("#live-messages ol.messages");
  }

  // The latest messages in view, as in any chat.
  messages.scrollTop = messages.scrollHeight;

  // Older messages, above the oldest shown, when the reader scrolls up to them.
  var loading = false;
  function loadOlder(link) {
    if (loading) return;
    loading = true;
    fetchPage(link.href).then(function (older) {
      loading = false;
      if (!older) return;
      var shown = list(document);
      var first = shown.firstElementChild;
      // What the reader sees stays where it is.
      var fromBottom = messages.scrollHeight - messages.scrollTop;
      Array.prototype.slice.call(list(older).children).forEach(function (item) {
        if (!document.querySelector('[data-message-id="' + item.dataset.messageId + '"]')) {
          shown.insertBefore(document.importNode(item, true), first);
        }
      });
      messages.scrollTop = messages.scrollHeight - fromBottom;
      var next = older.querySelector("a.older-messages");
      if (next) link.href = next.href;
      else link.parentElement.remove();
      messages.dataset.olderLoaded = "true";
    });
  }
  var link = messages.querySelector("a.older-messages");
  if (link && window.IntersectionObserver) {
    new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var current = messages.querySelector("a.older-messages");
        if (entry.isIntersecting && current) loadOlder(current);
      });
    }, { root: messages }).observe(link);
  }

  // Live: merge the latest messages by id, and swap the facts.
  function refresh() {
    fetchPage(window.location.pathname).then(function (fresh) {
      if (!fresh) return;
      var shown = list(document);
      var atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
      Array.prototype.slice.call(list(fresh).children).forEach(function (item) {
        var old = document.querySelector('[data-message-id="' + item.dataset.messageId + '"]');
        var copy = document.importNode(item, true);
        if (old) old.replaceWith(copy);
        else if (!messages.dataset.paged) shown.appendChild(copy);
      });
      var empty = messages.querySelector("p.muted");
      if (empty && shown.children.length) empty.remove();
      if (atBottom) messages.scrollTop = messages.scrollHeight;
      var aside = document.getElementById("live-aside");
      var freshAside = fresh.getElementById("live-aside");
      if (aside && freshAside) aside.innerHTML = freshAside.innerHTML;
      page.dataset.liveVersion = String(Number(page.dataset.liveVersion || 0) + 1);
    });
  }
  if (!window.EventSource) return;
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
