// Drag and drop on the board, and its live updates. The page works without this script:
// every card has its own "Move to…" form, which is what a drop sends too. A drop that the
// server refuses (the conversation left that step meanwhile) puts the card back and says
// why. Changes made anywhere arrive as server-sent events carrying the changed cards and
// the column figures, rendered by the server; this script only puts them in place.
var dragging = false;
(function () {
  "use strict";
  var board = document.querySelector(".board[data-scenario-id]");
  if (!board || !window.Sortable) return;
  var status = document.getElementById("board-status");
  function say(text) {
    status.textContent = text;
    status.hidden = !text;
  }
  var busy = false;
  board.querySelectorAll(".cards").forEach(function (list) {
    window.Sortable.create(list, {
      group: "board",
      draggable: ".card",
      // Pointer events rather than native drag and drop: the same on touch screens, and
      // under browser automation.
      forceFallback: true,
      animation: 120,
      filter: "select, button, a, input, label",
      preventOnFilter: false,
      onMove: function () { return !busy; },
      onStart: function () { dragging = true; },
      onEnd: function (event) {
        dragging = false;
        var from = event.from.closest(".column").dataset.stepId;
        var to = event.to.closest(".column").dataset.stepId;
        if (from === to) return;
        var card = event.item;
        busy = true;
        say("");
        var body = new URLSearchParams({ from: from, to: to, scenario: board.dataset.scenarioId });
        fetch("/ui/conversations/" + card.dataset.conversationId + "/move", {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "x-stagecoach-ui": "fetch" },
        }).then(function (response) {
          if (response.ok) {
            // The counts, sums and forms of both columns change: show the board as it is now.
            window.location.reload();
            return;
          }
          return response.text().then(function (text) {
            event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
            busy = false;
            say(text || "The move was refused.");
          });
        }).catch(function () {
          event.from.insertBefore(card, event.from.children[event.oldIndex] || null);
          busy = false;
          say("The move could not be sent; check the connection and try again.");
        });
      },
    });
  });
})();

(function () {
  "use strict";
  var board = document.querySelector(".board[data-live]");
  if (!board || !window.EventSource) return;
  var pending = [];

  // Cards sort as the server sorts them: when they joined the board, then by id.
  function after(element, order, id) {
    var other = Number(element.dataset.order);
    return other > order || (other === order && element.dataset.conversationId > id);
  }

  function apply(change) {
    if (change.resync || change.columns.length !== board.querySelectorAll(".column").length) {
      window.location.reload();
      return;
    }
    change.columns.forEach(function (figures) {
      var column = document.getElementById("step-" + figures.step);
      if (!column) return;
      column.querySelector(".count").textContent = figures.count;
      var payments = column.querySelector(".open-payments");
      payments.textContent = figures.payments;
      payments.hidden = !figures.payments;
    });
    change.gone.forEach(function (id) {
      var card = document.getElementById("card-" + id);
      if (card) card.remove();
    });
    change.cards.forEach(function (update) {
      var old = document.getElementById("card-" + update.id);
      if (old) old.remove();
      var column = document.getElementById("step-" + update.step);
      if (!column) return;
      var list = column.querySelector(".cards");
      var next = null;
      for (var i = 0; i < list.children.length; i++) {
        if (after(list.children[i], update.order, update.id)) {
          next = list.children[i];
          break;
        }
      }
      // Past the last loaded card of a column that has more: it belongs to a later page.
      if (!next && column.querySelector(".more")) return;
      var template = document.createElement("template");
      template.innerHTML = update.html.trim();
      list.insertBefore(template.content.firstElementChild, next);
    });
  }

  var source = new EventSource(board.dataset.live);
  var lost = false;
  source.addEventListener("open", function () {
    // After a gap, changes may have been missed: show the board as it is now.
    if (lost) window.location.reload();
    board.dataset.liveReady = "true";
  });
  source.addEventListener("error", function () { lost = true; });
  source.addEventListener("signed-out", function () { window.location.href = "/ui/login"; });
  source.addEventListener("board", function (event) {
    pending.push(JSON.parse(event.data));
    if (!dragging) pending.splice(0).forEach(apply);
  });
  document.addEventListener("pointerup", function () {
    setTimeout(function () { if (!dragging) pending.splice(0).forEach(apply); }, 0);
  });

  // The auto-advance countdowns, kept current between updates.
  function soon(due) {
    var minutes = Math.ceil((due - Date.now()) / 60000);
    if (minutes <= 0) return "now";
    if (minutes < 60) return "in " + minutes + " min";
    if (minutes < 2880) return "in " + Math.floor(minutes / 60) + " h";
    return "in " + Math.floor(minutes / 1440) + " d";
  }
  setInterval(function () {
    board.querySelectorAll("time.countdown").forEach(function (time) {
      time.textContent = soon(Date.parse(time.getAttribute("datetime")));
    });
  }, 30000);
})();
