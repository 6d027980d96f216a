// The back office page: calls /api/bo/v1 with the platform's session (same origin, its cookie).
"use strict";

const API = "/api/bo/v1";
const PAGE_SIZE = 20;
const STATUS_NAMES = {
  VALID: "Valida (valid)",
  EXPIRED: "Scaduta (expired)",
  INVALID: "Annullata (invalid)",
  PAID: "Pagata (paid)",
};
const state = { me: null, ec: null, role: null, cursors: [null], page: 0, next: null, editing: null, shown: null };

const $ = (selector) => document.querySelector(selector);

function say(text, kind = "info") {
  const box = $("#status");
  box.replaceChildren();
  if (!text) return;
  const alert = document.createElement("div");
  alert.className = `alert alert-${kind}`;
  alert.textContent = text;
  box.append(alert);
}

async function api(method, path, body) {
  return answer(fetch(API + path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

async function answer(pending) {
  const response = await pending;
  if (response.status === 401) {
    window.location.assign("/.auth/login/aad?post_login_redirect_uri=/api/bo");
    throw new Error("not signed in");
  }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = new Error(data && data.detail ? data.detail : `HTTP ${response.status}`);
    error.problem = data;
    error.status = response.status;
    throw error;
  }
  return data;
}

// Each formatter made once, when the script runs (the first page is still on its way then):
// making one (its locale and time zone data) costs far more than formatting with it, and a
// page of the table formats 40 values.
const EUROS = new Intl.NumberFormat("it-IT", { style: "currency", currency: "EUR" });
const DAY = new Intl.DateTimeFormat("it-IT", { timeZone: "Europe/Rome", dateStyle: "short" });
const WHEN = new Intl.DateTimeFormat("it-IT", { timeZone: "Europe/Rome", dateStyle: "short", timeStyle: "short" });

function euros(cents) {
  return EUROS.format(cents / 100);
}

function day(iso) {
  return DAY.format(new Date(iso));
}

function when(iso) {
  return WHEN.format(new Date(iso));
}

function romeDay(iso) {
  // YYYY-MM-DD of an instant in Europe/Rome (for the date input)
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Rome" }).format(new Date(iso));
}

function endOfRomeDay(value) {
  // 23:59:59 of the day in Europe/Rome, with that day's offset (winter +01:00, summer +02:00)
  const noon = new Date(`${value}T12:00:00Z`);
  const name = new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Rome", timeZoneName: "longOffset" })
    .formatToParts(noon).find((part) => part.type === "timeZoneName").value;
  const offset = name === "GMT" ? "+00:00" : name.slice(3);
  return `${value}T23:59:59${offset}`;
}

function cents(text) {
  const clean = text.trim().replace(/\./g, "").replace(",", ".");
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  return Math.round(parseFloat(clean) * 100);
}

function editor() {
  return state.role === "editor";
}

function showEditorControls() {
  // a viewer's page has no edit controls at all: they are removed, not just hidden
  for (const control of document.querySelectorAll(".editor-only")) {
    if (!editor()) control.remove();
    else if (control.tagName !== "SECTION") control.hidden = false;
  }
}

// ------------------------------------------------------------------ search and table
function filters() {
  const form = new FormData($("#search"));
  const query = new URLSearchParams();
  for (const [name, value] of form.entries()) if (value) query.set(name, value);
  return query;
}

async function load() {
  const query = filters();
  query.set("pageSize", String(PAGE_SIZE));
  const cursor = state.cursors[state.page];
  if (cursor) query.set("cursor", cursor);
  const path = `/ecs/${state.ec}/positions?${query}`;
  const early = EARLY.search && EARLY.search.path === path ? EARLY.search.answer : null;
  EARLY.search = null;
  try {
    const page = await (early || api("GET", path));
    state.next = page.nextCursor;
    render(page.items);
    if (!page.items.length) say("Nessuna posizione trovata (no notices found).");
  } catch (error) {
    say(`Ricerca non riuscita (search failed): ${error.message}`, "danger");
  }
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function render(items) {
  const body = $("#positions tbody");
  // the rows are built apart and put in at once: one layout for the page, not one per row
  const rows = document.createDocumentFragment();
  for (const item of items) {
    const row = document.createElement("tr");
    row.dataset.iuv = item.iuv;
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = item.iuv;
    row.append(th);
    cell(row, item.nav);
    cell(row, `${item.entityFullName} (${item.entityFiscalCode})`);
    cell(row, item.description);
    cell(row, euros(item.amount)).className = "text-end";
    cell(row, day(item.expirationDate));
    cell(row, STATUS_NAMES[item.status] || item.status);
    const actions = cell(row, "");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "btn btn-outline-primary btn-xs";
    open.textContent = "Dettaglio";
    open.setAttribute("aria-label", `Dettaglio (detail) ${item.iuv}`);
    open.addEventListener("click", () => showDetail(item.nav));
    actions.append(open);
    rows.append(row);
  }
  body.replaceChildren(rows);
  $("#page-number").textContent = `Pagina ${state.page + 1} (page ${state.page + 1})`;
  $("#first").disabled = state.page === 0;
  $("#previous").disabled = state.page === 0;
  $("#next").disabled = !state.next;
}

// ------------------------------------------------------------------ detail
const FIELDS = [
  ["iuv", "IUV"],
  ["nav", "Codice avviso (notice code)"],
  ["entityFullName", "Debitore (debtor)"],
  ["entityFiscalCode", "Codice fiscale (fiscal code)"],
  ["description", "Causale (description)"],
  ["amount", "Importo (amount)", euros],
  ["expirationDate", "Scadenza (due)", day],
  ["status", "Stato (status)", (s) => STATUS_NAMES[s] || s],
  ["iban", "IBAN"],
  ["receiptId", "Ricevuta (receipt)"],
];

async function showDetail(nav) {
  // nothing of the previous position stays clickable while this one loads
  $("#detail").hidden = true;
  try {
    const position = await api("GET", `/ecs/${state.ec}/positions/${nav}`);
    state.shown = position;
    const list = $("#detail-fields");
    list.replaceChildren();
    for (const [name, label, format] of FIELDS) {
      const value = position[name];
      if (value === null || value === undefined) continue;
      const dt = document.createElement("dt");
      dt.className = "col-sm-3";
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.className = "col-sm-9";
      dd.textContent = format ? format(value) : value;
      list.append(dt, dd);
    }
    const history = $("#history tbody");
    history.replaceChildren();
    for (const change of position.history) {
      const row = document.createElement("tr");
      for (const text of [when(change.at), change.by, change.action, change.status, change.fields.join(", ")]) cell(row, text);
      history.append(row);
    }
    const editable = position.status === "VALID" || position.status === "EXPIRED";
    for (const id of ["#edit", "#invalidate"]) {
      const button = $(id);
      if (button) button.disabled = !editable;
    }
    const form = $("#editor");
    if (form) form.hidden = true;
    $("#detail").hidden = false;
    $("#detail").focus();
  } catch (error) {
    say(`Lettura non riuscita (could not read): ${error.message}`, "danger");
  }
}

async function invalidate() {
  const position = state.shown;
  try {
    await api("POST", `/ecs/${state.ec}/positions/${position.nav}/invalidate`);
    say(`Posizione ${position.iuv} annullata (invalidated).`, "success");
    await showDetail(position.nav);
    await load();
  } catch (error) {
    say(`Annullamento non riuscito (not invalidated): ${error.message}`, "danger");
  }
}

// ------------------------------------------------------------------ create and edit
function clearErrors() {
  $("#form-errors").replaceChildren();
  for (const input of document.querySelectorAll("#position-form .is-invalid")) {
    input.classList.remove("is-invalid");
    input.removeAttribute("aria-invalid");
  }
  for (const message of document.querySelectorAll("#position-form .invalid-feedback")) message.textContent = "";
}

function fieldError(field, message) {
  const input = document.getElementById(`f-${field}`);
  const feedback = document.getElementById(`e-${field}`);
  if (!input || !feedback) return false;
  input.classList.add("is-invalid");
  input.setAttribute("aria-invalid", "true");
  feedback.textContent = feedback.textContent ? `${feedback.textContent}; ${message}` : message;
  return true;
}

function showProblem(problem, fallback) {
  let named = false;
  for (const error of (problem && problem.errors) || []) {
    const loc = error.loc || [];
    const field = loc[loc.length - 1];
    named = fieldError(String(field), error.msg) || named;
  }
  const alert = document.createElement("div");
  alert.className = "alert alert-danger";
  alert.textContent = named
    ? "Correggi i campi segnalati (fix the fields shown)."
    : (problem && problem.detail) || fallback;
  $("#form-errors").append(alert);
  const first = document.querySelector("#position-form .is-invalid");
  if (first) first.focus();
}

function openEditor(position) {
  state.editing = position;
  say("");
  clearErrors();
  const form = $("#position-form");
  form.reset();
  $("#editor-title").textContent = position
    ? `Modifica la posizione ${position.iuv} (edit notice)`
    : "Nuova posizione (new notice)";
  if (position) {
    for (const name of ["entityType", "entityFiscalCode", "entityFullName", "iuv", "description", "iban"]) {
      form.elements[name].value = position[name] || "";
    }
    form.elements.amount.value = (position.amount / 100).toFixed(2).replace(".", ",");
    form.elements.expirationDate.value = romeDay(position.expirationDate);
    form.elements.switchToExpired.checked = position.switchToExpired;
    form.elements.payStandIn.checked = position.payStandIn;
  }
  form.elements.iuv.readOnly = Boolean(position);
  $("#detail").hidden = true;
  $("#editor").hidden = false;
  $("#editor").focus();
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  const form = $("#position-form");
  const amount = cents(form.elements.amount.value);
  if (amount === null) {
    showProblem({ errors: [{ loc: ["amount"], msg: "un importo in euro, es. 12,50 (an amount in euro)" }] });
    return;
  }
  const due = form.elements.expirationDate.value;
  if (!due) {
    showProblem({ errors: [{ loc: ["expirationDate"], msg: "obbligatoria (required)" }] });
    return;
  }
  const body = {
    paFiscalCode: state.ec,
    entityType: form.elements.entityType.value,
    entityFiscalCode: form.elements.entityFiscalCode.value.trim(),
    entityFullName: form.elements.entityFullName.value.trim(),
    iuv: form.elements.iuv.value.trim(),
    amount,
    description: form.elements.description.value.trim(),
    expirationDate: endOfRomeDay(due),
    switchToExpired: form.elements.switchToExpired.checked,
    payStandIn: form.elements.payStandIn.checked,
  };
  const iban = form.elements.iban.value.trim();
  if (iban) body.iban = iban;
  if (state.editing && state.editing.nav !== `3${body.iuv}`) body.nav = state.editing.nav;
  try {
    const saved = state.editing
      ? await api("PUT", `/ecs/${state.ec}/positions/${state.editing.nav}`, body)
      : await api("POST", `/ecs/${state.ec}/positions`, body);
    $("#editor").hidden = true;
    await load();
    await showDetail(saved.nav);
    say(`Posizione ${saved.iuv} salvata (saved).`, "success");
  } catch (error) {
    showProblem(error.problem, error.message);
  }
}

// ------------------------------------------------------------------ start
// The first page's fixed cost (docs/backoffice.md, "The page's first page"): early.js asks
// for the user's ECs (/me) and, for the EC this browser showed last, its first page of
// notices, before the style sheet is parsed; start() uses that page when the EC is still the
// user's. The other sections start after the table is drawn, so nothing competes with it.
const LAST_EC = "centroStella.bo.ec"; // early.js reads the same key
const EARLY = { me: null, search: null };

function lastEc() {
  try {
    return window.localStorage.getItem(LAST_EC);
  } catch {
    return null; // storage refused (privacy settings): start without it
  }
}

function rememberEc(ec) {
  try {
    window.localStorage.setItem(LAST_EC, ec);
  } catch {
    // nothing to remember with: the next visit asks for /me first
  }
}

function startEarly() {
  const early = window.boEarly || {};
  EARLY.me = early.me ? answer(early.me) : api("GET", "/me");
  EARLY.me.catch(() => {}); // start() reports it
  if (early.search) {
    const taken = answer(early.search.response);
    taken.catch(() => {}); // unused when the EC is no longer the user's; load() reports it
    EARLY.search = { path: early.search.path, answer: taken };
  }
}

startEarly();

async function start() {
  try {
    state.me = await EARLY.me;
  } catch (error) {
    say(error.status === 403
      ? "Nessun ente ti ha dato accesso (no creditor institution has given you access)."
      : `Errore (error): ${error.message}`, "danger");
    return;
  }
  $("#who").textContent = state.me.name;
  const select = $("#ec");
  for (const ec of state.me.ecs) {
    const option = document.createElement("option");
    option.value = ec.fiscalCode;
    option.textContent = `${ec.name} (${ec.fiscalCode}) – ${ec.role}`;
    select.append(option);
  }
  if (!state.me.ecs.length) {
    say("Nessun ente ti ha dato accesso (no creditor institution has given you access).", "warning");
    return;
  }
  $("#ec-choice").hidden = state.me.ecs.length < 2;
  const remembered = state.me.ecs.find((ec) => ec.fiscalCode === lastEc());
  if (remembered) select.value = remembered.fiscalCode;
  const choose = () => {
    const chosen = state.me.ecs.find((ec) => ec.fiscalCode === select.value) || state.me.ecs[0];
    state.ec = chosen.fiscalCode;
    state.role = chosen.role;
  };
  choose();
  rememberEc(state.ec);
  select.addEventListener("change", () => {
    rememberEc(select.value);
    window.location.reload();
  });
  showEditorControls();
  $("#search-section").hidden = false;
  $("#search").addEventListener("submit", (event) => {
    event.preventDefault();
    say("");
    state.cursors = [null];
    state.page = 0;
    load();
  });
  $("#search").addEventListener("reset", () => setTimeout(() => $("#search").requestSubmit(), 0));
  $("#next").addEventListener("click", () => {
    state.cursors[state.page + 1] = state.next;
    state.page += 1;
    load();
  });
  $("#previous").addEventListener("click", () => {
    state.page = Math.max(0, state.page - 1);
    load();
  });
  $("#first").addEventListener("click", () => {
    state.page = 0;
    load();
  });
  $("#close-detail").addEventListener("click", () => { $("#detail").hidden = true; });
  if (editor()) {
    $("#new").addEventListener("click", () => openEditor(null));
    $("#edit").addEventListener("click", () => openEditor(state.shown));
    $("#invalidate").addEventListener("click", invalidate);
    $("#position-form").addEventListener("submit", save);
    $("#cancel").addEventListener("click", () => { $("#editor").hidden = true; });
  }
  // the file zone before the first page's wait: it asks nothing of the server, and a file dropped
  // on a zone without its listener would be opened by the browser in place of the page
  if (typeof initFiles === "function") initFiles();
  await load();
  // after the notices' first page, so they do not compete for it
  window.startJournal(state.ec);
  if (window.initPayments) window.initPayments(state.ec);
}

document.addEventListener("DOMContentLoaded", start);
