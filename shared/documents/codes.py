"""The machine-readable codes of a paper payment notice, and how they are drawn (as vectors).

Content (facts from pagoPA's public sources; see docs/documents.md):

- the pagoPA QR code carries ``PAGOPA|002|<18-digit notice code>|<11-digit EC fiscal
  code>|<amount in cents>`` (pagopa/pagopa-print-payment-notice-generator,
  ``mapper/TemplateDataMapper.java``; io-app decodes the same string);
- the Poste data matrix carries ``codfase=NBPA;`` then a code line (``18`` + notice code,
  ``12`` + postal account on 12 digits, ``10`` + amount in cents on 10 digits, ``3`` + the
  document type ``896``), then ``1P1``, the EC's fiscal code (11), the debtor's fiscal code (16),
  the debtor's name (40), the subject (110), 12 spaces of filler and ``A``: 256 characters.
  io-app reads the notice code at offset 15, the amount at 49 and the EC code at 66
  (pagopa/io-app ``ts/utils/payment.ts``, ``decodePosteDataMatrix``), which is this layout.

Both symbols are drawn module by module as filled rectangles on a reportlab canvas: vector
graphics, sharp at any print resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import segno
from pystrich.datamatrix import DataMatrixEncoder
from pystrich.datamatrix.renderer import DataMatrixRenderer
from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "POSTE_DOCUMENT_TYPE",
    "datamatrix_modules",
    "draw_modules",
    "grouped",
    "pagopa_qr_content",
    "poste_datamatrix_content",
    "qr_modules",
]

POSTE_DOCUMENT_TYPE = "896"
"""The Poste document type of a pagoPA notice's paying-in slip (the "tipo documento")."""

Modules = Sequence[Sequence[int]]
"""Rows of modules, 1 = dark, without quiet zone."""


def pagopa_qr_content(notice_code: str, ec_fiscal_code: str, amount_cents: int) -> str:
    return f"PAGOPA|002|{notice_code:0>18}|{ec_fiscal_code:0>11}|{amount_cents}"


def _fixed(text: str, width: int) -> str:
    """``text`` cut or padded with spaces to ``width`` characters, in the data matrix's ASCII
    (what is not ASCII becomes '?', so a name never shifts the fields after it)."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    return ascii_text[:width].ljust(width)


def poste_datamatrix_content(
    *,
    notice_code: str,
    postal_account: str,
    amount_cents: int,
    ec_fiscal_code: str,
    debtor_fiscal_code: str,
    debtor_name: str,
    subject: str,
) -> str:
    code_line = (
        f"18{notice_code:0>18}12{postal_account:0>12}10{amount_cents:0>10}3{POSTE_DOCUMENT_TYPE}"
    )
    return (
        "codfase=NBPA;"
        + code_line
        + "1P1"
        + _fixed(ec_fiscal_code, 11)
        + _fixed(debtor_fiscal_code, 16)
        + _fixed(debtor_name, 40)
        + _fixed(subject, 110)
        + " " * 12
        + "A"
    )


def grouped(code: str, size: int = 4) -> str:
    """``code`` in groups of ``size`` characters, as a notice prints its notice code."""
    return " ".join(code[i : i + size] for i in range(0, len(code), size))


def qr_modules(content: str) -> Modules:
    """The QR code of ``content`` at error correction level M (segno picks the version)."""
    qr = segno.make_qr(content, error="m", boost_error=False)
    return [list(row) for row in qr.matrix]


def datamatrix_modules(content: str) -> Modules:
    """The ECC 200 data matrix of ``content`` with its finder and timing patterns (pystrich
    picks the smallest square size)."""
    encoder = DataMatrixEncoder(content)
    # the encoder's matrix holds the data regions only; its renderer adds the patterns
    regions = [list(row) for row in encoder.matrix]
    symbol = DataMatrixRenderer(regions, encoder.regions, quiet_zone=0).matrix
    return [[1 if module else 0 for module in row] for row in symbol]


def draw_modules(canvas: Canvas, modules: Modules, x: float, y: float, size: float) -> None:
    """Draw ``modules`` as a ``size`` x ``size`` square whose bottom-left corner is (x, y).

    Each run of dark modules in a row is one rectangle, written in module units under a scaled
    coordinate system: integers in the content stream, one fill for the whole symbol (reportlab's
    path API formats every coordinate as a float, which made this the slowest part of a page).
    """
    rows = len(modules)
    cell = size / max(rows, len(modules[0]))
    ops: list[str] = []
    for r, row in enumerate(modules):
        bottom = rows - 1 - r
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            ops.append(f"{start} {bottom} {c - start} 1 re")
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)
    canvas.translate(x, y)
    canvas.scale(cell, cell)
    canvas.addLiteral("\n".join(ops) + "\nf")
    canvas.restoreState()
