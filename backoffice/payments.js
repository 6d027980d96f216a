// The back office's payments section: the EC's paid notices from /api/bo/v1/ecs/{ec}/payments,
// filtered by the day paid, a page at a time, and the CSV export link. Started by
// backoffice.js (initPayments) once the user's EC is known.
"use strict";

(() => {
  const PAYMENTS_PAGE = 20;
  const pay = { ec: null, next: null };
  const q = (selector) => document.querySelector(selector);

  function money(cents) {
    return new Intl.NumberFormat("it-IT", { style: "currency", currency: "EUR" }).format(cents / 100);
  }

  function at(iso) {
    return new Intl.DateTimeFormat("it-IT", { timeZone: "Europe/Rome", dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
  }

  function days() {
    const params = new URLSearchParams();
    const from = q("#p-from").value;
    const to = q("#p-to").value;
    if (from) params.set("paidFrom", from);
    if (to) params.set("paidTo", to);
    return params;
  }

  function exportLink() {
    const query = days().toString();
    q("#p-export").href = `/api/bo/v1/ecs/${pay.ec}/payments/export${query ? `?${query}` : ""}`;
  }

  async function loadPayments(append) {
    const params = days();
    params.set("pageSize", String(PAYMENTS_PAGE));
    if (append && pay.next) params.set("cursor", pay.next);
    const response = await fetch(`/api/bo/v1/ecs/${pay.ec}/payments?${params}`, { credentials: "same-origin" });
    const body = await response.json();
    const status = q("#p-status");
    if (!response.ok) {
      status.textContent = `Errore (error): ${body.detail || response.status}`;
      return;
    }
    const rows = q("#payments tbody");
    if (!append) rows.replaceChildren();
    for (const item of body.items) {
      const row = document.createElement("tr");
      row.dataset.notice = item.noticeCode;
      const cells = [
        item.noticeCode,
        item.iuv,
        `${item.debtorName || ""} ${item.debtorFiscalCode}`.trim(),
        money(item.amount),
        at(item.paidAt),
        item.pspName ? `${item.pspName} (${item.psp})` : item.psp || "", // the id alone: no name
        item.standIn ? "Sì (yes)" : "No",
        `${item.payerName || ""} ${item.payerFiscalCode || ""}`.trim() || "n.d.",
        item.method ? `${item.method}, ${money(item.fee || 0)}` : "n.d.",
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      const receipt = document.createElement("td");
      const link = document.createElement("a");
      link.href = `/api/bo/v1/ecs/${pay.ec}/payments/${encodeURIComponent(item.iuv)}/pdf`;
      link.className = "receipt-pdf";
      link.textContent = "Ricevuta PDF";
      // the visible text first, so a voice command that reads it finds the link
      link.setAttribute("aria-label", `Ricevuta PDF (receipt PDF) ${item.noticeCode}`);
      receipt.append(`${item.receiptId || ""} `, link);
      row.append(receipt);
      rows.append(row);
    }
    pay.next = body.nextCursor;
    q("#p-more").disabled = !pay.next;
    status.textContent = rows.children.length
      ? `${rows.children.length} pagamenti (payments)`
      : "Nessun pagamento trovato (no payments found)";
  }

  window.initPayments = (ec) => {
    pay.ec = ec;
    q("#payments-section").hidden = false;
    exportLink();
    q("#payments-search").addEventListener("submit", (event) => {
      event.preventDefault();
      exportLink();
      loadPayments(false);
    });
    q("#p-more").addEventListener("click", () => loadPayments(true));
    loadPayments(false);
  };
})();
