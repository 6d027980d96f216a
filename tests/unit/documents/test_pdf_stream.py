"""The splicer: reportlab PDFs copied into one PDF as they come, pages in order, readable."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from shared.documents.pdf_stream import PdfSplicer
from shared.documents.receipt_pdf import render_receipt
from shared.payments.receipts_api import receipt_content
from tests.fakes.receipts import sample_receipt


def test_parts_become_one_pdf_with_their_pages_in_order_and_a_safe_title() -> None:
    out = io.BytesIO()
    splicer = PdfSplicer(out, title="Ricevute (copia) \\ è")
    for n in (1, 2, 3):
        assert splicer.add(render_receipt(receipt_content(sample_receipt(n)))) == 1
    assert splicer.close() == 3
    reader = PdfReader(io.BytesIO(out.getvalue()), strict=True)
    assert [
        page.extract_text().count(f"r-000{n}") > 0 for n, page in enumerate(reader.pages, 1)
    ] == [
        True,
        True,
        True,
    ]
    assert reader.metadata is not None
    assert reader.metadata.title == "Ricevute [copia] / ?"


def test_what_is_not_a_reportlab_pdf_is_refused() -> None:
    with pytest.raises(ValueError, match="startxref"):
        PdfSplicer(io.BytesIO()).add(b"%PDF-1.4\nnot really\n")
