"""The receipt PDF: what a pagoPA receipt shows, readable as text, fonts embedded."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.documents.receipt_pdf import ReceiptContent, ReceiptParty, render_receipt
from tests.unit.documents.pages import font_descriptors, page_text


def content(**changes: object) -> ReceiptContent:
    values: dict[str, object] = {
        "receipt_id": "rcpt-7f3a",
        "transaction_id": "tx-91b2",
        "notice_code": "302000000000000123",
        "ec_name": "Comune di Controguerra",
        "ec_fiscal_code": "82001760675",
        "description": "Retta scolastica 2026",
        "amount": 123456,
        "fee": 150,
        "psp_id": "DEMOPSP",
        "psp_name": "Demo PSP",
        "method": "VISA ···· 4242",
        "paid_at": datetime(2026, 10, 24, 16, 45, 56, tzinfo=UTC),
        "debtor": ReceiptParty("BNCGSP70A12F205X", "Giuseppe Bianchi"),
        "payer": ReceiptParty("RCCMRZ88A52C409A", "Marzia Roccaraso"),
        "iuv": "02000000000012345",
    }
    values.update(changes)
    return ReceiptContent(**values)  # type: ignore[arg-type]


def test_the_receipt_shows_amount_fee_total_notice_code_ec_and_both_parties() -> None:
    text = page_text(render_receipt(content()))
    for expected in (
        "Ricevuta di pagamento",
        "1.234,56 €",  # amount, Italian format
        "1,50 €",  # fee
        "1.236,06 €",  # total
        "3020 0000 0000 0001 23",  # notice code in groups of four
        "Comune di Controguerra",
        "82001760675",
        "Retta scolastica 2026",
        "Demo PSP (DEMOPSP)",
        "tx-91b2",
        "rcpt-7f3a",
        "Giuseppe Bianchi",
        "BNCGSP70A12F205X",
        "Marzia Roccaraso",
        "RCCMRZ88A52C409A",
        "02000000000012345",
    ):
        assert expected in text, expected


def test_the_time_is_printed_in_rome_across_summer_time() -> None:
    summer = page_text(
        render_receipt(content(paid_at=datetime(2026, 10, 24, 16, 45, 56, tzinfo=UTC)))
    )
    winter = page_text(render_receipt(content(paid_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))))
    assert "24 ottobre 2026, 18:45:56" in summer
    assert "1 gennaio 2027, 00:30:00" in winter


def test_every_font_is_embedded_truetype() -> None:
    fonts = font_descriptors(render_receipt(content()))
    assert fonts
    for font in fonts:
        assert font["descriptor"] is not None, font["font"]
        assert "/FontFile2" in font["descriptor"], font["font"]["/BaseFont"]


def test_rendering_is_deterministic() -> None:
    assert render_receipt(content()) == render_receipt(content())


def test_a_long_description_and_names_stay_on_the_page_as_text() -> None:
    long = "Tassa sui rifiuti " * 7
    text = page_text(render_receipt(content(description=long.strip(), ec_name="E" * 140)))
    assert "Tassa sui rifiuti" in text
    assert "1.234,56 €" in text
