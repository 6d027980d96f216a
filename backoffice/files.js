// Files: a CSV or NDJSON of positions uploaded through the archive's bulk upload, its progress
// (the upload, then the archive writing it) and its report, with the rejected lines as a file.
// Uses backoffice.js's globals (API, state, say); initFiles() is called once the user is known.
"use strict";

const POLL_MS = 1000;
const files = { report: null, name: null };

function fileProgress(fraction, text) {
  const bar = document.querySelector("#file-progress-bar");
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  bar.style.width = `${percent}%`;
  bar.setAttribute("aria-valuenow", String(percent));
  document.querySelector("#file-progress-text").textContent = text;
}

function mediaType(file) {
  return /\.csv$/i.test(file.name) ? "text/csv" : "application/x-ndjson";
}

function send(file) {
  // XMLHttpRequest, not fetch: fetch reports no upload progress
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `${API}/ecs/${state.ec}/uploads`);
    request.setRequestHeader("Content-Type", mediaType(file));
    request.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
    request.responseType = "json";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        fileProgress(0.5 * event.loaded / event.total, "Invio del file… (sending the file…)");
      }
    });
    request.addEventListener("load", () => {
      if (request.status === 202) resolve(request.response);
      else reject(new Error((request.response && request.response.detail) || `HTTP ${request.status}`));
    });
    request.addEventListener("error", () => reject(new Error("rete non raggiungibile (network error)")));
    request.send(file);
  });
}

async function follow(bulkId) {
  for (;;) {
    const report = await api("GET", `/ecs/${state.ec}/uploads/${bulkId}`);
    const done = report.written + report.rejected;
    fileProgress(0.5 + 0.5 * (report.accepted ? done / report.accepted : 1),
      `Scrittura: ${done} di ${report.accepted} (writing: ${done} of ${report.accepted})`);
    if (report.status === "COMPLETED") return report;
    await new Promise((resume) => setTimeout(resume, POLL_MS));
  }
}

function showReport(report) {
  files.report = report;
  document.querySelector("#file-summary").textContent =
    `Righe accettate ${report.accepted}, scritte ${report.written}, scartate ${report.rejected} ` +
    `(positions ${report.accepted}, written ${report.written}, rejected ${report.rejected})`;
  const body = document.querySelector("#file-rejected tbody");
  body.replaceChildren();
  for (const line of report.rejectedLines) {
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = String(line.line);
    row.append(th);
    const reason = document.createElement("td");
    reason.textContent = line.reason;
    row.append(reason);
    body.append(row);
  }
  document.querySelector("#file-report").hidden = false;
  document.querySelector("#file-download").hidden = report.rejected === 0;
}

function csvCell(value) {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\n\r;]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function downloadRejected() {
  const lines = [["line", "iupd", "status", "reason"].join(",")];
  for (const line of files.report.rejectedLines) {
    lines.push([line.line, line.iupd, line.status, line.reason].map(csvCell).join(","));
  }
  const url = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `scarti-${files.name}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function upload(file) {
  if (!file) return;
  files.name = file.name.replace(/\.[^.]*$/, "");
  document.querySelector("#file-report").hidden = true;
  document.querySelector("#file-progress").hidden = false;
  fileProgress(0, "Invio del file… (sending the file…)");
  try {
    const accepted = await send(file);
    const report = await follow(accepted.bulkId);
    fileProgress(1, "Completato (completed)");
    showReport(report);
    say(`File ${file.name} elaborato (processed): ${report.written} scritte, ${report.rejected} scartate.`,
      report.rejected ? "warning" : "success");
  } catch (error) {
    fileProgress(0, "");
    say(`Caricamento non riuscito (upload failed): ${error.message}`, "danger");
  }
}

function initFiles() {
  const section = document.querySelector("#files");
  if (!section || !editor()) return;
  section.hidden = false;
  const input = document.querySelector("#file-input");
  input.addEventListener("change", () => upload(input.files[0]));
  const zone = document.querySelector("#file-drop");
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("file-drop-over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("file-drop-over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("file-drop-over");
    upload(event.dataTransfer.files[0]);
  });
  document.querySelector("#file-download").addEventListener("click", downloadRejected);
}
