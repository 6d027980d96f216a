"""The receipts' store against the Cosmos emulator, and its in-memory fake held to the same
behaviour: filed under payer and debtor, idempotent, newest first in keyset pages, a stranger
reads nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from local.platform import Platform
from shared.payments.receipt_model import Person, Receipt
from shared.payments.receipts_store import CosmosReceiptStore, ReceiptStore
from shared.platform.clients import Clients
from shared.platform.errors import Invalid
from tests.fakes.payments import FakeReceiptStore

PAYER = "a" * 64
DEBTOR = "b" * 64
STRANGER = "c" * 64
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def receipt(n: int, *, debtor: str = DEBTOR, at: datetime | None = None) -> Receipt:
    return Receipt(
        receiptId=f"r-{n:04d}",
        transactionId=f"t-{n:04d}",
        paymentToken=f"tok{n:04d}",
        noticeCode=f"3{n:017d}",
        ecFiscalCode="01234567890",
        ecName="Comune di Demo",
        description=f"TARI {n}",
        amount=1000 + n,
        fee=100,
        pspId="DEMOPSP",
        pspName="Demo PSP",
        method="VISA ···· 4242",
        paidAt=at or T0 + timedelta(minutes=n),
        standIn=False,
        debtor=Person(fiscalCode="RSSMRA80A01H501U", userId=debtor),
        payer=Person(fiscalCode="VRDLGU75B02F205X", userId=PAYER),
    )


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"payments-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


@pytest.fixture(params=["cosmos", "fake"])
def store(request: pytest.FixtureRequest, clients: Clients) -> ReceiptStore:
    if request.param == "fake":
        return FakeReceiptStore()
    container = clients.container(clients.settings.payments_container)
    return CosmosReceiptStore(container, 5)


async def test_filed_under_payer_and_debtor_never_a_stranger(store: ReceiptStore) -> None:
    suffix = uuid.uuid4().int % 10**6
    one = receipt(suffix)
    await store.record(one)
    await store.record(one)  # a retried completion
    assert await store.get_for(PAYER, one.receipt_id) == one
    assert await store.get_for(DEBTOR, one.receipt_id) == one
    assert await store.get_for(STRANGER, one.receipt_id) is None


async def test_pages_newest_first_without_repeats(store: ReceiptStore) -> None:
    debtor = uuid.uuid4().hex + uuid.uuid4().hex
    written = [receipt(n, debtor=debtor) for n in range(7)]
    for r in reversed(written):
        await store.record(r)
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page, token = await store.list_for(debtor, limit=3, continuation=token)
        seen += [r.receipt_id for r in page]
        pages += 1
        if token is None:
            break
    assert seen == [r.receipt_id for r in reversed(written)]
    assert pages == 3


async def test_a_forged_continuation_is_refused(store: ReceiptStore) -> None:
    with pytest.raises(Invalid):
        await store.list_for(DEBTOR, limit=3, continuation="not base64!")
