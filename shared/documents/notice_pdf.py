"""pagoPA's paper payment notice ("avviso di pagamento") as a PDF: one notice or a batch.

The notice's parts and fields follow pagoPA's published templates and generator
(pagopa/pagopa-template-notice-pdf, ``src/templates/template-single-instalment[-poste].hbs`` and
``src/partials/*.hbs``, labels in ``src/assets/i18next.json``; pagopa/pagopa-print-payment-notice-
generator, ``mapper/TemplateDataMapper.java``): a header with the subject; the creditor
institution and the recipient; how much and by when; where to pay; the payment data beside the
pagoPA QR code (recipient, amount, creditor, subject, CBILL code, notice code in groups of four,
the creditor's fiscal code); and, when the creditor has a postal account, the Poste paying-in
slip with its data matrix (account, amount, holder, recipient, subject, notice code, type
``P1``, the creditor's fiscal code, the authorisation). Italian first, English beneath. The
drawing is this project's own (docs/documents.md).

:func:`write_notices` streams: pages are rendered :data:`PAGES_PER_PART` at a time and copied
to the output at once (shared/documents/pdf_stream.py), so a batch of 1,000 holds a few pages.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Sequence, Sized
from datetime import date
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from shared.documents import fonts
from shared.documents.codes import (
    datamatrix_modules,
    draw_modules,
    grouped,
    pagopa_qr_content,
    poste_datamatrix_content,
    qr_modules,
)
from shared.documents.formats import euros, italian_date
from shared.documents.pdf_stream import PdfSplicer

__all__ = [
    "MAX_BATCH",
    "PAGES_PER_PART",
    "NoticeParts",
    "PaperCreditor",
    "PaperDebtor",
    "PaperNotice",
    "write_notices",
]

MAX_BATCH = 1000
PAGES_PER_PART = 25
"""Pages rendered on one canvas before they are copied out: memory per batch is bounded by
this, and each part embeds its own subset of the fonts (about 40 KB)."""

_W, _H = A4
_M = 36.0
_INK = (0.09, 0.13, 0.2)
_MUTED = (0.36, 0.4, 0.47)
_BLUE = (0.0, 0.4, 0.8)
_LINE = (0.75, 0.78, 0.82)


class PaperCreditor(BaseModel):
    """The creditor institution (EC) as the notice prints it."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    fiscal_code: str = Field(alias="fiscalCode", pattern=r"^[0-9]{11}$")
    name: str = Field(alias="name", min_length=1, max_length=140)
    sector: str | None = Field(default=None, alias="sector", max_length=140)
    info: str | None = Field(
        default=None, alias="info", max_length=200, description="Where to ask: web, phone, office."
    )
    cbill: str | None = Field(default=None, alias="cbill", pattern=r"^[A-Z0-9]{5}$")
    postal_account: str | None = Field(
        default=None,
        alias="postalAccount",
        pattern=r"^[0-9]{1,12}$",
        description="Its BancoPosta account: the notice then carries Poste's paying-in slip.",
    )
    poste_authorization: str | None = Field(
        default=None,
        alias="posteAuthorization",
        max_length=140,
        description="Poste's authorisation to print the slip (its text under the logo).",
    )


