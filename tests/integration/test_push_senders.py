"""The senders' per-minute usage against the Cosmos emulator: concurrent requests from many
instances never pass the limit together, and every minute is its own record."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from local.platform import Platform
from shared.parties.models import SendLimits
from shared.platform.clients import Clients
from shared.push.senders import CosmosSenderUsage, usage_id

MINUTE = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"senders-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


def usage(clients: Clients) -> CosmosSenderUsage:
    return CosmosSenderUsage(
        clients.container(clients.settings.push_installations_container), timeout=5
    )


async def stored(clients: Clients, sender: str, minute: datetime) -> dict:
    container = clients.container(clients.settings.push_installations_container)
    item_id = usage_id(sender, minute)
    found: dict = await container.read_item(item_id, partition_key=item_id)
    return found


async def test_concurrent_requests_pass_exactly_up_to_the_requests_limit(
    clients: Clients,
) -> None:
    sender = f"s-{uuid.uuid4().hex[:8]}"
    limits = SendLimits(requests_per_minute=20, recipients_per_minute=1_000_000)
    # separate adapters stand for separate instances: only Cosmos is shared
    adapters = [usage(clients) for _ in range(4)]
    taken = await asyncio.gather(
        *(adapters[n % 4].take(sender, MINUTE, recipients=10, limits=limits) for n in range(60))
    )
    assert sum(taken) == 20
    record = await stored(clients, sender, MINUTE)
    assert (record["sender"], record["requests"], record["recipients"]) == (sender, 20, 200)


async def test_recipients_are_limited_across_requests_and_each_minute_starts_afresh(
    clients: Clients,
) -> None:
    sender = f"s-{uuid.uuid4().hex[:8]}"
    limits = SendLimits(requests_per_minute=100, recipients_per_minute=1000)
    store = usage(clients)
    assert await store.take(sender, MINUTE, recipients=600, limits=limits)
    assert not await store.take(sender, MINUTE, recipients=401, limits=limits)
    assert await store.take(sender, MINUTE, recipients=400, limits=limits)
    assert not await store.take(sender, MINUTE, recipients=1, limits=limits)
    later = MINUTE + timedelta(minutes=1)
    assert await store.take(sender, later, recipients=1000, limits=limits)
    assert (await stored(clients, sender, MINUTE))["recipients"] == 1000
    assert (await stored(clients, sender, later))["recipients"] == 1000


async def test_a_request_given_back_frees_its_room(clients: Clients) -> None:
    sender = f"s-{uuid.uuid4().hex[:8]}"
    limits = SendLimits(requests_per_minute=1, recipients_per_minute=10)
    store = usage(clients)
    assert await store.take(sender, MINUTE, recipients=5, limits=limits)
    assert not await store.take(sender, MINUTE, recipients=5, limits=limits)
    await store.give_back(sender, MINUTE, recipients=5)
    assert await store.take(sender, MINUTE, recipients=5, limits=limits)
    record = await stored(clients, sender, MINUTE)
    assert (record["requests"], record["recipients"]) == (1, 5)
