"""A citizen's payment receipt as a PDF (A4, one page, fonts embedded), Italian first.

What it shows follows pagoPA's receipt (pagopa/pagopa-template-receipt-pdf,
``receipt/success/pdf/partials/*.hbs``; its data from pagopa/pagopa-receipt-pdf-generator): who
paid (name and fiscal code), the transaction's identifiers, the payment method, the PSP that
handled it, the date and time; then the paid notice: its subject, debtor, creditor (name and
fiscal code), notice code in groups of four, amount; then the PSP's fee and the total; the
receipt's id at the foot. The layout is this project's own (docs/documents.md).

This module knows no capability: the payments' receipts service maps its ``Receipt`` to
:class:`ReceiptContent`. Rendering is CPU work (a few milliseconds): callers on an event loop run
it in a thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from shared.documents import fonts
from shared.documents.codes import grouped
from shared.documents.formats import euros, italian_timestamp

__all__ = ["ReceiptContent", "ReceiptParty", "render_receipt"]

_WIDTH, _HEIGHT = A4
_MARGIN = 56.0
_INK = (0.09, 0.13, 0.2)
_MUTED = (0.36, 0.4, 0.47)
_RULE = (0.8, 0.83, 0.87)


@dataclass(frozen=True)
class ReceiptParty:
    fiscal_code: str
    full_name: str | None = None


@dataclass(frozen=True)
class ReceiptContent:
    """What the receipt prints. Amounts in cents; ``paid_at`` timezone-aware."""

    receipt_id: str
    transaction_id: str
    notice_code: str
    ec_name: str
    ec_fiscal_code: str
    description: str
    amount: int
    fee: int
    psp_id: str
    psp_name: str
    method: str
    paid_at: datetime
    debtor: ReceiptParty
    payer: ReceiptParty
    iuv: str | None = None
    stand_in: bool = False

    @property
    def total(self) -> int:
        return self.amount + self.fee


class _Sheet:
    """A cursor down one page: labels (Italian, English beneath) and their values."""

    def __init__(self, canvas: Canvas) -> None:
        self.c = canvas
        self.y = _HEIGHT - _MARGIN

    def text(
        self, x: float, text: str, *, size: float, bold: bool = False, muted: bool = False
    ) -> None:
        self.c.setFont(fonts.BOLD if bold else fonts.REGULAR, size)
        self.c.setFillColorRGB(*(_MUTED if muted else _INK))
        self.c.drawString(x, self.y, text)

    def right(self, text: str, *, size: float, bold: bool = False) -> None:
        self.c.setFont(fonts.BOLD if bold else fonts.REGULAR, size)
        self.c.setFillColorRGB(*_INK)
        self.c.drawRightString(_WIDTH - _MARGIN, self.y, text)

    def down(self, points: float) -> None:
        self.y -= points

    def rule(self) -> None:
        self.c.setStrokeColorRGB(*_RULE)
        self.c.setLineWidth(0.6)
        self.c.line(_MARGIN, self.y, _WIDTH - _MARGIN, self.y)

    def field(self, label: str, english: str, values: list[str], x: float = _MARGIN) -> None:
        """A label (and its English) above one or more value lines."""
        self.text(x, label, size=8.5, bold=True, muted=True)
        self.c.setFont(fonts.REGULAR, 7.5)
        self.c.drawString(x + self.c.stringWidth(label + "  ", fonts.BOLD, 8.5), self.y, english)
        for value in values:
            for line in self.wrapped(value, size=11):
                self.down(14)
                self.text(x, line, size=11)
        self.down(20)

    def wrapped(self, text: str, *, size: float, bold: bool = False) -> list[str]:
        font = fonts.BOLD if bold else fonts.REGULAR
        return simpleSplit(text, font, size, _WIDTH - 2 * _MARGIN) or [""]


def _party(party: ReceiptParty) -> list[str]:
    return [party.full_name, party.fiscal_code] if party.full_name else [party.fiscal_code]


def render_receipt(content: ReceiptContent) -> bytes:
    """The receipt's PDF. Deterministic: the same content gives the same bytes."""
    fonts.register()
    out = io.BytesIO()
    with fonts.render_lock:
        canvas = Canvas(
            out, pagesize=A4, invariant=True, pageCompression=1, initialFontName=fonts.REGULAR
        )
        canvas.setTitle(f"Ricevuta di pagamento {content.receipt_id}")
        canvas.setAuthor(content.psp_name)
        _draw(_Sheet(canvas), content)
        canvas.showPage()
        canvas.save()
    return out.getvalue()


def _draw(s: _Sheet, r: ReceiptContent) -> None:
    s.text(_MARGIN, "pagoPA", size=12, bold=True)
    s.down(26)
    s.text(_MARGIN, "Ricevuta di pagamento", size=20, bold=True)
    s.down(16)
    s.text(_MARGIN, "Payment receipt", size=10, muted=True)
    s.down(28)

    s.field("Eseguito da", "Paid by", _party(r.payer))
    s.field("Data e ora", "Date and time", [italian_timestamp(r.paid_at)])
    s.field(
        "Gestore della transazione (PSP)",
        "Payment service provider",
        [f"{r.psp_name} ({r.psp_id})"],
    )
    s.field("Metodo di pagamento", "Payment method", [r.method])
    s.field("ID transazione", "Transaction id", [r.transaction_id])
    s.rule()
    s.down(24)

    for line in s.wrapped(r.description, size=13, bold=True)[:4]:
        s.text(_MARGIN, line, size=13, bold=True)
        s.down(17)
    s.down(8)
    s.field("Debitore", "Debtor", _party(r.debtor))
    s.field("Ente creditore", "Creditor institution", [r.ec_name, r.ec_fiscal_code])
    s.field("Codice avviso", "Notice code", [grouped(r.notice_code)])
    if r.iuv:
        s.field("IUV", "Payment reference (IUV)", [r.iuv])
    s.text(_MARGIN, "Importo", size=10, bold=True)
    s.right(f"{euros(r.amount)} €", size=11)
    s.down(18)
    s.rule()
    s.down(20)

    s.text(_MARGIN, f"Commissione (applicata da {r.psp_name[:50]})", size=10)
    s.right(f"{euros(r.fee)} €", size=11)
    s.down(12)
    s.text(_MARGIN, "Fee", size=7.5, muted=True)
    s.down(22)
    s.text(_MARGIN, "Totale", size=13, bold=True)
    s.right(f"{euros(r.total)} €", size=13, bold=True)
    s.down(12)
    s.text(_MARGIN, "Total", size=7.5, muted=True)
    s.down(34)

    if r.stand_in:
        s.text(
            _MARGIN,
            "Pagamento registrato dalla piattaforma mentre l'ente non era raggiungibile.",
            size=8.5,
            muted=True,
        )
        s.down(12)
    s.text(
        _MARGIN,
        "La ricevuta attesta il pagamento; la quietanza la rilascia l'ente creditore.",
        size=8.5,
    )
    s.down(12)
    s.text(
        _MARGIN,
        "This receipt proves the payment; the creditor institution issues the discharge.",
        size=7.5,
        muted=True,
    )
    s.down(20)
    s.text(_MARGIN, f"ID ricevuta / Receipt id: {r.receipt_id}", size=8.5, bold=True)
