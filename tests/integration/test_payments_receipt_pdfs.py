"""Receipts' PDFs against the real emulators: the receipt in Cosmos, its PDF in Azurite, stored
once as application/pdf and read back without rendering again."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from local.platform import Platform
from shared.payments.receipts_api import AzureReceiptPdfs, Receipts, pdf_name
from shared.payments.receipts_store import CosmosReceiptStore
from shared.platform.clients import Clients
from tests.fakes.receipts import CountingRenderer, sample_receipt

PAYER = "a" * 64


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"receipt-pdfs-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


async def test_the_pdf_is_stored_once_in_blob_and_served_from_there(clients: Clients) -> None:
    s = clients.settings
    store = CosmosReceiptStore(clients.container(s.payments_container), 5)
    pdfs = AzureReceiptPdfs(clients.blob_service, s.payments_receipts_blob_container)
    render = CountingRenderer()
    receipts = Receipts(store, pdfs, render)
    receipt_id = f"r-{uuid.uuid4().hex[:12]}"
    await store.record(sample_receipt(1, payer=PAYER).model_copy(update={"receipt_id": receipt_id}))

    first = await receipts.pdf(PAYER, receipt_id)
    second = await receipts.pdf(PAYER, receipt_id)
    assert render.calls == 1
    assert second == first
    assert first.startswith(b"%PDF")
    blob = clients.blob_service().get_blob_client(
        s.payments_receipts_blob_container, pdf_name(receipt_id)
    )
    properties = await blob.get_blob_properties()
    assert properties.content_settings.content_type == "application/pdf"
    assert properties.size == len(first)


async def test_a_second_store_keeps_the_first_pdf_and_a_missing_one_is_none(
    clients: Clients,
) -> None:
    pdfs = AzureReceiptPdfs(clients.blob_service, clients.settings.payments_receipts_blob_container)
    name = f"receipts/t-{uuid.uuid4().hex[:12]}.pdf"
    assert await pdfs.get(name) is None
    await pdfs.put_once(name, b"%PDF first")
    await pdfs.put_once(name, b"%PDF second")
    assert await pdfs.get(name) == b"%PDF first"
