"""The receipts' triggers called directly, on a root whose receipts sit on in-memory fakes."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest
from pypdf import PdfReader

from functions.root import use_root
from shared.auth.secrets import LocalSecrets
from shared.auth.user_ids import SECRET_NAME, UserIds, user_id
from shared.payments.receipts_api import Receipts
from shared.platform.clock import SystemClock, use_clock
from tests.app import app
from tests.fakes.payments import FakeReceiptStore
from tests.fakes.receipts import (
    DEBTOR_CF,
    PAYER_CF,
    CountingRenderer,
    MemoryReceiptPdfs,
    sample_receipt,
)
from tests.functions.fakes import FakeRoot, request, trigger

KEY = "receipts-test-user-id-key-0123456789abcdef"
STRANGER_CF = "BNCGSP70A12F205U"
RECEIPTS = "v1/payments/receipts"


class ReceiptsRoot(FakeRoot):
    def __init__(self) -> None:
        super().__init__()
        self.store = FakeReceiptStore()
        self.pdfs = MemoryReceiptPdfs()
        self.render = CountingRenderer()
        self._service = Receipts(self.store, self.pdfs, self.render)
        self._ids = UserIds(LocalSecrets({SECRET_NAME: KEY}))

    def receipts(self) -> Receipts:
        return self._service

    def user_ids(self) -> UserIds:
        return self._ids

    def citizen(self, cf: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(cf)}"}


@pytest.fixture
async def root() -> AsyncIterator[ReceiptsRoot]:
    fake = ReceiptsRoot()
    await fake.store.record(
        sample_receipt(1, payer=user_id(KEY, PAYER_CF), debtor=user_id(KEY, DEBTOR_CF))
    )
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def call(
    name: str,
    path: str,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    **route: str,
) -> func.HttpResponse:
    response: func.HttpResponse = await trigger(app, name)(
        request("GET", path, headers=headers, route_params=route, params=params)
    )
    return response


def parsed(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


async def test_payer_and_debtor_list_and_read_their_receipt(root: ReceiptsRoot) -> None:
    for cf in (PAYER_CF, DEBTOR_CF):
        listed = await call("payments_receipts", RECEIPTS, root.citizen(cf))
        assert listed.status_code == 200
        assert [r["receiptId"] for r in parsed(listed)["receipts"]] == ["r-0001"]
        one = await call(
            "payments_receipt", f"{RECEIPTS}/r-0001", root.citizen(cf), receiptId="r-0001"
        )
        assert one.status_code == 200
        body = parsed(one)
        assert (body["amount"], body["fee"], body["total"]) == (1234, 50, 1284)
        assert body["noticeCode"] == "300000000000000001"


async def test_someone_elses_receipt_is_404_as_an_unknown_one(root: ReceiptsRoot) -> None:
    stranger = root.citizen(STRANGER_CF)
    for name, path in (
        ("payments_receipt", f"{RECEIPTS}/r-0001"),
        ("payments_receipt_pdf", f"{RECEIPTS}/r-0001/pdf"),
    ):
        theirs = await call(name, path, stranger, receiptId="r-0001")
        unknown = await call(name, path, root.citizen(PAYER_CF), receiptId="r-9999")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.mimetype == "application/problem+json"
        assert parsed(theirs)["detail"] == parsed(unknown)["detail"]
    listed = await call("payments_receipts", RECEIPTS, stranger)
    assert parsed(listed)["receipts"] == []
    assert root.render.calls == 0


async def test_the_pdf_is_rendered_once_and_served_from_blob_storage(root: ReceiptsRoot) -> None:
    path = f"{RECEIPTS}/r-0001/pdf"
    first = await call("payments_receipt_pdf", path, root.citizen(PAYER_CF), receiptId="r-0001")
    assert first.status_code == 200
    assert first.mimetype == "application/pdf"
    assert root.render.calls == 1
    assert list(root.pdfs.blobs) == ["receipts/r-0001.pdf"]
    text = PdfReader(io.BytesIO(first.get_body())).pages[0].extract_text()
    assert "12,34 €" in text
    assert "3000 0000 0000 0000 01" in text
    assert "Comune di Demo" in text
    second = await call("payments_receipt_pdf", path, root.citizen(DEBTOR_CF), receiptId="r-0001")
    assert second.get_body() == first.get_body()
    assert root.render.calls == 1


async def test_without_a_valid_token_nothing_is_read(root: ReceiptsRoot) -> None:
    refused = await call("payments_receipts", RECEIPTS, {"Authorization": "Bearer nope"})
    assert refused.status_code == 401


async def test_a_bad_page_size_is_400(root: ReceiptsRoot) -> None:
    refused = await call(
        "payments_receipts", RECEIPTS, root.citizen(PAYER_CF), params={"limit": "1000"}
    )
    assert refused.status_code == 400


def test_the_pdf_operation_is_documented_as_a_pdf() -> None:
    from functions.http import OPERATIONS
    from shared.platform.openapi import build

    document = build(OPERATIONS, title="t", version="1")
    ok = document["paths"]["/api/v1/payments/receipts/{receiptId}/pdf"]["get"]["responses"]["200"]
    assert ok["content"]["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
