"""Outbox, failed work and the party registry against the Cosmos emulator."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from azure.core import MatchConditions

from local.platform import DEMO_EC, Platform
from shared.parties.service import PartyRegistry, authorize_for_ec
from shared.parties.store import CosmosPartyStore
from shared.platform.clients import Clients
from shared.platform.errors import DependencyError, Forbidden, Unauthorized
from shared.platform.failed_work import CosmosFailedWork, FailedWork, failed_work_id
from shared.platform.messaging import Outgoing
from shared.platform.outbox import CLEAR_NOW_PAST, LINGER_SECONDS, Event, Outbox, add_events
from tests.fakes.platform import MemorySender

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"stores-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


async def write(clients: Clients, events: list[Event]) -> dict:
    container = clients.container(clients.settings.wallet_container)
    document = add_events({"id": str(uuid.uuid4()), "pk": "p1", "state": 1}, events)
    written: dict = await container.create_item(document)
    return written


def event(now: datetime = NOW) -> Event:
    return Event.new("Happened", "q-events", {"n": 1}, now=now)


async def read(clients: Clients, doc: dict) -> dict:
    container = clients.container(clients.settings.wallet_container)
    found: dict = await container.read_item(doc["id"], partition_key="p1")
    return found


async def test_publish_sends_each_event_once_and_clears_the_outbox(clients: Clients) -> None:
    sender = MemorySender()
    box = Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )
    first, second = event(), event()
    doc = await write(clients, [first, second])
    assert await box.publish(doc) is True
    assert [m.message_id for _, m in sender.sent] == [first.id, second.id]
    assert (await read(clients, doc))["outbox"] == []
    assert (await read(clients, doc))["state"] == 1


async def test_a_failed_send_keeps_the_events_for_the_sweep(clients: Clients) -> None:
    sender = MemorySender()
    sender.fail_with = DependencyError("servicebus", "down")
    box = Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )
    old = event(NOW - timedelta(minutes=5))
    doc = await write(clients, [old])
    assert await box.publish(doc) is False
    assert len((await read(clients, doc))["outbox"]) == 1
    sender.fail_with = None
    assert await box.sweep(now=NOW, older_than=timedelta(seconds=30)) >= 1
    assert old.id in {m.message_id for _, m in sender.sent}
    assert (await read(clients, doc))["outbox"] == []


async def test_a_lazy_publish_sends_now_and_leaves_the_clearing_to_the_sweep(
    clients: Clients,
) -> None:
    sender = MemorySender()
    box = Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )
    sent = event(NOW - timedelta(minutes=1))
    doc = await write(clients, [sent])
    assert await box.publish(doc, clear_now=False) is True
    assert [m.message_id for _, m in sender.sent] == [sent.id]
    assert [e["id"] for e in (await read(clients, doc))["outbox"]] == [sent.id]
    assert await box.sweep(now=NOW, older_than=timedelta(seconds=30)) >= 1
    # this process sent it (the broker acknowledged it): its sweep only clears it
    assert [m.message_id for _, m in sender.sent].count(sent.id) == 1
    assert (await read(clients, doc))["outbox"] == []
    await box.sweep(now=NOW, older_than=timedelta(seconds=30))  # cleared: not sent again
    assert [m.message_id for _, m in sender.sent].count(sent.id) == 1


async def test_the_sweep_re_sends_only_what_its_process_did_not_send_or_forgot(
    clients: Clients,
) -> None:
    sender = MemorySender()
    container = clients.container(clients.settings.wallet_container)
    box = Outbox(container, sender, partition_key="/pk", timeout=5, remembered=2)
    other = Outbox(container, sender, partition_key="/pk", timeout=5)  # another process
    first, second, third = (event(NOW - timedelta(minutes=1)) for _ in range(3))
    docs = [await write(clients, [e]) for e in (first, second, third)]
    for doc in docs:
        assert await box.publish(doc, clear_now=False) is True  # remembers the last two
    # What the sweep does with each outbox it finds: send what is not known sent, clear.
    assert await box.publish(await read(clients, docs[2])) is True  # remembered: cleared only
    assert await box.publish(await read(clients, docs[0])) is True  # forgotten: sent again
    assert await other.publish(await read(clients, docs[1])) is True  # not its own: sent again
    sent = [m.message_id for _, m in sender.sent]
    assert [sent.count(e.id) for e in (first, second, third)] == [2, 2, 1]
    assert [(await read(clients, d))["outbox"] for d in docs] == [[], [], []]


async def test_only_the_events_a_write_added_are_sent_the_rest_wait_for_the_sweep(
    clients: Clients,
) -> None:
    sender = MemorySender()
    box = Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )
    older, newer = event(NOW - timedelta(minutes=1)), event(NOW - timedelta(minutes=1))
    doc = await write(clients, [older, newer])
    assert await box.publish(doc, clear_now=False, only=[newer]) is True
    assert [m.message_id for _, m in sender.sent] == [newer.id]
    assert len((await read(clients, doc))["outbox"]) == 2
    await box.sweep(now=NOW, older_than=timedelta(seconds=30))
    assert {older.id, newer.id} <= {m.message_id for _, m in sender.sent}
    assert (await read(clients, doc))["outbox"] == []


async def test_a_long_outbox_is_cleared_at_once_even_when_lazy(clients: Clients) -> None:
    sender = MemorySender()
    box = Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )
    doc = await write(clients, [event() for _ in range(CLEAR_NOW_PAST)])
    assert await box.publish(doc, clear_now=False) is True
    assert len((await read(clients, doc))["outbox"]) == CLEAR_NOW_PAST
    longer = await write(clients, [event() for _ in range(CLEAR_NOW_PAST + 1)])
    assert await box.publish(longer, clear_now=False) is True
    assert (await read(clients, longer))["outbox"] == []


class CallsSender(MemorySender):
    """A memory sender that keeps each call's messages; ``gate``, when set, holds every send
    until the test opens it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        await super().send(queue, messages)
        self.calls.append([m.message_id for m in messages])


