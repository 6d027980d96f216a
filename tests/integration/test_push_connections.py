"""Proof of connection reuse: 10,000 notifications through the push queue function.

The Functions entry point (``push_queue``, with real ``func.ServiceBusMessage`` objects) runs
in this process on the real adapters: installation states in the Cosmos emulator, the hubs on
the Notification Hubs simulator (a separate process, 2 ms of latency). The messages are handed
to the function directly rather than through the local broker, whose throughput would make
10,000 deliveries the slowest part of the suite; the broker path is covered end to end in
tests/e2e/test_push.py. 64 calls run at once, four times the connector limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import Root, use_root
from local.nhsim import DEV_KEY, DEV_KEY_NAME, Faults, start_nhsim, stats
from local.platform import Platform
from local.process import Child
from shared.platform.clients import Clients
from shared.platform.clock import SystemClock
from shared.platform.config import load_settings
from shared.push.models import CreateOrUpdateInstallation, Notify
from shared.push.service import business_id
from tests.app import app
from tests.functions.fakes import trigger
from tests.unit.push.factories import HUBS, device_token, hub_values

LIMIT = 16
INSTALLATIONS = 1_000
NOTIFICATIONS = 10_000
CONCURRENCY = 64
T0 = datetime.now(UTC)


@pytest.fixture(scope="module")
def simulator() -> Iterator[Child]:
    child = start_nhsim(
        {name: {DEV_KEY_NAME: DEV_KEY} for name in HUBS}, faults=Faults(latency_ms=2)
    )
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(scope="module")
def values(platform: Platform, simulator: Child) -> dict[str, str]:
    database = f"push-conn-{uuid.uuid4().hex[:8]}"
    platform.provision(database)
    return {
        **platform.env,
        "COSMOS_DATABASE": database,
        "PUSH_QUEUE": "push-connections",
        "PUSH_CONNECTOR_LIMIT": str(LIMIT),
        "PUSH_CONNECTOR_LIMIT_PER_HOST": str(LIMIT),
        **hub_values(simulator.port),
    }


@pytest.fixture
async def root(values: dict[str, str]) -> AsyncIterator[Root]:
    os.environ.update(values)  # the hubs are read from the environment, as in Azure
    built = Root(Clients(load_settings(values)), SystemClock())
    use_root(built)
    try:
        yield built
    finally:
        use_root(None)
        await built.clients.close()


def installation(n: int) -> str:
    """A hex-digest id, as a citizen's is: their first digits spread them over both hubs."""
    return hashlib.sha256(f"citizen-{n}".encode()).hexdigest()


def message(body: Any, message_id: str) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body.model_dump_json(by_alias=True).encode(),
        message_id=message_id,
        delivery_count=1,
        application_properties={"kind": body.kind},
        user_properties={"kind": body.kind},
    )


async def through_the_function(messages: list[ServiceBusMessage]) -> list[BaseException]:
    function = trigger(app, "push_queue")
    pending = iter(messages)
    failures: list[BaseException] = []

    async def consumer() -> None:
        for item in pending:
            try:
                await function(item)
            except Exception as error:  # the host would abandon it; here it is a failure
                failures.append(error)

    await asyncio.gather(*(consumer() for _ in range(CONCURRENCY)))
    return failures


async def test_10000_notifications_reuse_the_warm_connections(root: Root, simulator: Child) -> None:
    registrations = [
        message(
            CreateOrUpdateInstallation(
                installation_id=installation(n),
                accepted_at=T0,
                platform="APNS" if n % 2 else "FCMV1",
                push_channel=device_token(n),
            ),
            f"put-{n}",
        )
        for n in range(INSTALLATIONS)
    ]
    assert await through_the_function(registrations) == []
    warm = stats(simulator.port)
    assert warm["installations"] == INSTALLATIONS
    assert 0 < warm["connections"] <= LIMIT

    notifications = []
    for n in range(NOTIFICATIONS):
        notify = Notify(
            installation_id=installation(n % INSTALLATIONS),
            accepted_at=T0,
            tracking_id=f"round-{n // INSTALLATIONS}",
            title="Cashback",
            body="Refund on its way",
            data={"n": str(n)},
        )
        notifications.append(
            message(notify, business_id("Notify", notify.tracking_id, notify.installation_id))
        )
    assert await through_the_function(notifications) == []

    after = stats(simulator.port)
    assert after["sends"] == NOTIFICATIONS
    assert after["delivered"] == NOTIFICATIONS  # each to its installation, on its platform
    assert after["duplicates"] == 0
    assert after["connections"] == warm["connections"]  # not one new connection
    assert sum(after["requestsPerConnection"]) == after["requests"]
    assert after["maxInFlight"] <= LIMIT
    assert root.push_dispatcher.namespaces[f"127.0.0.1:{simulator.port}"].max_in_flight == LIMIT
    assert await root.failed_work.list("push-connections", 10) == []
