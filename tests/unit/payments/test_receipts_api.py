"""The receipts' service on in-memory fakes: whose receipts a citizen sees, pages, and a PDF
rendered once then served from storage."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from shared.payments.receipts_api import Receipts, pdf_name
from shared.platform.errors import Invalid, NotFound
from tests.fakes.payments import FakeReceiptStore
from tests.fakes.receipts import CountingRenderer, MemoryReceiptPdfs, sample_receipt

PAYER = "a" * 64
DEBTOR = "b" * 64
STRANGER = "c" * 64


def world() -> tuple[Receipts, FakeReceiptStore, MemoryReceiptPdfs, CountingRenderer]:
    store, pdfs, render = FakeReceiptStore(), MemoryReceiptPdfs(), CountingRenderer()
    return Receipts(store, pdfs, render), store, pdfs, render


async def test_payer_and_debtor_read_the_receipt_a_stranger_gets_404() -> None:
    receipts, *_ = world()
    await receipts.record(sample_receipt(1, payer=PAYER, debtor=DEBTOR))
    for user in (PAYER, DEBTOR):
        found = await receipts.get(user, "r-0001")
        assert (found.receipt_id, found.amount, found.fee, found.total) == (
            "r-0001",
            1234,
            50,
            1284,
        )
        assert found.payer.fiscal_code == "VRDLGU75B02F205A"
    with pytest.raises(NotFound):
        await receipts.get(STRANGER, "r-0001")
    with pytest.raises(NotFound):
        await receipts.pdf(STRANGER, "r-0001")


async def test_the_citizen_view_leaves_out_the_pseudonymous_user_ids() -> None:
    receipts, *_ = world()
    await receipts.record(sample_receipt(1, payer=PAYER, debtor=DEBTOR))
    body = (await receipts.get(PAYER, "r-0001")).model_dump(by_alias=True)
    assert "userId" not in body["payer"]
    assert "userId" not in body["debtor"]


@pytest.mark.parametrize("receipt_id", ["", "../r-0001", "r-0001/../x", "a" * 65, "r 1", "r\x00"])
async def test_an_id_no_receipt_can_have_is_the_same_404(receipt_id: str) -> None:
    receipts, *_ = world()
    with pytest.raises(NotFound):
        await receipts.get(PAYER, receipt_id)


async def test_the_list_pages_newest_first_with_the_stores_token() -> None:
    receipts, *_ = world()
    for n in range(1, 6):
        await receipts.record(sample_receipt(n, payer=PAYER))
    first = await receipts.page(PAYER, limit="2")
    assert [r.receipt_id for r in first.receipts] == ["r-0005", "r-0004"]
    assert first.continuation_token is not None
    rest = await receipts.page(PAYER, limit="10", continuation=first.continuation_token)
    assert [r.receipt_id for r in rest.receipts] == ["r-0003", "r-0002", "r-0001"]
    assert rest.continuation_token is None
    assert (await receipts.page(STRANGER)).receipts == []


@pytest.mark.parametrize(
    "limit", ["0", "101", "-1", "ten", "1.5", "\u00b2", "\uff11\uff10", "0" * 400 + "5"]
)
async def test_a_page_size_out_of_range_is_refused(limit: str) -> None:
    receipts, *_ = world()
    with pytest.raises(Invalid):
        await receipts.page(PAYER, limit=limit)


async def test_the_pdf_is_rendered_once_stored_and_then_served_from_storage() -> None:
    receipts, _, pdfs, render = world()
    await receipts.record(sample_receipt(1, payer=PAYER, debtor=DEBTOR))
    first = await receipts.pdf(PAYER, "r-0001")
    assert render.calls == 1
    assert pdfs.blobs[pdf_name("r-0001")] == first
    second = await receipts.pdf(DEBTOR, "r-0001")  # the other party: the same stored PDF
    assert render.calls == 1
    assert second == first
    text = PdfReader(io.BytesIO(first)).pages[0].extract_text()
    assert "12,34 €" in text
    assert "Comune di Demo" in text


async def test_a_pdf_stored_first_by_another_download_is_kept() -> None:
    receipts, _, pdfs, render = world()
    await receipts.record(sample_receipt(1, payer=PAYER))
    pdfs.blobs[pdf_name("r-0001")] = b"%PDF stored by the other download"
    assert await receipts.pdf(PAYER, "r-0001") == b"%PDF stored by the other download"
    assert render.calls == 0
