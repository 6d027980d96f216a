"""The shared Service Bus sender: concurrent callers' messages go out together (group
commit), and each caller learns the fate of its own messages."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from azure.servicebus.exceptions import ServiceBusConnectionError

from shared.platform.errors import DependencyError
from shared.platform.messaging import Outgoing, ServiceBusSender


class FakeBatch:
    def __init__(self, room: int) -> None:
        self.room = room
        self.ids: list[str] = []

    def add_message(self, message: Any) -> None:
        if len(self.ids) >= self.room:
            raise ValueError("batch full")
        self.ids.append(str(message.properties.message_id))  # an AmqpAnnotatedMessage


class FakeSdkSender:
    """Like the SDK's aio sender: each send is a round trip; sends must not overlap."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.sent: list[list[str]] = []
        self.busy = False
        self.fail_next = 0

    async def create_message_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_messages(self, batch: FakeBatch | Any) -> None:
        if not isinstance(batch, FakeBatch):  # one ServiceBusMessage
            single = FakeBatch(1)
            single.add_message(batch)
            batch = single
        assert not self.busy, "two sends overlapped on one sender"
        self.busy = True
        failing = self.fail_next > 0  # decided when the transfer starts
        self.fail_next -= failing
        try:
            await asyncio.sleep(0.005)
            if failing:
                raise ServiceBusConnectionError(message="link detached")
            self.sent.append(batch.ids)
        finally:
            self.busy = False


class FakeClients:
    """What ServiceBusSender uses of Clients: the settings and the one sender per queue."""

    def __init__(self, sdk: FakeSdkSender) -> None:
        self.sdk = sdk
        self.settings = SimpleNamespace(servicebus_timeout_seconds=5.0)
        self.lock = asyncio.Lock()
        self.turns = 0  # how many times a caller took the sender

    @contextlib.asynccontextmanager
    async def sending(self, queue: str) -> AsyncIterator[FakeSdkSender]:
        async with self.lock:
            self.turns += 1
            yield self.sdk


def sender(sdk: FakeSdkSender) -> ServiceBusSender:
    return ServiceBusSender(FakeClients(sdk))  # type: ignore[arg-type]


def message(n: int) -> Outgoing:
    return Outgoing.json(f"m{n}", {"n": n})


async def test_concurrent_sends_share_transfers_and_each_message_goes_once() -> None:
    sdk = FakeSdkSender()
    shared = sender(sdk)
    await asyncio.gather(*(shared.send("q", [message(n)]) for n in range(64)))
    ids = [i for batch in sdk.sent for i in batch]
    assert sorted(ids) == sorted(f"m{n}" for n in range(64))
    assert len(sdk.sent) < 10  # one transfer for the first, then the rest together


async def test_full_batches_are_split_and_a_fan_out_arrives_whole() -> None:
    sdk = FakeSdkSender(room=3)
    shared = sender(sdk)
    await asyncio.gather(
        shared.send("q", [message(n) for n in range(7)]),
        shared.send("q", [message(100)]),
        shared.send("q", [message(101)]),
    )
    assert all(len(batch) <= 3 for batch in sdk.sent)
    assert sorted(i for batch in sdk.sent for i in batch) == sorted(
        [f"m{n}" for n in range(7)] + ["m100", "m101"]
    )


async def test_a_failed_transfer_fails_the_callers_it_held_and_only_them() -> None:
    sdk = FakeSdkSender()
    shared = sender(sdk)
    first = asyncio.create_task(shared.send("q", [message(0)]))
    await asyncio.sleep(0.001)  # the first is being sent; these wait and go together
    sdk.fail_next = 1
    later = [asyncio.create_task(shared.send("q", [message(n)])) for n in (1, 2, 3)]
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert results[0] is None
    assert all(isinstance(r, DependencyError) for r in results[1:])
    await shared.send("q", [message(1)])  # a retry goes (duplicate detection covers re-sends)
    assert [i for batch in sdk.sent for i in batch] == ["m0", "m1"]


async def test_a_caller_that_times_out_waiting_leaves_nothing_behind() -> None:
    sdk = FakeSdkSender()
    clients = FakeClients(sdk)
    clients.settings.servicebus_timeout_seconds = 0.05
    shared = ServiceBusSender(clients)  # type: ignore[arg-type]
    async with clients.lock:  # someone holds the sender for longer than the timeout
        with pytest.raises(DependencyError, match="no answer"):
            await shared.send("q", [message(0)])
    await shared.send("q", [message(1)])
    assert sdk.sent == [["m1"]]


async def test_callers_made_ready_in_the_same_turn_share_the_first_transfer() -> None:
    sdk = FakeSdkSender()
    shared = sender(sdk)
    await asyncio.gather(*(shared.send("q", [message(n)]) for n in range(5)))
    assert sdk.sent == [[f"m{n}" for n in range(5)]]  # not [m0] alone, then the others


async def test_a_caller_whose_messages_another_sent_never_takes_the_sender() -> None:
    sdk = FakeSdkSender()
    clients = FakeClients(sdk)
    shared = ServiceBusSender(clients)  # type: ignore[arg-type]
    await asyncio.gather(*(shared.send("q", [message(n)]) for n in range(64)))
    assert clients.turns == len(sdk.sent) < 10  # one turn per transfer, not one per caller


async def test_a_caller_handed_the_sender_but_gone_hands_it_on() -> None:
    sdk = FakeSdkSender()
    clients = FakeClients(sdk)
    clients.settings.servicebus_timeout_seconds = 0.5
    shared = ServiceBusSender(clients)  # type: ignore[arg-type]
    waiting: list[asyncio.Task[None]] = []

    async def first_then_cancel_the_next() -> None:
        await shared.send("q", [message(0)])
        # The sender was just handed to the second caller, which has not run yet.
        waiting[0].cancel()

    first = asyncio.create_task(first_then_cancel_the_next())
    await asyncio.sleep(0.001)  # the first is being sent; these two wait for their turn
    waiting.extend(asyncio.create_task(shared.send("q", [message(n)])) for n in (1, 2))
    results = await asyncio.gather(first, *waiting, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert results[2] is None  # the third got the sender, not a timeout
    assert sdk.sent == [["m0"], ["m2"]]
