// Paper notices: the position's notice, or the search's results, downloaded as a PDF.
// Uses backoffice.js's globals (API, state, filters, say), loaded before this file.
"use strict";

async function downloadPdf(path, filename) {
  say("Preparazione del PDF… (preparing the PDF…)");
  const response = await fetch(API + path, { credentials: "same-origin" });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    const reason = problem && problem.detail ? problem.detail : `HTTP ${response.status}`;
    say(`Stampa non riuscita (printing failed): ${reason}`, "danger");
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // the download has its own copy once started
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  say(`PDF pronto: ${filename} (PDF ready)`, "success");
}

function printOne() {
  const nav = state.shown && state.shown.nav;
  if (!nav) return;
  downloadPdf(`/ecs/${state.ec}/positions/${nav}/paper-notice`, `avviso-${nav}.pdf`);
}

function printSearch() {
  const query = filters();
  downloadPdf(`/ecs/${state.ec}/paper-notices?${query}`, `avvisi-${state.ec}.pdf`);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelector("#print-one").addEventListener("click", printOne);
  document.querySelector("#print-batch").addEventListener("click", printSearch);
});
