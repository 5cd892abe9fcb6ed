// xtenant console: while a run goes, its page polls the run's progress and reloads when it is
// done. Loaded from the app (script-src 'self'); nothing inline, no library.
"use strict";

(function () {
  const section = document.getElementById("progress");
  if (!section || section.dataset.going !== "yes") return;
  const bar = section.querySelector("progress");
  const text = section.querySelector("[data-progress-text]");
  const url = section.dataset.progressUrl;

  async function poll() {
    let answer;
    try {
      answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (error) {
      setTimeout(poll, 5000);
      return;
    }
    if (!answer.ok) return; // signed out or gone: the next reload says why
    const run = await answer.json();
    bar.max = Math.max(run.total, 1);
    bar.value = run.done;
    text.textContent = run.done + " of " + run.total + " rows done" + (run.going ? ", still running" : "");
    if (run.going) {
      setTimeout(poll, 2000);
    } else {
      window.location.reload();
    }
  }

  setTimeout(poll, 2000);
})();
