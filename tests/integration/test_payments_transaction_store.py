"""The transactions' store against the Cosmos emulator, and its in-memory fake held to the same
behaviour: a point read in the payer's partition, ETag-guarded replaces, creates that refuse a
second copy, and the reconciler's query of transactions stuck in flight."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from local.platform import Platform
from shared.payments.payment_ports import TransactionStore
from shared.payments.transaction_store import (
    RETENTION_SECONDS,
    CosmosTransactionStore,
    from_document,
    to_document,
)
from shared.payments.transactions import IN_FLIGHT, Transaction, advance
from shared.platform.clients import Clients
from shared.platform.cosmos import StaleDocument
from tests.fakes.payments_tx import MemoryTransactionStore

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def transaction(user_id: str, *, at: datetime = T0) -> Transaction:
    return Transaction(
        transaction_id=uuid.uuid4().hex,
        user_id=user_id,
        payer_fiscal_code="RSSMRA80A01H501U",
        status="ACTIVATED",
        notice_code="302000100000009424",
        ec_fiscal_code="77777777777",
        ec_name="Comune di Demo",
        description="TARI",
        amount=12550,
        fee=100,
        psp_id="DEMOPSP",
        psp_name="Demo PSP",
        payment_token="t" * 35,
        expires_at=at + timedelta(minutes=30),
        stand_in=False,
        created_at=at,
        updated_at=at,
    )


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"payments-tx-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


@pytest.fixture(params=["cosmos", "fake"])
def store(request: pytest.FixtureRequest, clients: Clients) -> TransactionStore:
    if request.param == "fake":
        return MemoryTransactionStore()
    return CosmosTransactionStore(clients.container(clients.settings.payments_container), 5)


async def test_a_transaction_is_read_back_by_its_payer_only(store: TransactionStore) -> None:
    user, stranger = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    created = transaction(user)
    await store.create(to_document(created))
    found = await store.get(user, created.transaction_id)
    assert found is not None
    assert from_document(found) == created
    assert await store.get(stranger, created.transaction_id) is None
    with pytest.raises(StaleDocument):
        await store.create(to_document(created))


async def test_a_replace_wins_only_on_the_document_it_read(store: TransactionStore) -> None:
    user = uuid.uuid4().hex * 2
    created = transaction(user)
    await store.create(to_document(created))
    read = await store.get(user, created.transaction_id)
    assert read is not None
    moved = advance(created, "CANCELED", now=T0)
    written = await store.replace(to_document(moved, read))
    assert written["ttl"] == RETENTION_SECONDS  # final: kept a while, then gone
    with pytest.raises(StaleDocument):  # a second writer on the same read loses
        await store.replace(to_document(advance(created, "AUTHORIZATION_REQUESTED", now=T0), read))
    again = await store.get(user, created.transaction_id)
    assert again is not None
    assert from_document(again).status == "CANCELED"


async def test_the_reconciler_finds_only_old_transactions_in_flight(
    store: TransactionStore,
) -> None:
    user = uuid.uuid4().hex * 2
    old, fresh, done = (transaction(user) for _ in range(3))
    old = advance(old, "AUTHORIZATION_REQUESTED", now=T0)
    fresh = advance(fresh, "AUTHORIZATION_REQUESTED", now=T0 + timedelta(minutes=10))
    done = advance(done, "CANCELED", now=T0)
    for t in (old, fresh, done):
        await store.create(to_document(t))
    stuck = await store.stuck(sorted(IN_FLIGHT), before=T0 + timedelta(minutes=5), limit=100)
    ids = {from_document(d).transaction_id for d in stuck}
    assert old.transaction_id in ids
    assert fresh.transaction_id not in ids
    assert done.transaction_id not in ids
