"""The local Service Bus broker (local/servicebus) driven by the real azure-servicebus SDK.

Every test uses its own queue, so one broker serves the whole module; the tests that need a dev
clock or a broker without auto-created queues start their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusMessageState,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusReceiver,
    ServiceBusSubQueue,
)
from azure.servicebus.aio import ServiceBusClient as AsyncServiceBusClient
from azure.servicebus.exceptions import MessageLockLostError, ServiceBusAuthenticationError

from local.process import Child
from local.servicebus import connection_string, set_clock_offset, start_broker

WAIT = 1.0  # max_wait_time of receives that expect a message
EMPTY_WAIT = 0.3  # max_wait_time of receives that expect nothing

QUEUES = [
    {"name": "max-delivery-sync", "maxDeliveryCount": 3},
    {"name": "max-delivery-aio", "maxDeliveryCount": 3},
    {"name": "short-lock-sync", "lockDurationSeconds": 1},
    {"name": "short-lock-aio", "lockDurationSeconds": 1},
]


@pytest.fixture(scope="module")
def broker() -> Iterator[Child]:
    child = start_broker(queues=QUEUES)
    yield child
    child.stop()


@pytest.fixture(scope="module")
def conn_str(broker: Child) -> str:
    return connection_string(broker.port)


@pytest.fixture
def client(conn_str: str) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(conn_str) as sb:
        yield sb


@pytest.fixture
async def aclient(conn_str: str) -> AsyncIterator[AsyncServiceBusClient]:
    async with AsyncServiceBusClient.from_connection_string(conn_str) as sb:
        yield sb


def body(message: ServiceBusReceivedMessage) -> str:
    return b"".join(message.body).decode()


def send(client: ServiceBusClient, queue: str, *messages: ServiceBusMessage) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(list(messages))


async def asend(client: AsyncServiceBusClient, queue: str, *messages: ServiceBusMessage) -> None:
    async with client.get_queue_sender(queue) as sender:
        await sender.send_messages(list(messages))


def receive_all(
    receiver: ServiceBusReceiver, expected: int, *, complete: bool = True
) -> list[ServiceBusReceivedMessage]:
    """Receive exactly ``expected`` messages (completing them unless told not to)."""
    got: list[ServiceBusReceivedMessage] = []
    deadline = time.monotonic() + 5.0
    while len(got) < expected and time.monotonic() < deadline:
        for message in receiver.receive_messages(
            max_message_count=expected - len(got), max_wait_time=WAIT
        ):
            if complete:
                receiver.complete_message(message)
            got.append(message)
    assert len(got) == expected, f"only {len(got)} of {expected} messages arrived"
    return got


def test_connection_string_selects_the_plain_amqp_emulator_mode(conn_str: str) -> None:
    assert conn_str.endswith(";UseDevelopmentEmulator=true")
    assert conn_str.startswith("Endpoint=sb://127.0.0.1:")


# ------------------------------------------------------------------------------------ sync


def test_send_batch_duplicates_peek_and_complete_sync(client: ServiceBusClient) -> None:
    queue = "basic-sync"
    before = datetime.now(UTC)
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(
            ServiceBusMessage(
                "m0",
                message_id="m-0",
                subject="greeting",
                application_properties={"kind": "test", "n": 7},
            )
        )
        batch = sender.create_message_batch()
        for i in (1, 2, 3):
            batch.add_message(ServiceBusMessage(f"m{i}", message_id=f"m-{i}"))
        sender.send_messages(batch)
        # Duplicates (same message_id within the window) are accepted and dropped.
        sender.send_messages(ServiceBusMessage("duplicate", message_id="m-0"))
        batch = sender.create_message_batch()
        batch.add_message(ServiceBusMessage("duplicate", message_id="m-2"))
        batch.add_message(ServiceBusMessage("m4", message_id="m-4"))
        sender.send_messages(batch)
    expected = [f"m{i}" for i in range(5)]
    with client.get_queue_receiver(queue) as receiver:
        peeked = receiver.peek_messages(max_message_count=10)
        assert [body(m) for m in peeked] == expected
        assert [m.sequence_number for m in peeked] == [1, 2, 3, 4, 5]
        assert {m.state for m in peeked} == {ServiceBusMessageState.ACTIVE}
        assert receiver.peek_messages(max_message_count=1, sequence_number=4)[0].message_id == "m-3"
        got = receive_all(receiver, 5, complete=False)  # peeking locked nothing
        assert [body(m) for m in got] == expected
        assert len({m.lock_token for m in got}) == 5
        assert all(
            m.lock_token == (m.raw_amqp_message.delivery_annotations or {}).get(b"x-opt-lock-token")
            for m in got
        )
        assert all(
            m.locked_until_utc is not None and m.locked_until_utc > before + timedelta(seconds=50)
            for m in got
        )
        for message in got:
            receiver.complete_message(message)
        first = got[0]
        assert first.subject == "greeting"
        # The SDK adds trace context (Diagnostic-Id, traceparent) once a test in this process
        # has configured tracing (test_telemetry): the broker passes those through as well.
        properties = dict(first.application_properties or {})
        for tracing in (b"Diagnostic-Id", b"traceparent"):
            properties.pop(tracing, None)
        assert properties == {b"kind": b"test", b"n": 7}
        assert first.delivery_count == 0  # the service's wire value, passed through by the SDK
        assert first.enqueued_time_utc is not None
        assert before - timedelta(seconds=1) <= first.enqueued_time_utc <= datetime.now(UTC)
        assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
        assert receiver.peek_messages(max_message_count=10, sequence_number=1) == []


def test_abandon_renew_dead_letter_and_max_delivery_count_sync(client: ServiceBusClient) -> None:
    queue = "max-delivery-sync"  # maxDeliveryCount 3
    send(
        client,
        queue,
        ServiceBusMessage("poison", message_id="x-1"),
        ServiceBusMessage("flaky", message_id="f-1"),
    )
    with client.get_queue_receiver(queue) as receiver:
        poison, flaky = receive_all(receiver, 2, complete=False)
        receiver.dead_letter_message(poison, reason="Invalid", error_description="bad payload")
        before = flaky.locked_until_utc
        assert before is not None
        time.sleep(0.1)
        renewed = receiver.renew_message_lock(flaky)
        assert renewed > before
        assert flaky.locked_until_utc == renewed
        receiver.abandon_message(flaky)
        for attempt in (1, 2):
            [again] = receiver.receive_messages(max_wait_time=WAIT)
            assert (again.message_id, again.delivery_count) == ("f-1", attempt)
            assert again.sequence_number == flaky.sequence_number
            assert again.lock_token != flaky.lock_token
            receiver.abandon_message(again)
        # The third failed delivery reached maxDeliveryCount: the message left the queue.
        assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
    with client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        dead = {m.message_id: m for m in receive_all(dlq, 2)}
        assert dlq.receive_messages(max_wait_time=EMPTY_WAIT) == []
    assert body(dead["x-1"]) == "poison"
    assert dead["x-1"].dead_letter_reason == "Invalid"
    assert dead["x-1"].dead_letter_error_description == "bad payload"
    assert dead["x-1"].dead_letter_source == queue
    assert dead["f-1"].dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead["f-1"].delivery_count == 3


def test_scheduled_messages_and_lock_expiry_sync(client: ServiceBusClient) -> None:
    queue = "short-lock-sync"  # lockDurationSeconds 1
    with client.get_queue_receiver(queue) as receiver:
        with client.get_queue_sender(queue) as sender:
            at = datetime.now(UTC) + timedelta(seconds=2)
            sender.send_messages(ServiceBusMessage("forgotten", message_id="l-1"))
            sender.send_messages(ServiceBusMessage("via-send", scheduled_enqueue_time_utc=at))
            kept, cancelled = sender.schedule_messages(
                [ServiceBusMessage("via-schedule"), ServiceBusMessage("cancelled")], at
            )
            sender.cancel_scheduled_messages(cancelled)
        peeked = receiver.peek_messages(max_message_count=10, sequence_number=1)
        assert [(body(m), m.state) for m in peeked] == [
            ("forgotten", ServiceBusMessageState.ACTIVE),
            ("via-send", ServiceBusMessageState.SCHEDULED),
            ("via-schedule", ServiceBusMessageState.SCHEDULED),
        ]
        assert peeked[2].sequence_number == kept
        # Only the unscheduled message is there; it is received and then left to expire.
        [first] = receiver.receive_messages(max_message_count=5, max_wait_time=EMPTY_WAIT)
        assert (first.message_id, first.delivery_count) == ("l-1", 0)
        assert first.locked_until_utc is not None
        assert first.locked_until_utc <= datetime.now(UTC) + timedelta(seconds=1.1)
        assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
        assert datetime.now(UTC) < at, "the test itself was too slow to check the wait"
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        got = {body(m): m for m in receive_all(receiver, 3, complete=False)}
        assert sorted(got) == ["forgotten", "via-schedule", "via-send"]
        assert got["forgotten"].delivery_count == 1  # redelivered after its lock expired
        assert got["via-send"].enqueued_time_utc is not None
        assert got["via-send"].enqueued_time_utc >= at - timedelta(milliseconds=1)
        for message in got.values():
            receiver.complete_message(message)
        with pytest.raises(MessageLockLostError):
            receiver.renew_message_lock(first)  # answered by the broker: the lock is gone
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
        assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []


def test_defer_and_receive_deferred_sync(client: ServiceBusClient) -> None:
    queue = "defer-sync"
    send(client, queue, ServiceBusMessage("later"))
    with client.get_queue_receiver(queue) as receiver:
        [message] = receiver.receive_messages(max_wait_time=WAIT)
        receiver.defer_message(message)
        assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
        [peeked] = receiver.peek_messages(max_message_count=10, sequence_number=1)
        assert peeked.state == ServiceBusMessageState.DEFERRED
        assert message.sequence_number is not None
        [deferred] = receiver.receive_deferred_messages([message.sequence_number])
        assert body(deferred) == "later"
        receiver.complete_message(deferred)
        assert receiver.peek_messages(max_message_count=10, sequence_number=1) == []


# ------------------------------------------------------------------------------------ aio


async def test_send_batch_duplicates_peek_and_complete_aio(aclient: AsyncServiceBusClient) -> None:
    queue = "basic-aio"
    async with aclient.get_queue_sender(queue) as sender:
        await sender.send_messages(ServiceBusMessage("m0", message_id="m-0"))
        batch = await sender.create_message_batch()
        for i in (1, 2):
            batch.add_message(ServiceBusMessage(f"m{i}", message_id=f"m-{i}"))
        batch.add_message(ServiceBusMessage("duplicate", message_id="m-0"))
        await sender.send_messages(batch)
        await sender.send_messages(
            [
                ServiceBusMessage("duplicate", message_id="m-1"),
                ServiceBusMessage("m3", message_id="m-3"),
            ]
        )
    expected = ["m0", "m1", "m2", "m3"]
    async with aclient.get_queue_receiver(queue) as receiver:
        peeked = await receiver.peek_messages(max_message_count=10)
        assert [body(m) for m in peeked] == expected
        got: list[ServiceBusReceivedMessage] = []
        while len(got) < 4:
            messages = await receiver.receive_messages(max_message_count=4, max_wait_time=WAIT)
            assert messages, f"only {len(got)} of 4 messages arrived"
            for message in messages:
                assert message.delivery_count == 0
                await receiver.complete_message(message)
            got += messages
        assert [body(m) for m in got] == expected
        assert await receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
        assert await receiver.peek_messages(max_message_count=10, sequence_number=1) == []


async def test_abandon_renew_dead_letter_and_max_delivery_count_aio(
    aclient: AsyncServiceBusClient,
) -> None:
    queue = "max-delivery-aio"  # maxDeliveryCount 3
    await asend(
        aclient,
        queue,
        ServiceBusMessage("poison", message_id="x-1"),
        ServiceBusMessage("flaky", message_id="f-1"),
    )
    async with aclient.get_queue_receiver(queue) as receiver:
        [poison] = await receiver.receive_messages(max_wait_time=WAIT)
        await receiver.dead_letter_message(poison, reason="Gave up", error_description="twice")
        for attempt in range(3):
            [flaky] = await receiver.receive_messages(max_wait_time=WAIT)
            assert (flaky.message_id, flaky.delivery_count) == ("f-1", attempt)
            if attempt == 0:
                before = flaky.locked_until_utc
                assert before is not None
                await asyncio.sleep(0.1)
                assert await receiver.renew_message_lock(flaky) > before
            await receiver.abandon_message(flaky)
        assert await receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
    async with aclient.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        dead: dict[str | None, ServiceBusReceivedMessage] = {}
        while len(dead) < 2:
            messages = await dlq.receive_messages(max_message_count=2, max_wait_time=WAIT)
            assert messages, f"only {len(dead)} of 2 dead letters arrived"
            for message in messages:
                dead[message.message_id] = message
                await dlq.complete_message(message)
        assert await dlq.receive_messages(max_wait_time=EMPTY_WAIT) == []
    assert (dead["x-1"].dead_letter_reason, dead["x-1"].dead_letter_error_description) == (
        "Gave up",
        "twice",
    )
    assert dead["f-1"].dead_letter_reason == "MaxDeliveryCountExceeded"


async def test_scheduled_messages_and_lock_expiry_aio(aclient: AsyncServiceBusClient) -> None:
    queue = "short-lock-aio"  # lockDurationSeconds 1
    async with aclient.get_queue_receiver(queue) as receiver:
        async with aclient.get_queue_sender(queue) as sender:
            at = datetime.now(UTC) + timedelta(seconds=2)
            await sender.send_messages(ServiceBusMessage("forgotten", message_id="l-1"))
            await sender.send_messages(ServiceBusMessage("via-send", scheduled_enqueue_time_utc=at))
            kept, cancelled = await sender.schedule_messages(
                [ServiceBusMessage("via-schedule"), ServiceBusMessage("cancelled")], at
            )
            await sender.cancel_scheduled_messages(cancelled)
        [first] = await receiver.receive_messages(max_message_count=5, max_wait_time=EMPTY_WAIT)
        assert (first.message_id, first.delivery_count) == ("l-1", 0)
        assert await receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
        assert datetime.now(UTC) < at, "the test itself was too slow to check the wait"
        await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        got: dict[str, ServiceBusReceivedMessage] = {}
        while len(got) < 3:
            messages = await receiver.receive_messages(max_message_count=3, max_wait_time=WAIT)
            assert messages, f"only {len(got)} of 3 messages arrived"
            got.update((body(m), m) for m in messages)
        assert sorted(got) == ["forgotten", "via-schedule", "via-send"]
        assert got["forgotten"].delivery_count == 1  # redelivered after its lock expired
        assert got["via-schedule"].sequence_number == kept
        for message in got.values():
            await receiver.complete_message(message)
        with pytest.raises(MessageLockLostError):
            await receiver.renew_message_lock(first)
        assert await receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []


async def test_receive_and_delete_aio(aclient: AsyncServiceBusClient) -> None:
    queue = "receive-delete-aio"
    await asend(aclient, queue, ServiceBusMessage("once"), ServiceBusMessage("twice"))
    async with aclient.get_queue_receiver(
        queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
    ) as receiver:
        got: list[str] = []
        while len(got) < 2:
            messages = await receiver.receive_messages(max_message_count=2, max_wait_time=WAIT)
            assert messages, f"only {len(got)} of 2 messages arrived"
            got += [body(m) for m in messages]
        assert got == ["once", "twice"]
        assert await receiver.peek_messages(max_message_count=10, sequence_number=1) == []


async def test_concurrent_receivers_never_share_a_message(conn_str: str) -> None:
    queue = "concurrent-aio"
    count = 40
    async with (
        AsyncServiceBusClient.from_connection_string(conn_str) as sb,
        sb.get_queue_sender(queue) as sender,
    ):
        batch = await sender.create_message_batch()
        for i in range(count):
            batch.add_message(ServiceBusMessage(f"work-{i}", message_id=f"w-{i}"))
        await sender.send_messages(batch)

    both_open = asyncio.Barrier(2)

    async def consume() -> list[str]:
        seen: list[str] = []
        async with (
            AsyncServiceBusClient.from_connection_string(conn_str) as sb,
            sb.get_queue_receiver(queue) as receiver,
        ):
            await both_open.wait()
            while True:
                messages = await receiver.receive_messages(max_message_count=4, max_wait_time=WAIT)
                if not messages:
                    return seen
                for message in messages:
                    seen.append(str(message.message_id))
                    await asyncio.sleep(0.01)  # some work, so the other receiver gets a turn
                    await receiver.complete_message(message)

    first, second = await asyncio.gather(consume(), consume())
    assert first, "both receivers should have been served"
    assert second, "both receivers should have been served"
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(f"w-{i}" for i in range(count))


# ------------------------------------------------------------------------- own brokers


def test_dev_clock_drives_scheduled_messages_and_locks(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock.json"
    broker = start_broker(clock_file=clock_file)  # no file yet: offset 0
    try:
        with ServiceBusClient.from_connection_string(connection_string(broker.port)) as sb:
            queue = "clock"
            in_an_hour = datetime.now(UTC) + timedelta(hours=1)
            send(sb, queue, ServiceBusMessage("future", scheduled_enqueue_time_utc=in_an_hour))
            with sb.get_queue_receiver(queue) as receiver:
                assert receiver.receive_messages(max_wait_time=EMPTY_WAIT) == []
                set_clock_offset(clock_file, 3_600_000 + 5_000)
                [message] = receiver.receive_messages(max_wait_time=2.0)
                assert body(message) == "future"
                assert message.enqueued_time_utc == in_an_hour.replace(
                    microsecond=in_an_hour.microsecond // 1000 * 1000
                )
                # Locked-until follows the broker's clock.
                assert message.locked_until_utc is not None
                assert message.locked_until_utc > datetime.now(UTC) + timedelta(minutes=60)
                # The broker's clock moves past the lock while the client still trusts it:
                # the broker refuses the settlement.
                set_clock_offset(clock_file, 2 * 3_600_000)
                time.sleep(0.4)
                with pytest.raises(MessageLockLostError):
                    receiver.complete_message(message)
                [again] = receiver.receive_messages(max_wait_time=WAIT)
                assert again.delivery_count == 1
                receiver.complete_message(again)
    finally:
        broker.stop()


def test_without_auto_create_unknown_queues_are_refused() -> None:
    broker = start_broker(queues=[{"name": "known"}], auto_create=False)
    try:
        with ServiceBusClient.from_connection_string(
            connection_string(broker.port), retry_total=0
        ) as sb:
            send(sb, "KNOWN", ServiceBusMessage("queue names are case-insensitive"))
            # As on the service, the token for a missing entity is refused (CBS status 404),
            # which this SDK reports as an authentication error.
            with (
                pytest.raises(ServiceBusAuthenticationError),
                sb.get_queue_sender("unknown") as sender,
            ):
                sender.send_messages(ServiceBusMessage("lost"))
    finally:
        broker.stop()
