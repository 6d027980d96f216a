"""The wallet's Cosmos store, and the wallet on it, against the Cosmos emulator: partition
scoping, ETag conditions, the atomic replacement, and the round trips of each operation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.clients import Clients
from shared.platform.outbox import Outbox
from shared.wallet.models import NewInstrument, PspNotification, fixed_time
from shared.wallet.service import Wallet, WalletPolicy
from shared.wallet.store import CosmosWalletStore, StaleDocument
from tests.fakes.platform import MemorySender
from tests.unit.wallet.fakes import (
    CF,
    NOTIFY_URL,
    NOW,
    OTHER_CF,
    PSP,
    FakePsp,
    FakeSecrets,
    card,
    signed,
    wallet_ids,
)


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"wallet-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


@pytest.fixture
def store(clients: Clients) -> CosmosWalletStore:
    return CosmosWalletStore(clients.container(clients.settings.wallet_container), 5)


def instrument(
    pk: str, status: str = "VALIDATED", *, created: Any = NOW, **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "pk": pk,
        "kind": "instrument",
        "fiscalCode": CF,
        "type": "CARD",
        "status": status,
        "applications": {"PAGOPA": "ENABLED"},
        "pspId": PSP,
        "sessionId": "s",
        "createdAt": fixed_time(created),
        "updatedAt": fixed_time(created),
        **extra,
    }


async def test_listing_is_scoped_to_the_citizen_and_the_session_window(
    store: CosmosWalletStore,
) -> None:
    mine, theirs = f"pk-{uuid.uuid4()}", f"pk-{uuid.uuid4()}"
    validated = await store.create(instrument(mine))
    fresh = await store.create(instrument(mine, "CREATED", created=NOW))
    await store.create(
        instrument(mine, "VALIDATION_REQUESTED", created=NOW - timedelta(minutes=31))
    )
    await store.create(instrument(mine, "ERROR"))
    await store.create(instrument(theirs))
    since = fixed_time(NOW - timedelta(minutes=30))
    found = await store.current(mine, pending_since=since)
    assert {d["id"] for d in found} == {validated["id"], fresh["id"]}
    notified = await store.for_notification(mine, fresh["id"])
    assert {d["id"] for d in notified} == {validated["id"], fresh["id"]}
    assert (await store.get(mine, validated["id"]))["status"] == "VALIDATED"  # type: ignore[index]
    assert await store.get(theirs, validated["id"]) is None


async def test_writes_are_conditioned_on_what_was_read(store: CosmosWalletStore) -> None:
    pk = f"pk-{uuid.uuid4()}"
    written = await store.create(instrument(pk))
    with pytest.raises(StaleDocument):
        await store.create(instrument(pk, id=written["id"]))
    updated = await store.replace({**written, "status": "DELETED"})
    with pytest.raises(StaleDocument):
        await store.replace({**written, "status": "REPLACED"})  # the old ETag
    assert (await store.get(pk, written["id"]))["status"] == "DELETED"  # type: ignore[index]
    assert updated["_etag"] != written["_etag"]


async def test_replacing_together_is_all_or_nothing(store: CosmosWalletStore) -> None:
    pk = f"pk-{uuid.uuid4()}"
    old, new = await store.create(instrument(pk)), await store.create(instrument(pk, "CREATED"))
    stale_old = {**old, "_etag": '"stale"'}
    with pytest.raises(StaleDocument):
        await store.replace_together(
            pk, [{**new, "status": "VALIDATED"}, {**stale_old, "status": "REPLACED"}]
        )
    assert (await store.get(pk, new["id"]))["status"] == "CREATED"  # type: ignore[index]
    both = await store.replace_together(
        pk, [{**new, "status": "VALIDATED"}, {**old, "status": "REPLACED"}]
    )
    assert [d["status"] for d in both] == ["VALIDATED", "REPLACED"]
    assert all(d["_etag"] for d in both)


async def test_the_wallet_on_cosmos_and_its_round_trips(
    platform: Platform, clients: Clients
) -> None:
    settings = clients.settings
    container = clients.container(settings.wallet_container)
    sender = MemorySender()
    psp = FakePsp()
    publisher = Outbox(container, sender, partition_key="/pk", timeout=5)
    wallet = Wallet(
        store=CosmosWalletStore(container, 5),
        psp=psp,
        secrets=FakeSecrets(),
        wallet_ids=wallet_ids(),
        publisher=publisher,
        policy=WalletPolicy(
            psp_id=PSP,
            return_url="app://done",
            session_window=timedelta(minutes=30),
            max_instruments=20,
            events_queue="wallet-events",
            notification_url=NOTIFY_URL,
        ),
    )
    port = platform.cosmos.port

    def round_trips() -> int:
        return stats(port, reset=True)["requests"]

    async def onboard_and_validate(hpan: str, cf: str = CF) -> str:
        started = await wallet.start_onboarding(cf, NewInstrument(type="CARD"), now=NOW)
        body = {
            "walletId": started.wallet_id,
            "sessionId": psp.opened[-1]["sessionId"],
            "outcome": "OK",
            "details": card(hpan),
        }
        raw, header = signed(body, at=NOW)
        round_trips()
        await wallet.notify(
            PspNotification.model_validate_json(raw), raw_body=raw, signature=header, now=NOW
        )
        return started.wallet_id

    # warm up: the client reads the account and each container's properties once
    await onboard_and_validate("0" * 64, OTHER_CF)
    round_trips()
    await wallet.start_onboarding(OTHER_CF, NewInstrument(type="CARD"), now=NOW)
    assert round_trips() == 2  # the live count, the instrument (the walletId routes)
    first = await onboard_and_validate("1" * 64)
    # the partition query, the write (it records the signature; the sweep clears the outbox)
    assert round_trips() == 2
    second = await onboard_and_validate("1" * 64)  # the same card: replaces in one batch
    assert round_trips() == 2
    old = await wallet.get(CF, first, now=NOW)
    assert (old.status, old.replaced_by) == ("REPLACED", second)
    assert round_trips() == 1
    listed = await wallet.instruments(CF, now=NOW)
    assert [i.wallet_id for i in listed.instruments] == [second]
    assert round_trips() == 1
    await wallet.delete(CF, second, now=NOW)
    assert round_trips() == 2  # the read, the write
    await publisher.drain()  # the events go after the requests answered
    # each write re-sends what its document still holds: the broker drops those by id
    delivered = list(dict.fromkeys((m.message_id, m.properties["type"]) for _, m in sender.sent))
    assert [t for _, t in delivered] == [
        "InstrumentValidated",
        "InstrumentValidated",
        "InstrumentReplaced",
        "InstrumentDeleted",
    ]
    stored = await container.read_item(second, partition_key=fiscal_code_hash(CF))
    assert [e["type"] for e in stored["outbox"]] == ["InstrumentReplaced", "InstrumentDeleted"]
    # the sweep (its timer) re-sends them once more and clears the outboxes
    outbox = Outbox(container, sender, partition_key="/pk", timeout=5)
    assert await outbox.sweep(now=NOW + timedelta(minutes=1), older_than=timedelta(seconds=30)) >= 3
    stored = await container.read_item(second, partition_key=fiscal_code_hash(CF))
    assert stored["outbox"] == []
    assert list(dict.fromkeys(m.message_id for _, m in sender.sent)) == [i for i, _ in delivered]
