// Drag and drop on the board. The page works without this script: every card has its own
// "Move to…" form, which is what a drop sends too. A drop that the server refuses (the
// conversation left that step meanwhile) puts the card back and says why.
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
      onEnd: function (event) {
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