def outbox(clients: Clients, sender: MemorySender) -> Outbox:
    return Outbox(
        clients.container(clients.settings.wallet_container), sender, partition_key="/pk", timeout=5
    )


async def hand_over(clients: Clients, box: Outbox, n: int) -> tuple[list[Event], list[dict]]:
    """``n`` requests' writes of one event each (a minute old), handed to publish_soon."""
    events = [event(NOW - timedelta(minutes=1)) for _ in range(n)]
    docs = [await write(clients, [e]) for e in events]
    for doc in docs:
        box.publish_soon(doc)
    return events, docs


async def test_publish_soon_sends_after_the_callers_in_one_batch_and_the_sweep_clears(
    clients: Clients,
) -> None:
    sender = CallsSender()
    box = outbox(clients, sender)
    events, docs = await hand_over(clients, box, 5)
    assert sender.calls == []  # the callers answered before anything was sent
    await box.drain()
    assert sender.calls == [[e.id for e in events]]  # one batch for the five requests
    assert [len((await read(clients, d))["outbox"]) for d in docs] == [1] * 5
    await box.sweep(now=NOW, older_than=timedelta(seconds=30))
    assert [(await read(clients, d))["outbox"] for d in docs] == [[]] * 5
    assert sender.calls == [[e.id for e in events]]  # acknowledged: cleared, not re-sent


async def test_events_handed_over_during_a_flush_go_in_its_next_turn(clients: Clients) -> None:
    sender = CallsSender()
    sender.gate = asyncio.Event()
    box = outbox(clients, sender)
    first, second = event(), event()
    box.publish_soon(await write(clients, [first]))
    await asyncio.sleep(LINGER_SECONDS * 5)  # the flush took the first and waits on the broker
    box.publish_soon(await write(clients, [second]))
    sender.gate.set()
    await box.drain()
    assert sender.calls == [[first.id], [second.id]]


async def test_publish_soon_with_the_broker_down_leaves_the_events_to_the_sweep(
    clients: Clients,
) -> None:
    sender = CallsSender()
    sender.fail_with = DependencyError("servicebus", "down")
    box = outbox(clients, sender)
    lost = event(NOW - timedelta(minutes=1))
    doc = await write(clients, [lost])
    box.publish_soon(doc)
    await box.drain()
    assert sender.sent == []
    sender.fail_with = None
    await box.sweep(now=NOW, older_than=timedelta(seconds=30))
    assert [m.message_id for _, m in sender.sent] == [lost.id]  # not remembered: sent now
    assert (await read(clients, doc))["outbox"] == []


