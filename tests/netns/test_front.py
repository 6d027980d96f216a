"""The front (``local/front.py``): one address and port for the Service Bus broker and the
Notification Hubs simulator, each connection routed by its first bytes and piped unchanged.

No namespace needed: two small servers stand for the two services. The real Service Bus SDK and
the push client go through the front in ``test_app_outage.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from local.front import Front, Upstream

AMQP_SASL_HEADER = b"AMQP\x03\x01\x00\x00"


@dataclass
class Side:
    """A service that reads to the end, then answers its name and what it read, and closes."""

    name: bytes
    port: int = 0
    peers: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.peers.append(writer.get_extra_info("peername")[0])
        received = await reader.read()
        writer.write(self.name + b":" + received)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def sides() -> AsyncIterator[tuple[Side, Side]]:
    broker, hubs = Side(b"broker"), Side(b"hubs")
    await broker.start()
    await hubs.start()
    yield broker, hubs
    await broker.stop()
    await hubs.stop()


async def through(front: Front, sent: bytes) -> bytes:
    """Send ``sent`` through the front, half-close, and read the answer to the end."""
    port = await front.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        return answer
    finally:
        await front.stop()


async def test_an_amqp_header_goes_to_the_broker_with_every_byte(
    sides: tuple[Side, Side],
) -> None:
    broker, hubs = sides
    front = Front(Upstream("127.0.0.1", broker.port), Upstream("127.0.0.1", hubs.port))
    sent = AMQP_SASL_HEADER + b"\x00\x00\x00\x21frames"
    assert await through(front, sent) == b"broker:" + sent
    assert (front.counters.amqp, front.counters.http) == (1, 0)


async def test_http_goes_to_the_hubs(sides: tuple[Side, Side]) -> None:
    broker, hubs = sides
    front = Front(Upstream("127.0.0.1", broker.port), Upstream("127.0.0.1", hubs.port))
    sent = b"POST /hub/messages/?api-version=2020-06 HTTP/1.1\r\nHost: x\r\n\r\n"
    assert await through(front, sent) == b"hubs:" + sent
    assert (front.counters.amqp, front.counters.http) == (0, 1)


async def test_a_connection_that_says_nothing_is_closed_unrouted(
    sides: tuple[Side, Side],
) -> None:
    broker, hubs = sides
    front = Front(Upstream("127.0.0.1", broker.port), Upstream("127.0.0.1", hubs.port))
    assert await through(front, b"AM") == b""
    assert front.counters.unrouted == 1
    assert broker.peers == hubs.peers == []


async def test_when_a_service_is_down_the_client_is_closed(sides: tuple[Side, Side]) -> None:
    broker, _ = sides
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        down = unused.getsockname()[1]  # nothing listens there once the socket is closed
    front = Front(Upstream("127.0.0.1", broker.port), Upstream("127.0.0.1", down))
    assert await through(front, b"GET / HTTP/1.1\r\n\r\n") == b""
    assert front.counters.upstream_failures == {"http": 1}


async def test_the_hop_to_the_services_leaves_from_the_source_address_given(
    sides: tuple[Side, Side],
) -> None:
    broker, hubs = sides
    front = Front(
        Upstream("127.0.0.1", broker.port), Upstream("127.0.0.1", hubs.port), source="127.0.0.2"
    )
    await through(front, b"GET / HTTP/1.1\r\n\r\n")
    assert hubs.peers == ["127.0.0.2"]
