// The live countdown of the teacher's page (issue #13): minutes left move on
// their own, the "less than 5 minutes" warning appears, and the page reloads
// when a control ends. Counted from the page's load with the browser's
// monotonic clock, so a phone whose clock is wrong still counts right. The
// page works without it (the minutes shown when it loaded).
"use strict";
(function () {
  var spans = document.querySelectorAll("[data-seconds-left]");
  if (!spans.length || !window.performance) { return; }
  var loaded = window.performance.now();
  function tick() {
    var elapsed = (window.performance.now() - loaded) / 1000;
    var ended = false;
    for (var i = 0; i < spans.length; i++) {
      var left = Number(spans[i].getAttribute("data-seconds-left")) - elapsed;
      spans[i].textContent = String(Math.max(0, Math.floor(left / 60)));
      var item = spans[i].closest("li");
      var soon = item && item.querySelector(".soon");
      if (left <= 300 && item) { item.classList.add("alert"); if (soon) { soon.hidden = false; } }
      // Reload once the control has ended (never for one shown as already over).
      if (left <= 0 && Number(spans[i].getAttribute("data-seconds-left")) > 0) { ended = true; }
    }
    if (ended) { window.location.reload(); return; }
    window.setTimeout(tick, 1000);
  }
  tick();
})();
