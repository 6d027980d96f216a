"""The push dispatcher's ``session_per_call`` switch, which only the outage reproductions turn
on: it brings back one TCP connection per notification, and without it the connections are
reused. Against the Notification Hubs simulator in this process; no namespace needed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from local.nhsim import DEV_KEY, DEV_KEY_NAME, Simulator
from shared.platform.clients import Clients
from shared.platform.clock import SystemClock
from shared.push.client import build_dispatcher
from shared.push.models import native_notification
from shared.push.settings import push_hubs
from tests.unit.push.factories import HUBS, push_settings

SENDS = 20


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    started = Simulator({name: {DEV_KEY_NAME: DEV_KEY} for name in HUBS})
    await started.start()
    yield started
    await started.stop()


async def connections_for(simulator: Simulator, *, session_per_call: bool) -> dict[str, int]:
    simulator.reset(state=True)
    settings, values = push_settings(simulator.port)
    clients = Clients(settings)
    dispatcher = build_dispatcher(
        settings,
        push_hubs(values),
        clients.session,
        SystemClock(),
        session_per_call=session_per_call,
    )
    native = native_notification("APNS", "Cashback", "Refund on its way", {})
    try:
        for n in range(SENDS):
            await dispatcher.send(f"{n:064x}", "APNS", native)
    finally:
        await clients.close()
    stats = simulator.stats()
    return {"sends": stats["sends"], "connections": stats["connections"]}


async def test_the_dispatcher_reuses_one_connection_for_sends_one_after_another(
    simulator: Simulator,
) -> None:
    assert await connections_for(simulator, session_per_call=False) == {
        "sends": SENDS,
        "connections": 1,
    }


async def test_session_per_call_opens_a_connection_for_every_send(simulator: Simulator) -> None:
    assert await connections_for(simulator, session_per_call=True) == {
        "sends": SENDS,
        "connections": SENDS,
    }
