// Paper notices: the position's notice downloaded as a PDF; the search's results printed by a
// job (the server renders them into a file while the page asks how it is going, then the page
// downloads the file from the link the job gives).
// Uses backoffice.js's globals (API, api, state, filters, say), loaded before this file.
"use strict";

const JOB_POLL_MS = 1000;

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
  downloadFrom(url, filename);
  // the download has its own copy once started
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  say(`PDF pronto: ${filename} (PDF ready)`, "success");
}

function downloadFrom(url, filename) {
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
}

function printOne() {
  const nav = state.shown && state.shown.nav;
  if (!nav) return;
  downloadPdf(`/ecs/${state.ec}/positions/${nav}/paper-notice`, `avviso-${nav}.pdf`);
}

async function printSearch() {
  const ec = state.ec;
  const filename = `avvisi-${ec}.pdf`;
  say("Preparazione del PDF… (preparing the PDF…)");
  try {
    let job = await api("POST", `/ecs/${ec}/paper-notices?${filters()}`);
    while (job.state === "queued") {
      say(`Preparazione di ${job.notices} avvisi… (preparing ${job.notices} notices…)`);
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
      job = await api("GET", `/ecs/${ec}/paper-notices/${job.id}`);
    }
    if (job.state !== "done") {
      say(`Stampa non riuscita (printing failed): ${job.reason || job.state}`, "danger");
      return;
    }
    // a link to the file itself, readable for a few minutes: the server sends it as an attachment
    downloadFrom(job.url, filename);
    say(`PDF pronto: ${filename}, ${job.pages} avvisi (PDF ready, ${job.pages} notices)`, "success");
  } catch (error) {
    say(`Stampa non riuscita (printing failed): ${error.message}`, "danger");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelector("#print-one").addEventListener("click", printOne);
  document.querySelector("#print-batch").addEventListener("click", printSearch);
});