async def test_a_flush_goes_on_past_a_queue_whose_send_raised(clients: Clients) -> None:
    class Broken(CallsSender):
        async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
            if queue == "q-broken":
                raise RuntimeError("a bug in the send")
            await super().send(queue, messages)

    sender = Broken()
    box = outbox(clients, sender)
    broken = Event.new("Happened", "q-broken", {"n": 1}, now=NOW - timedelta(minutes=1))
    fine = event()
    box.publish_soon(await write(clients, [broken]))
    box.publish_soon(await write(clients, [fine]))
    await box.drain()
    assert sender.calls == [[fine.id]]
    box.publish_soon(await write(clients, [event()]))  # the next flush starts as usual
    await box.drain()
    assert len(sender.calls) == 2


async def test_publish_soon_holds_at_most_max_waiting_events(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.platform.outbox.MAX_WAITING", 2)
    sender = CallsSender()
    box = outbox(clients, sender)
    events, docs = await hand_over(clients, box, 3)
    await box.drain()
    assert sender.calls == [[events[0].id, events[1].id]]  # the third waits for the sweep
    await box.sweep(now=NOW, older_than=timedelta(seconds=30))
    assert [m.message_id for _, m in sender.sent].count(events[2].id) == 1
    assert [(await read(clients, d))["outbox"] for d in docs] == [[]] * 3


async def test_publish_soon_publishes_and_clears_a_long_outbox_whole(clients: Clients) -> None:
    sender = CallsSender()
    box = outbox(clients, sender)
    events = [event() for _ in range(CLEAR_NOW_PAST + 1)]
    doc = await write(clients, events)
    box.publish_soon(doc, only=events[-1:])
    await box.drain()
    assert sender.calls == [[e.id for e in events]]
    assert (await read(clients, doc))["outbox"] == []


async def test_clearing_keeps_events_added_by_a_concurrent_write(clients: Clients) -> None:
    sender = MemorySender()
    container = clients.container(clients.settings.wallet_container)
    box = Outbox(container, sender, partition_key="/pk", timeout=5)
    sent_event, later_event = event(), event()
    doc = await write(clients, [sent_event])
    # another writer adds an event after our write: our etag is now stale
    newer = add_events(
        copy.deepcopy({k: v for k, v in doc.items() if not k.startswith("_")}), [later_event]
    )
    await container.replace_item(
        doc["id"], newer, etag=doc["_etag"], match_condition=MatchConditions.IfNotModified
    )
    assert await box.publish(doc) is True
    assert [m.message_id for _, m in sender.sent] == [sent_event.id]
    remaining = [e["id"] for e in (await read(clients, doc))["outbox"]]
    assert remaining == [later_event.id]


async def test_recording_failed_work_twice_keeps_one_item(clients: Clients) -> None:
    store = CosmosFailedWork(clients.container(clients.settings.failed_work_container), 5)
    item = FailedWork(
        id=failed_work_id("qf", "m1"),
        queue="qf",
        message_id="m1",
        original_message_id="m1",
        body_b64="",
        ending="permanent",
        reason="r",
        attempts=1,
        delivery_count=1,
        failed_at=NOW,
    )
    await store.record(item)
    await store.record(item)
    assert [i.id for i in await store.list("qf", 10)] == [item.id]
    assert await store.get("missing") is None


async def test_party_keys_roles_and_segregation_codes(clients: Clients) -> None:
    from shared.parties.models import PartyIn

    registry = PartyRegistry(
        CosmosPartyStore(clients.container(clients.settings.parties_container), 5), cache_seconds=0
    )
    await registry.register(
        PartyIn.model_validate(
            {
                "partyId": "INTERM1",
                "name": "Intermediary",
                "role": "intermediary",
                "actsFor": {DEMO_EC: ["01", "02"]},
            }
        ),
        now=NOW,
    )
    issued = await registry.rotate_key("INTERM1", grace=timedelta(0), now=NOW)
    party = await registry.authenticate(issued.key, now=NOW, roles=("intermediary",))
    authorize_for_ec(party, DEMO_EC, ["01"])
    with pytest.raises(Forbidden):
        authorize_for_ec(party, DEMO_EC, ["01", "03"])
    with pytest.raises(Forbidden):
        authorize_for_ec(party, "99999999999")
    with pytest.raises(Forbidden):
        await registry.authenticate(issued.key, now=NOW, roles=("ec",))
    with pytest.raises(Unauthorized):
        await registry.authenticate("nope", now=NOW)
