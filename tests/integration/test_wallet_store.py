"""The wallet's Cosmos store, and the wallet on it, against the Cosmos emulator: partition
scoping, ETag conditions, atomic batches, the limit under a race of 40 creations and 40
validations, and the round trips of each onboarding step."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.platform.clients import Clients
from shared.platform.errors import Conflict, DependencyError
from shared.platform.outbox import Outbox
from shared.wallet.core import WalletPolicy
from shared.wallet.instruments import token_hash
from shared.wallet.models import (
    SLOTS_ID,
    GatewayNotification,
    NewSession,
    NewWallet,
    fixed_time,
)
from shared.wallet.service import Wallet
from shared.wallet.store import CosmosWalletStore, StaleDocument
from tests.fakes.platform import MemorySender
from tests.unit.wallet.fakes import (
    CARD_METHOD,
    CF,
    NOTIFY_URL,
    NOW,
    OTHER_CF,
    PSP,
    FakePsp,
    fiscal_code,
    uid,
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
        "paymentMethodId": CARD_METHOD,
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
    failed = await store.create(instrument(mine, "ERROR"))
    await store.create(instrument(theirs))
    since = fixed_time(NOW - timedelta(minutes=30))
    found = await store.current(mine, pending_since=since)
    assert {d["id"] for d in found} == {validated["id"], fresh["id"]}
    notified = await store.for_notification(mine, fresh["id"])
    assert {d["id"] for d in notified} == {validated["id"], fresh["id"]}
    assert (await store.get(mine, validated["id"]))["status"] == "VALIDATED"  # type: ignore[index]
    assert await store.get(theirs, validated["id"]) is None
    assert failed["id"] in {d["id"] for d in await store.every(mine)}  # the helpdesk's view
    assert len(await store.every(mine)) == 4


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


async def test_an_instrument_and_its_owners_slots_are_read_in_one_round_trip(
    platform: Platform, store: CosmosWalletStore
) -> None:
    pk, other = f"pk-{uuid.uuid4()}", f"pk-{uuid.uuid4()}"
    written = await store.create(instrument(pk))
    alone = await store.create(instrument(other))
    assert await store.get_with_slots(pk, written["id"]) == (written, None)  # no slots yet
    slots = await store.create({"id": SLOTS_ID, "pk": pk, "kind": "slots", "held": {}})
    stats(platform.cosmos.port, reset=True)
    found, found_slots = await store.get_with_slots(pk, written["id"])
    assert stats(platform.cosmos.port, reset=True)["requests"] == 1
    assert (found, found_slots) == (written, slots)  # with their ETags, to write them back
    assert await store.get_with_slots(pk, str(uuid.uuid4())) == (None, None)
    assert await store.get_with_slots(pk, alone["id"]) == (None, None)  # someone else's
    assert await store.get_with_slots(pk, SLOTS_ID) == (None, None)  # not an instrument


async def test_writing_together_is_all_or_nothing(store: CosmosWalletStore) -> None:
    pk = f"pk-{uuid.uuid4()}"
    old, new = await store.create(instrument(pk)), await store.create(instrument(pk, "CREATED"))
    stale_old = {**old, "_etag": '"stale"'}
    slots = {"id": "slots", "pk": pk, "kind": "slots", "held": {new["id"]: None}}
    with pytest.raises(StaleDocument):
        await store.write_together(
            pk, [slots, {**new, "status": "VALIDATED"}, {**stale_old, "status": "REPLACED"}]
        )
    assert (await store.get(pk, new["id"]))["status"] == "CREATED"  # type: ignore[index]
    assert await store.slots(pk) is None  # the create in the failed batch was rolled back
    written = await store.write_together(
        pk, [slots, {**new, "status": "VALIDATED"}, {**old, "status": "REPLACED"}]
    )
    assert [d.get("status") for d in written] == [None, "VALIDATED", "REPLACED"]
    assert all(d["_etag"] for d in written)
    with pytest.raises(StaleDocument):  # a second create of the slots: someone else's first
        await store.write_together(pk, [slots])
    assert (await store.slots(pk))["held"] == {new["id"]: None}  # type: ignore[index]
    notified = await store.for_notification(pk, new["id"])
    assert {d["id"] for d in notified} == {"slots", new["id"]}


def policy() -> WalletPolicy:
    return WalletPolicy(
        psp_id=PSP,
        return_url="app://done",
        session_window=timedelta(minutes=30),
        max_instruments=20,
        events_queue="wallet-events",
        notification_url=NOTIFY_URL,
    )


def outcome(card_id: str, hpan: str, operation: str = "op-1") -> GatewayNotification:
    return GatewayNotification.model_validate(
        {
            "timestampOperation": NOW.isoformat(),
            "operationId": operation,
            "operationResult": "EXECUTED",
            "details": {"type": "CARD", "paymentInstrumentGatewayId": card_id, "hpan": hpan},
        }
    )


async def requested(wallet: Wallet, psp: FakePsp, user: str, expiry: str = "203012") -> str:
    created = await wallet.create(user, NewWallet(paymentMethodId=CARD_METHOD), now=NOW)
    opened = await wallet.open_session(user, created.wallet_id, NewSession(), now=NOW)
    psp.type_card(created.wallet_id, expiry=expiry)
    await wallet.validate(user, created.wallet_id, opened.order_id, now=NOW)
    return created.wallet_id


async def notify(
    wallet: Wallet, psp: FakePsp, wallet_id: str, card_id: str, hpan: str, at: datetime = NOW
) -> None:
    order = psp.order_of(wallet_id)
    await wallet.notify(
        wallet_id, order.order_id, outcome(card_id, hpan), token=order.token, now=at
    )


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
        wallet_ids=wallet_ids(),
        publisher=publisher,
        policy=policy(),
    )
    port = platform.cosmos.port
    user = uid(CF)

    def round_trips() -> int:
        return stats(port, reset=True)["requests"]

    # warm up: the client reads the account and each container's properties once
    warm = await requested(wallet, psp, uid(OTHER_CF))
    await notify(wallet, psp, warm, "gw-0", "0" * 64)
    await wallet.create(user, NewWallet(paymentMethodId=CARD_METHOD), now=NOW)
    round_trips()
    created = await wallet.create(user, NewWallet(paymentMethodId=CARD_METHOD), now=NOW)
    assert round_trips() == 2  # the slots, one batch
    opened = await wallet.open_session(user, created.wallet_id, NewSession(), now=NOW)
    assert round_trips() == 2  # read, replace
    psp.type_card(created.wallet_id, expiry="202712")
    await wallet.validate(user, created.wallet_id, opened.order_id, now=NOW)
    assert round_trips() == 2  # read, replace
    first = created.wallet_id
    await notify(wallet, psp, first, "gw-1", "1" * 64)
    assert round_trips() == 2  # the partition query, one batch
    second = await requested(wallet, psp, user, expiry="203012")
    round_trips()
    await notify(wallet, psp, second, "gw-1", "1" * 64)  # the same card renewed: one batch
    assert round_trips() == 2
    old = await wallet.get(user, first, now=NOW)
    assert (old.status, old.replaced_by) == ("REPLACED", second)
    assert round_trips() == 1
    listed = await wallet.instruments(user, now=NOW)
    assert second in [i.wallet_id for i in listed.instruments]
    assert round_trips() == 1
    await wallet.delete(user, second, now=NOW)
    assert round_trips() == 2  # the instrument and the slots read together, one batch
    await publisher.drain()  # the events go after the requests answered
    delivered = list(dict.fromkeys((m.message_id, m.properties["type"]) for _, m in sender.sent))
    assert [t for _, t in delivered] == [
        "InstrumentValidated",
        "InstrumentValidated",
        "InstrumentReplaced",
        "InstrumentDeleted",
    ]
    stored = await container.read_item(second, partition_key=user)
    assert [e["type"] for e in stored["outbox"]] == ["InstrumentReplaced", "InstrumentDeleted"]
    assert CF not in str(stored)
    # the sweep (its timer) re-sends them once more and clears the outboxes
    outbox = Outbox(container, sender, partition_key="/pk", timeout=5)
    assert await outbox.sweep(now=NOW + timedelta(minutes=1), older_than=timedelta(seconds=30)) >= 3
    stored = await container.read_item(second, partition_key=user)
    assert stored["outbox"] == []
    assert list(dict.fromkeys(m.message_id for _, m in sender.sent)) == [i for i, _ in delivered]


async def test_40_creations_and_40_validations_at_once_end_with_at_most_20(
    clients: Clients,
) -> None:
    container = clients.container(clients.settings.wallet_container)
    psp = FakePsp()
    wallet = Wallet(
        store=CosmosWalletStore(container, 5),
        psp=psp,
        wallet_ids=wallet_ids(),
        publisher=Outbox(container, MemorySender(), partition_key="/pk", timeout=5),
        policy=policy(),
    )
    user = uid(fiscal_code(999))

    async def onboard() -> str | None:
        while True:  # as the app would: a busy answer is retried, the limit is final
            try:
                return await requested(wallet, psp, user)
            except Conflict as refused:
                if "at most 20" in refused.detail:
                    return None
                continue

    async def complete(wallet_id: str, n: int) -> None:
        for attempt in range(50):  # as the gateway does: a 503 is retried
            try:
                await notify(
                    wallet, psp, wallet_id, f"gw-{n}", f"{n:064x}", NOW + timedelta(seconds=attempt)
                )
                return
            except DependencyError:
                continue
        raise AssertionError(f"{wallet_id} never got an answer")

    started = await asyncio.gather(*(onboard() for _ in range(40)))
    opened = [w for w in started if w is not None]
    assert len(opened) == 20
    await asyncio.gather(*(complete(w, n) for n, w in enumerate(opened)))
    shown = await wallet.instruments(user, now=NOW + timedelta(minutes=1))
    assert [i.status for i in shown.instruments] == ["VALIDATED"] * 20
    slots = await CosmosWalletStore(container, 5).slots(user)
    assert slots is not None
    assert sorted(slots["held"]) == sorted(opened)


async def test_40_validations_of_sessions_without_slots_validate_at_most_20(
    clients: Clients,
) -> None:
    # Sessions written without slots (as before the slots were kept): 40 of them.
    container = clients.container(clients.settings.wallet_container)
    store = CosmosWalletStore(container, 5)
    wallet = Wallet(
        store=store,
        psp=FakePsp(),
        wallet_ids=wallet_ids(),
        publisher=Outbox(container, MemorySender(), partition_key="/pk", timeout=5),
        policy=policy(),
    )
    user = uid(fiscal_code(998))
    ids = [await wallet_ids().new(user) for _ in range(40)]
    for n, wallet_id in enumerate(ids):
        await store.create(
            instrument(
                user,
                "VALIDATION_REQUESTED",
                id=wallet_id,
                orderId=f"ORDER{n:013d}",
                tokenHash=token_hash(f"token-{n}"),
                tokenUntil=fixed_time(NOW + timedelta(hours=1)),
                details={
                    "type": "CARDS",
                    "bin": "424242",
                    "lastFourDigits": "4242",
                    "expiryDate": "203012",
                    "brand": "VISA",
                },
            )
        )

    async def complete(n: int, wallet_id: str) -> None:
        for attempt in range(80):
            try:
                await wallet.notify(
                    wallet_id,
                    f"ORDER{n:013d}",
                    outcome(f"gw-{n}", f"{n:064x}"),
                    token=f"token-{n}",
                    now=NOW + timedelta(seconds=attempt),
                )
                return
            except DependencyError:
                continue
        raise AssertionError(f"{wallet_id} never got an answer")

    await asyncio.gather(*(complete(n, w) for n, w in enumerate(ids)))
    shown = [await wallet.get(user, w, now=NOW + timedelta(minutes=2)) for w in ids]
    assert sum(i.status == "VALIDATED" for i in shown) == 20
    assert sum(i.error_code == "TOO_MANY_INSTRUMENTS" for i in shown) == 20
