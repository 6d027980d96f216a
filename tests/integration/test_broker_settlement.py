"""How the local Service Bus broker answers settlements: one disposition frame per settled
message, even when the settlements reach it together.

Microsoft's AMQP stack (Azure/azure-amqp, ``src/AmqpSession.cs``, ``SessionChannel
.DisposeDelivery``) answers a settlement that is not marked batchable with a disposition of its
own, at once; only batchable accepted or released outcomes are gathered into ranges. The Python
SDK awaits each settlement's outcome by reading frames (one read per waiting call, each read
giving up after its socket timeout, 0.2 s), so a broker that folds sixteen completions into one
ranged disposition leaves fifteen callers waiting out that timeout: ~200 ms per completion in
the dev host's consumer, which settles up to ``maxConcurrentCalls`` messages at once.

The client's settlements pass through a relay that holds what the client writes for a moment,
so they reach the broker in one read (as they do under load); the frames the broker sends back
are counted by performative.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from local.process import Child
from local.servicebus import connection_string, start_broker

SETTLEMENTS = 8
HOLD_SECONDS = 0.05  # what the relay gathers of the client's writes before passing them on
_PROTOCOL_HEADER = b"AMQP"
_DISPOSITION = 0x15
_FALSE = (0x42, (0x56, 0x00))


@dataclass
class Frames:
    """Dispositions the broker sent: as the sender of messages (role false), answers to the
    client's settlements; as their receiver (role true), answers to the client's sends."""

    settlements: int = 0
    sends: int = 0
    _pending: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        self._pending += data
        while True:
            if self._pending[:4] == _PROTOCOL_HEADER:
                if len(self._pending) < 8:
                    return
                del self._pending[:8]
                continue
            if len(self._pending) < 8:
                return
            size = struct.unpack(">I", self._pending[:4])[0]
            if len(self._pending) < size:
                return
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            role = _disposition_role(frame)
            if role is False:
                self.settlements += 1
            elif role is True:
                self.sends += 1


def _disposition_role(frame: bytes) -> bool | None:
    """The role of an AMQP (type 0) disposition frame (True: receiver), None for other frames."""
    body = frame[frame[4] * 4 :]
    if frame[5] != 0 or len(body) < 3 or body[0] != 0x00:
        return None
    if body[1] == 0x53:
        code, rest = body[2], body[3:]
    elif body[1] == 0x80:
        code, rest = struct.unpack(">Q", body[2:10])[0], body[10:]
    else:
        return None
    if code != _DISPOSITION:
        return None
    # A list: 0xc0 size count, or 0xd0 size(4) count(4); its first field is the role.
    first = rest[3:] if rest[0] == 0xC0 else rest[9:]
    return not (first[0] == _FALSE[0] or tuple(first[:2]) == _FALSE[1])


class Relay:
    """A TCP relay to the broker that gathers the client's writes and counts the answers."""

    def __init__(self, broker_port: int) -> None:
        self.broker_port = broker_port
        self.frames = Frames()
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, client: asyncio.StreamReader, out: asyncio.StreamWriter) -> None:
        upstream, inbound = await asyncio.open_connection("127.0.0.1", self.broker_port)
        pumps = [
            asyncio.create_task(self._gathered(client, inbound)),
            asyncio.create_task(self._counted(upstream, out)),
        ]
        self._tasks.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in (inbound, out):
            writer.close()

    async def _gathered(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await asyncio.sleep(HOLD_SECONDS)
            with contextlib.suppress(TimeoutError):
                while more := await asyncio.wait_for(reader.read(65536), 0.001):
                    data += more
            writer.write(data)
            await writer.drain()

    async def _counted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            self.frames.feed(data)
            writer.write(data)
            await writer.drain()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@pytest.fixture(scope="module")
def broker() -> Iterator[Child]:
    child = start_broker()
    yield child
    child.stop()


@pytest.fixture
async def relay(broker: Child) -> AsyncIterator[tuple[Relay, int]]:
    relay = Relay(broker.port)
    server = await asyncio.start_server(relay.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield relay, port
    finally:
        server.close()
        await relay.close()
        await server.wait_closed()


async def test_settlements_that_arrive_together_are_answered_one_frame_each(
    broker: Child, relay: tuple[Relay, int]
) -> None:
    counting, port = relay
    queue = "settle-together"
    async with (
        ServiceBusClient.from_connection_string(connection_string(broker.port)) as direct,
        direct.get_queue_sender(queue) as sender,
    ):
        await sender.send_messages([ServiceBusMessage(f"m{i}") for i in range(SETTLEMENTS)])

    async with (
        ServiceBusClient.from_connection_string(connection_string(port)) as relayed,
        relayed.get_queue_receiver(queue, prefetch_count=0) as receiver,
    ):
        held = []
        while len(held) < SETTLEMENTS:
            got = await receiver.receive_messages(
                max_message_count=SETTLEMENTS - len(held), max_wait_time=2
            )
            assert got, f"only {len(held)} of {SETTLEMENTS} messages arrived"
            held += got
        before = counting.frames.settlements
        await asyncio.gather(*(receiver.complete_message(message) for message in held))
        answered = counting.frames.settlements - before

        left = await receiver.peek_messages(max_message_count=SETTLEMENTS)

    assert answered == SETTLEMENTS
    assert left == []


async def test_sends_that_arrive_together_are_answered_one_frame_each(
    broker: Child, relay: tuple[Relay, int]
) -> None:
    counting, port = relay
    queue = "send-together"
    async with (
        ServiceBusClient.from_connection_string(connection_string(port)) as relayed,
        relayed.get_queue_sender(queue) as sender,
    ):
        await sender.send_messages(ServiceBusMessage("opens the link"))
        before = counting.frames.sends
        await asyncio.gather(
            *(sender.send_messages(ServiceBusMessage(f"m{i}")) for i in range(SETTLEMENTS))
        )
        answered = counting.frames.sends - before

    async with (
        ServiceBusClient.from_connection_string(connection_string(broker.port)) as direct,
        direct.get_queue_receiver(queue) as receiver,
    ):
        stored = await receiver.peek_messages(max_message_count=2 * SETTLEMENTS)

    assert answered == SETTLEMENTS
    assert len(stored) == SETTLEMENTS + 1
