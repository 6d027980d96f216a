"""Receipts end to end through the dev host: a receipt the transactions recorded in Cosmos is
listed, read and downloaded as a PDF by its payer and debtor (404 for anyone else); the PDF is
stored in Azurite on the first download and served from there afterwards."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient
from pypdf import PdfReader

from local.platform import Platform
from shared.auth.user_ids import SECRET_NAME, user_id
from shared.payments.receipts_api import pdf_name
from shared.payments.receipts_store import CosmosReceiptStore
from shared.platform.clients import Clients
from shared.platform.config import load_settings
from tests.conftest import Host, fresh_queues, start_host
from tests.e2e.test_cashback import citizen
from tests.fakes.receipts import DEBTOR_CF, PAYER_CF, sample_receipt

RECEIPTS = "/api/v1/payments/receipts"
STRANGER_CF = "BNCGSP70A12F205U"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {**fresh_queues("receipts"), "PAYMENTS_RECEIPTS_BLOB_CONTAINER": f"receipts-{tag}"}
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


async def _record(host: Host, receipt_id: str) -> None:
    settings = load_settings(host.env)
    key = json.loads(host.env["LOCAL_SECRETS"])[SECRET_NAME]
    receipt = sample_receipt(
        3, payer=user_id(key, PAYER_CF), debtor=user_id(key, DEBTOR_CF)
    ).model_copy(update={"receipt_id": receipt_id})
    clients = Clients(settings)
    try:
        store = CosmosReceiptStore(clients.container(settings.payments_container), 20)
        await store.record(receipt)
    finally:
        await clients.close()


@pytest.fixture(scope="module")
def receipt_id(host: Host) -> str:
    found = f"r-{uuid.uuid4().hex[:12]}"
    asyncio.run(_record(host, found))
    return found


def _blob(host: Host, name: str) -> BlobServiceClient:
    service = BlobServiceClient.from_connection_string(host.env["AzureWebJobsStorage"])
    return service.get_blob_client(host.env["PAYMENTS_RECEIPTS_BLOB_CONTAINER"], name)


def test_payer_and_debtor_list_read_and_download_their_receipt(
    platform: Platform, host: Host, receipt_id: str
) -> None:
    for cf in (PAYER_CF, DEBTOR_CF):
        headers = citizen(platform, host, cf)
        listed = host.request("GET", RECEIPTS, headers=headers)
        assert listed.status_code == 200, listed.text
        assert [r["receiptId"] for r in listed.json()["receipts"]] == [receipt_id]
        one = host.request("GET", f"{RECEIPTS}/{receipt_id}", headers=headers)
        assert one.status_code == 200, one.text
        assert one.json()["total"] == 1284
    pdf = host.request(
        "GET", f"{RECEIPTS}/{receipt_id}/pdf", headers=citizen(platform, host, PAYER_CF)
    )
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["Content-Type"].startswith("application/pdf")
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "12,34 €" in text
    assert "3000 0000 0000 0000 03" in text
    assert "Comune di Demo" in text


def test_a_stranger_gets_404_as_for_an_unknown_receipt(
    platform: Platform, host: Host, receipt_id: str
) -> None:
    stranger = citizen(platform, host, STRANGER_CF)
    for path in (f"{RECEIPTS}/{receipt_id}", f"{RECEIPTS}/{receipt_id}/pdf"):
        theirs = host.request("GET", path, headers=stranger)
        assert theirs.status_code == 404
        assert theirs.headers["Content-Type"].startswith("application/problem+json")
    assert host.request("GET", RECEIPTS, headers=stranger).json()["receipts"] == []


def test_the_pdf_is_kept_in_blob_and_served_from_there(
    platform: Platform, host: Host, receipt_id: str
) -> None:
    path = f"{RECEIPTS}/{receipt_id}/pdf"
    first = host.request("GET", path, headers=citizen(platform, host, DEBTOR_CF))
    assert first.status_code == 200
    blob = _blob(host, pdf_name(receipt_id))
    assert blob.download_blob().readall() == first.content
    # what is stored is what is served: a second download renders nothing
    blob.upload_blob(b"%PDF-1.4 the stored copy", overwrite=True)
    again = host.request("GET", path, headers=citizen(platform, host, PAYER_CF))
    assert again.content == b"%PDF-1.4 the stored copy"
