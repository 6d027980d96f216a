"""The shared sender against the broker: many concurrent callers, every message once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from local.platform import Platform
from shared.platform.clients import Clients
from shared.platform.messaging import Outgoing, ServiceBusSender
from tests.servicebus_tools import receive


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"sender-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


async def test_concurrent_callers_share_the_sender_and_each_message_arrives_once(
    platform: Platform, clients: Clients
) -> None:
    queue = f"sender-{uuid.uuid4().hex[:8]}"
    sender = ServiceBusSender(clients)
    ids = [str(uuid.uuid4()) for _ in range(96)]
    await asyncio.gather(
        *(sender.send(queue, [Outgoing.json(i, {"id": i})]) for i in ids[:64]),
        sender.send(queue, [Outgoing.json(i, {"id": i}) for i in ids[64:]]),
    )
    await sender.send(queue, [Outgoing.json(ids[0], {"id": ids[0]})])  # a re-send: dropped
    received = await asyncio.to_thread(
        receive, clients.settings.servicebus_connection or "", queue, 200, timeout=5
    )
    assert sorted(m["message_id"] for m in received) == sorted(ids)