class PaperDebtor(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    # a natural person's 16 characters or a VAT number's 11, but the archive takes any debtor
    # code of 2 characters or more (pagoPA's spec sets no bound): print what it holds
    fiscal_code: str = Field(alias="fiscalCode", min_length=1, max_length=35)
    full_name: str = Field(alias="fullName", min_length=1, max_length=70)
    address: str | None = Field(default=None, alias="address", max_length=140)


class PaperNotice(BaseModel):
    """One notice to print: a single instalment, amount in cents."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    notice_code: str = Field(alias="noticeCode", pattern=r"^[0-9]{18}$")
    creditor: PaperCreditor
    debtor: PaperDebtor
    amount: int = Field(alias="amount", ge=1, le=99_999_999_99)
    due_date: date | None = Field(default=None, alias="dueDate")
    subject: str = Field(alias="subject", min_length=1, max_length=140)

    @property
    def qr_content(self) -> str:
        return pagopa_qr_content(self.notice_code, self.creditor.fiscal_code, self.amount)

    @property
    def datamatrix_content(self) -> str | None:
        account = self.creditor.postal_account
        if account is None:
            return None
        return poste_datamatrix_content(
            notice_code=self.notice_code,
            postal_account=account,
            amount_cents=self.amount,
            ec_fiscal_code=self.creditor.fiscal_code,
            debtor_fiscal_code=self.debtor.fiscal_code,
            debtor_name=self.debtor.full_name,
            subject=self.subject,
        )


def write_notices(notices: Iterable[PaperNotice], out: BinaryIO) -> int:
    """Write ``notices`` (one page each, at most :data:`MAX_BATCH`) as one PDF to ``out``;
    the number of pages. Notices are read from the iterable as their pages are rendered.
    CPU work (tens of milliseconds a page): from an event loop, run it in a thread.

    Raises:
        ValueError: no notice, or more than :data:`MAX_BATCH`.
    """
    if isinstance(notices, Sized) and len(notices) > MAX_BATCH:  # refused before any work
        raise ValueError(f"at most {MAX_BATCH} notices in one PDF")
    parts = NoticeParts()
    source = iter(notices)
    while part := list(itertools.islice(source, PAGES_PER_PART)):
        out.write(parts.add(part))
    out.write(parts.close())
    return parts.pages


class NoticeParts:
    """One PDF of notices built part by part, for a writer that sends each part on as it is
    done (a blob's blocks): :meth:`add` renders a few notices and answers the bytes they add to
    the PDF, :meth:`close` the last bytes. Only the objects' offsets stay between parts.
    CPU work: from an event loop, call it in a thread."""

    def __init__(self) -> None:
        fonts.register()
        self._buffer = io.BytesIO()
        self._splicer = PdfSplicer(self._buffer, title="Avviso di pagamento pagoPA")

    @property
    def pages(self) -> int:
        return self._splicer.pages

    def add(self, notices: Sequence[PaperNotice]) -> bytes:
        """Render ``notices`` (at most :data:`PAGES_PER_PART` keep memory bounded).

        Raises:
            ValueError: the PDF would pass :data:`MAX_BATCH` pages.
        """
        if self._splicer.pages + len(notices) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} notices in one PDF")
        if notices:
            self._splicer.add(_render_part(list(notices)))
        return self._drain()

    def close(self) -> bytes:
        """The PDF's end (page tree, cross-references).

        Raises:
            ValueError: no notice was added.
        """
        if self._splicer.pages == 0:
            raise ValueError("no notice to print")
        self._splicer.close()
        return self._drain()

    def _drain(self) -> bytes:
        data = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return data


def _render_part(notices: list[PaperNotice]) -> bytes:
    buffer = io.BytesIO()
    with fonts.render_lock:
        canvas = Canvas(
            buffer, pagesize=A4, invariant=True, pageCompression=1, initialFontName=fonts.REGULAR
        )
        for notice in notices:
            draw_notice(canvas, notice)
            canvas.showPage()
        canvas.save()
    return buffer.getvalue()


def draw_notice(canvas: Canvas, notice: PaperNotice) -> None:
    """Draw ``notice`` on the canvas's current page (its fonts must be registered)."""
    _Page(canvas, notice).draw()


class _Page:
    def __init__(self, canvas: Canvas, notice: PaperNotice) -> None:
        self.c = canvas
        self.n = notice

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        *,
        bold: bool = False,
        muted: bool = False,
        color: tuple[float, float, float] | None = None,
    ) -> None:
        self.c.setFont(fonts.BOLD if bold else fonts.REGULAR, size)
        self.c.setFillColorRGB(*(color or (_MUTED if muted else _INK)))
        self.c.drawString(x, y, text)

    def label(self, x: float, y: float, italian: str, english: str) -> None:
        """A field's label: Italian in small capitals, English beside it."""
        self.text(x, y, italian.upper(), 6.5, bold=True)
        width = self.c.stringWidth(italian.upper() + "  ", fonts.BOLD, 6.5)
        self.text(x + width, y, english, 6, muted=True)

    def lines(self, x: float, y: float, text: str, size: float, width: float, most: int) -> float:
        """``text`` wrapped to ``width``, at most ``most`` lines; the y below it."""
        for line in simpleSplit(text, fonts.REGULAR, size, width)[:most]:
            self.text(x, y, line, size)
            y -= size + 2.5
        return y

    def rule(self, y: float) -> None:
        self.c.setStrokeColorRGB(*_LINE)
        self.c.setLineWidth(0.6)
        self.c.line(_M, y, _W - _M, y)

    def draw(self) -> None:
        n = self.n
        y = _H - _M - 10
        self.text(_M, y, "pagoPA", 13, bold=True, color=_BLUE)
        self.text(_M + 62, y, "AVVISO DI PAGAMENTO", 10, bold=True)
        self.text(
            _M + 62 + self.c.stringWidth("AVVISO DI PAGAMENTO  ", fonts.BOLD, 10),
            y,
            "Payment notice",
            8,
            muted=True,
        )
        y -= 24
        for line in simpleSplit(n.subject, fonts.BOLD, 15, _W - 2 * _M)[:3]:
            self.text(_M, y, line, 15, bold=True)
            y -= 19
        y -= 6
        self.rule(y)
        y = self._parties(y - 18)
        self.rule(y)
        y = self._how_much(y - 18)
        self.rule(y)
        y = self._pagopa_data(y - 18)
        if n.creditor.postal_account is not None:
            self.rule(y)
            self._poste_slip(y - 18)

    def _parties(self, y: float) -> float:
        n, half = self.n, (_W - 2 * _M) / 2
        self.label(_M, y, "Ente creditore", "Creditor institution")
        self.label(_M + half, y, "Destinatario avviso", "Recipient")
        left = self.lines(_M, y - 14, n.creditor.name, 10, half - 12, 2)
        self.text(_M, left - 2, f"Codice fiscale {n.creditor.fiscal_code}", 8, muted=True)
        if n.creditor.sector:
            self.text(_M, left - 13, n.creditor.sector[:80], 8, muted=True)
        right = self.lines(_M + half, y - 14, n.debtor.full_name, 10, half, 2)
        self.text(_M + half, right - 2, f"Codice fiscale {n.debtor.fiscal_code}", 8, muted=True)
        if n.debtor.address:
            self.lines(_M + half, right - 13, n.debtor.address, 8, half, 2)
        return y - 78

    def _how_much(self, y: float) -> float:
        n, half = self.n, (_W - 2 * _M) / 2
        when = n.due_date is not None
        self.label(
            _M, y, "Quanto e quando pagare?" if when else "Quanto pagare?", "How much and when"
        )
        self.label(_M + half, y, "Dove pagare?", "Where to pay")
        self.text(_M, y - 26, f"{euros(n.amount)} Euro", 17, bold=True)
        if n.due_date is not None:
            self.text(_M, y - 44, f"entro il {italian_date(n.due_date)}", 12, bold=True)
        note = (
            "L'importo può essere aggiornato al momento del pagamento se l'ente lo prevede "
            "(riduzioni, sanzioni, interessi)."
        )
        self.lines(_M, y - 60, note, 7, half - 12, 3)
        where = (
            "Con l'app IO, l'home banking, l'app di pagamento o gli altri canali abilitati; "
            "sul territorio in banche, uffici postali, tabaccherie e altri esercenti "
            "convenzionati. Paying online or in person at any pagoPA point."
        )
        after = self.lines(_M + half, y - 16, where, 7.5, half, 6)
        if n.creditor.info:
            self.lines(_M + half, after - 2, n.creditor.info, 7.5, half, 2)
        return y - 100

    def _pagopa_data(self, y: float) -> float:
        n = self.n
        self.label(_M, y, "Dati per il pagamento", "Payment details")
        size = 104.0
        top = y - 12
        draw_modules(self.c, _quiet(qr_modules(n.qr_content)), _M, top - size, size)
        self.text(_M, top - size - 12, "Inquadra il codice QR con la tua app", 6.5, muted=True)
        x = _M + size + 20
        width = _W - _M - x
        self.label(x, top - 8, "Destinatario", "Recipient")
        self.text(x, top - 20, n.debtor.full_name[:60], 9)
        self.c.setFont(fonts.BOLD, 12)
        self.c.drawRightString(_W - _M, top - 20, f"Euro {euros(n.amount)}")
        self.label(x, top - 36, "Ente creditore", "Creditor institution")
        self.lines(x, top - 48, n.creditor.name, 9, width, 1)
        self.label(x, top - 64, "Oggetto del pagamento", "Payment description")
        self.lines(x, top - 76, n.subject, 8, width, 2)
        row = top - 104
        columns = [("Cod. CBILL", "", n.creditor.cbill or "-", 0.0)]
        columns.append(("Codice avviso", "Notice code", grouped(n.notice_code), 64.0))
        columns.append(("Cod. fiscale ente", "Creditor tax code", n.creditor.fiscal_code, 224.0))
        for italian, english, value, offset in columns:
            self.label(x + offset, row, italian, english)
            self.text(x + offset, row - 13, value, 10, bold=True)
        return top - size - 24

    def _poste_slip(self, y: float) -> None:
        n = self.n
        account = n.creditor.postal_account or ""
        content = n.datamatrix_content or ""
        self.text(_M, y, "BOLLETTINO POSTALE PA", 9, bold=True)
        self.text(_M + 130, y, "Poste Italiane · BancoPosta", 7.5, muted=True)
        if n.creditor.poste_authorization:
            self.text(_M, y - 11, n.creditor.poste_authorization[:110], 6.5, muted=True)
        top = y - 26
        self.label(_M, top, "Sul C/C n.", "Postal account")
        self.text(_M, top - 13, account, 11, bold=True)
        self.label(_M + 190, top, "Euro", "Amount")
        self.text(_M + 190, top - 13, euros(n.amount), 11, bold=True)
        self.label(_M, top - 32, "Intestato a", "Account holder")
        self.lines(_M, top - 44, n.creditor.name, 8.5, 330, 1)
        self.label(_M, top - 58, "Destinatario", "Recipient")
        self.text(_M, top - 70, n.debtor.full_name[:60], 8.5)
        self.label(_M, top - 84, "Oggetto del pagamento", "Payment description")
        self.lines(_M, top - 96, n.subject, 8, 330, 2)
        row = top - 124
        self.label(_M, row, "Codice avviso", "Notice code")
        self.text(_M, row - 13, grouped(n.notice_code), 10, bold=True)
        self.label(_M + 160, row, "Tipo", "Type")
        self.text(_M + 160, row - 13, "P1", 10, bold=True)
        self.label(_M + 215, row, "Cod. fiscale ente", "Creditor tax code")
        self.text(_M + 215, row - 13, n.creditor.fiscal_code, 10, bold=True)
        size = 96.0
        draw_modules(
            self.c, _quiet(datamatrix_modules(content), 2), _W - _M - size, top - size, size
        )


def _quiet(modules: Sequence[Sequence[int]], border: int = 4) -> list[list[int]]:
    """``modules`` inside a light border (a scanner needs the quiet zone)."""
    rows = [list(r) for r in modules]
    width = len(rows[0]) + 2 * border
    blank = [[0] * width for _ in range(border)]
    return blank + [[0] * border + r + [0] * border for r in rows] + blank
