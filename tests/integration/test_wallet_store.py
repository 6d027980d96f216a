"""The wallet's Cosmos store, and the wallet on it, against the Cosmos emulator: partition
scoping, ETag conditions, atomic batches, the limit under a race of 40 onboardings and 40
completions, and the round trips of each operation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from local.cosmos import stats
from local.platform import Platform
from shared.auth.fiscal_code import fiscal_code_hash
from shared.platform.clients import Clients
from shared.platform.errors import Conflict, DependencyError
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
    fiscal_code,
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
    assert round_trips() == 3  # the read, the slots, one batch (the slot freed)
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


async def test_40_onboardings_and_40_completions_at_once_end_with_at_most_20(
    clients: Clients,
) -> None:
    container = clients.container(clients.settings.wallet_container)
    psp = FakePsp()
    wallet = Wallet(
        store=CosmosWalletStore(container, 5),
        psp=psp,
        secrets=FakeSecrets(),
        wallet_ids=wallet_ids(),
        publisher=Outbox(container, MemorySender(), partition_key="/pk", timeout=5),
        policy=WalletPolicy(
            psp_id=PSP,
            return_url="app://done",
            session_window=timedelta(minutes=30),
            max_instruments=20,
            events_queue="wallet-events",
            notification_url=NOTIFY_URL,
        ),
    )
    citizen = fiscal_code(999)

    async def onboard() -> str | None:
        while True:  # as the app would: a busy answer is retried, the limit is final
            try:
                started = await wallet.start_onboarding(
                    citizen, NewInstrument(type="CARD"), now=NOW
                )
            except Conflict as refused:
                if "at most 20" in refused.detail:
                    return None
                continue
            return started.wallet_id

    async def complete(wallet_id: str, n: int) -> None:
        session = next(o["sessionId"] for o in psp.opened if o["walletId"] == wallet_id)
        body = {
            "walletId": wallet_id,
            "sessionId": session,
            "outcome": "OK",
            "details": card(f"{n:064x}"),
        }
        for attempt in range(50):  # as the PSP does: a 503 is retried, signed afresh
            raw, header = signed(body, at=NOW + timedelta(seconds=attempt))
            try:
                await wallet.notify(
                    PspNotification.model_validate_json(raw),
                    raw_body=raw,
                    signature=header,
                    now=NOW + timedelta(seconds=attempt),
                )
                return
            except DependencyError:
                continue
        raise AssertionError(f"{wallet_id} never got an answer")

    started = await asyncio.gather(*(onboard() for _ in range(40)))
    opened = [w for w in started if w is not None]
    assert len(opened) == 20
    await asyncio.gather(*(complete(w, n) for n, w in enumerate(opened)))
    shown = await wallet.instruments(citizen, now=NOW + timedelta(minutes=1))
    assert [i.status for i in shown.instruments] == ["VALIDATED"] * 20
    slots = await CosmosWalletStore(container, 5).slots(fiscal_code_hash(citizen))
    assert slots is not None
    assert sorted(slots["held"]) == sorted(opened)


async def test_40_completions_of_sessions_without_slots_validate_at_most_20(
    clients: Clients,
) -> None:
    # Sessions opened before the slots were kept, as the old race left them: 40 of them.
    container = clients.container(clients.settings.wallet_container)
    store = CosmosWalletStore(container, 5)
    psp = FakePsp()
    wallet = Wallet(
        store=store,
        psp=psp,
        secrets=FakeSecrets(),
        wallet_ids=wallet_ids(),
        publisher=Outbox(container, MemorySender(), partition_key="/pk", timeout=5),
        policy=WalletPolicy(
            psp_id=PSP,
            return_url="app://done",
            session_window=timedelta(minutes=30),
            max_instruments=20,
            events_queue="wallet-events",
            notification_url=NOTIFY_URL,
        ),
    )
    citizen = fiscal_code(998)
    pk = fiscal_code_hash(citizen)
    ids = [await wallet_ids().new(citizen) for _ in range(40)]
    for n, wallet_id in enumerate(ids):
        await store.create(
            instrument(pk, "CREATED", id=wallet_id, fiscalCode=citizen, sessionId=f"old-{n}")
        )

    async def complete(n: int, wallet_id: str) -> None:
        body = {
            "walletId": wallet_id,
            "sessionId": f"old-{n}",
            "outcome": "OK",
            "details": card(f"{n:064x}"),
        }
        for attempt in range(80):
            raw, header = signed(body, at=NOW + timedelta(seconds=attempt))
            try:
                await wallet.notify(
                    PspNotification.model_validate_json(raw),
                    raw_body=raw,
                    signature=header,
                    now=NOW + timedelta(seconds=attempt),
                )
                return
            except DependencyError:
                continue
        raise AssertionError(f"{wallet_id} never got an answer")

    await asyncio.gather(*(complete(n, w) for n, w in enumerate(ids)))
    shown = [await wallet.get(citizen, w, now=NOW + timedelta(minutes=2)) for w in ids]
    assert sum(i.status == "VALIDATED" for i in shown) == 20
    assert sum(i.error_reason == "TOO_MANY_INSTRUMENTS" for i in shown) == 20
