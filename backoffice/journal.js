// The event journal section of the back office (Giornale degli eventi): search, pages, CSV.
// backoffice.js calls window.startJournal(ec) once it knows the signed-in user's EC.
"use strict";

(() => {
  const API = "/api/bo/v1/journal";
  const KIND_NAMES = {
    "position.created": "Posizione creata (notice created)",
    "position.updated": "Posizione modificata (notice changed)",
    "position.invalidated": "Posizione annullata (notice invalidated)",
    "position.paid": "Posizione pagata (notice paid)",
    "position.expired": "Posizione scaduta (notice expired)",
    "receipt.delivered": "Ricevuta consegnata all'ente (receipt delivered)",
    "upload.started": "Caricamento file avviato (upload started)",
    "upload.finished": "Caricamento file concluso (upload finished)",
    "station.standin.entered": "Stazione in stand-in (station entered stand-in)",
    "station.standin.exited": "Stazione fuori dallo stand-in (station left stand-in)",
    signin: "Accesso (sign-in)",
    write: "Operazione nel back office (back-office write)",
  };
  const journal = { ec: null, cursors: [null], page: 0, next: null };
  const $ = (selector) => document.querySelector(selector);

  function when(iso) {
    return new Intl.DateTimeFormat("it-IT", { timeZone: "Europe/Rome", dateStyle: "short", timeStyle: "medium" })
      .format(new Date(iso));
  }

  function query() {
    const params = new URLSearchParams({ ec: journal.ec });
    for (const [id, name] of [["#j-from", "from"], ["#j-to", "to"], ["#j-kind", "kind"], ["#j-object", "object"]]) {
      const value = $(id).value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }

  function changed(fields) {
    return Object.entries(fields || {})
      .map(([name, value]) => `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
      .join("; ");
  }

  async function load() {
    const params = query();
    $("#journal-csv").href = `${API}.csv?${params}`;
    params.set("pageSize", "20");
    const cursor = journal.cursors[journal.page];
    if (cursor) params.set("cursor", cursor);
    const status = $("#journal-status");
    status.textContent = "";
    const response = await fetch(`${API}?${params}`, { credentials: "same-origin" });
    const data = await response.json();
    if (!response.ok) {
      status.textContent = `Errore (error): ${data.detail || response.status}`;
      return;
    }
    journal.next = data.nextCursor;
    const body = $("#journal tbody");
    body.replaceChildren();
    for (const entry of data.items) {
      const row = document.createElement("tr");
      row.dataset.kind = entry.kind;
      row.dataset.object = entry.object || "";
      cell(row, when(entry.at));
      cell(row, KIND_NAMES[entry.kind] || entry.kind);
      cell(row, entry.object || "");
      cell(row, entry.who ? (entry.who.name || entry.who.objectId) : "Sistema (system)");
      cell(row, entry.from || "");
      cell(row, `${entry.summary}${entry.fields && Object.keys(entry.fields).length ? ` – ${changed(entry.fields)}` : ""}`);
      body.append(row);
    }
    if (!data.items.length) status.textContent = "Nessun evento trovato (no events found).";
    $("#journal-page").textContent = `Pagina ${journal.page + 1} (page ${journal.page + 1})`;
    $("#journal-previous").disabled = journal.page === 0;
    $("#journal-next").disabled = !journal.next;
  }

  window.startJournal = (ec) => {
    journal.ec = ec;
    const kinds = $("#j-kind");
    for (const [value, name] of Object.entries(KIND_NAMES)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = name;
      kinds.append(option);
    }
    $("#journal-section").hidden = false;
    $("#journal-search").addEventListener("submit", (event) => {
      event.preventDefault();
      journal.cursors = [null];
      journal.page = 0;
      load();
    });
    $("#journal-next").addEventListener("click", () => {
      journal.cursors[journal.page + 1] = journal.next;
      journal.page += 1;
      load();
    });
    $("#journal-previous").addEventListener("click", () => {
      journal.page = Math.max(0, journal.page - 1);
      load();
    });
    load();
  };
})();
