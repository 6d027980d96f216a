"""Storms: faults injected into 30% of the calls, the queue work run as the host runs it
(redelivery after a raise, rescheduled copies after their time), an injected clock (waits
advance it; nothing really sleeps).

Before acceptance (429 with Retry-After, 503 with a large body, connection reset) every
notification is delivered exactly once or ends as failed work with its reason. After acceptance
(the call is recorded, then the connection reset) every notification is delivered at least once
and the duplicates are counted. Retry-After is honoured, in-flight calls never exceed the bound
and no connection is left out of the pool.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from local.nhsim import Faults, Simulator
from shared.platform.clients import Clients
from shared.platform.clock import FixedClock
from shared.platform.queue_work import Delivery, Policy, Ports, run
from shared.push.client import build_dispatcher
from shared.push.models import CreateOrUpdateInstallation, Notify
from shared.push.service import PushWorker
from shared.push.settings import push_hubs
from tests.fakes.platform import MemoryFailedWork, MemorySender
from tests.fakes.push import MemoryInstallationStates
from tests.unit.push.factories import HUBS, device_token, push_settings

T0 = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)
BOUND = 16
RETRY_AFTER = 3
CONCURRENCY = 200


@dataclass
class Rig:
    simulator: Simulator
    clock: FixedClock
    clients: Clients
    worker: PushWorker
    states: MemoryInstallationStates
    ports: Ports
    sender: MemorySender
    failed: MemoryFailedWork
    waits: list[float]
    port: int

    def acquired(self) -> int:
        """Connections out of the pool (aiohttp's bookkeeping; it has no public counter)."""
        connector = self.clients.session(f"push:127.0.0.1:{self.port}").connector
        assert connector is not None
        return len(connector._acquired)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = FixedClock(T0)
    from local.nhsim import DEV_KEY, DEV_KEY_NAME

    simulator = Simulator({name: {DEV_KEY_NAME: DEV_KEY} for name in HUBS}, clock=clock)
    port = await simulator.start()
    settings, values = push_settings(
        port,
        PUSH_CONNECTOR_LIMIT=str(BOUND),
        PUSH_CONNECTOR_LIMIT_PER_HOST=str(BOUND),
        PUSH_RETRY_ATTEMPTS="2",
        PUSH_RETRY_BASE_SECONDS="0.05",
        PUSH_RETRY_CAP_SECONDS="5",
    )
    clients = Clients(settings)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the injected clock moves; nothing waits
        waits.append(seconds)
        clock.advance(seconds)
        await asyncio.sleep(0)

    dispatcher = build_dispatcher(settings, push_hubs(values), clients.session, clock, sleep=sleep)
    states = MemoryInstallationStates()
    sender, failed = MemorySender(), MemoryFailedWork()
    ports = Ports(
        failed=failed,
        sender=sender,
        clock=clock,
        policy=Policy(max_delivery_count=10, max_attempts=8, base_delay=60, max_delay=3600),
    )
    try:
        yield Rig(
            simulator,
            clock,
            clients,
            PushWorker(dispatcher, states),
            states,
            ports,
            sender,
            failed,
            waits,
            port,
        )
    finally:
        await clients.close()
        await simulator.stop()


def installation(n: int) -> str:
    """A hex-digest id, as a citizen's is: their first digits spread them over both hubs."""
    return hashlib.sha256(f"citizen-{n}".encode()).hexdigest()


async def registered(rig: Rig, count: int) -> None:
    """``count`` devices installed through the worker, as the queue would, before any fault."""
    changes = [
        CreateOrUpdateInstallation(
            installation_id=installation(n),
            accepted_at=T0,
            platform="APNS" if n % 2 else "FCMV1",
            push_channel=device_token(n),
        )
        for n in range(count)
    ]
    for start in range(0, count, CONCURRENCY):
        await asyncio.gather(*(rig.worker.apply(c) for c in changes[start : start + CONCURRENCY]))
    assert rig.simulator.stats()["installations"] == count
    rig.simulator.reset()


def notifications(count: int) -> list[Delivery]:
    found = []
    for n in range(count):
        message = Notify(
            installation_id=installation(n),
            accepted_at=T0,
            tracking_id="storm",
            title="Cashback",
            body="Refund on its way",
            data={"n": str(n)},
        )
        found.append(
            Delivery("push", f"notify-{n}", message.model_dump_json(by_alias=True).encode(), 1)
        )
    return found


async def deliver(rig: Rig, deliveries: list[Delivery]) -> None:
    """Run the work as the host and broker would: a raise is redelivered (delivery count + 1),
    a rescheduled copy is delivered once the clock reaches its time."""
    pending = deque(deliveries)
    copies = 0
    while pending:
        batch = [pending.popleft() for _ in range(min(len(pending), CONCURRENCY))]
        results = await asyncio.gather(
            *(run(d, rig.worker.handle, rig.ports) for d in batch), return_exceptions=True
        )
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                pending.append(replace(item, delivery_count=item.delivery_count + 1))
        for queue, copy in rig.sender.sent[copies:]:
            assert copy.scheduled_at is not None
            rig.clock.set(max(rig.clock.now(), copy.scheduled_at))
            pending.append(Delivery(queue, copy.message_id, copy.body, 1, dict(copy.properties)))
        copies = len(rig.sender.sent)


def delivered(simulator: Simulator) -> Counter[int]:
    """How often each notification reached its device (an accepted send that delivered to
    nobody does not count)."""
    found: Counter[int] = Counter()
    for send in simulator.sends:
        body = json.loads(send.body)
        data = body["message"]["data"] if send.format == "fcmv1" else body
        if send.delivered == [installation(int(data["n"]))]:
            found[int(data["n"])] += 1
    return found


def failed_numbers(rig: Rig) -> dict[int, str]:
    return {
        int(json.loads(base64.b64decode(item.body_b64))["data"]["n"]): item.reason
        for item in rig.failed.items.values()
    }


async def test_faults_before_acceptance_deliver_exactly_once_or_fail_with_a_reason(
    rig: Rig,
) -> None:
    count = 1500
    await registered(rig, count)
    rig.simulator.configure(
        Faults(
            fraction=0.3,
            kinds=("throttle", "unavailable", "reset"),
            retry_after=RETRY_AFTER,
            error_body_bytes=128 * 1024,
            latency_ms=2,
            seed=7,
        )
    )
    # Few deliveries and reschedules allowed, so that some work does end as failed.
    rig.ports = replace(
        rig.ports, policy=replace(rig.ports.policy, max_delivery_count=2, max_attempts=1)
    )
    await deliver(rig, notifications(count))

    sent, failed = delivered(rig.simulator), failed_numbers(rig)
    assert sum(sent.values()) == rig.simulator.stats()["delivered"] == len(rig.simulator.sends)
    assert failed, "the storm should have exhausted some work"
    assert set(sent) | set(failed) == set(range(count))
    assert set(sent) & set(failed) == set()
    assert set(sent.values()) == {1}
    assert all(reason.startswith("send on hub") for reason in failed.values())
    stats = rig.simulator.stats()
    assert stats["duplicates"] == 0
    assert sum(stats["faults"].values()) > 0.25 * count
    # Retry-After is honoured: no call came back early, and every 429 was followed by a wait
    # of exactly Retry-After, or a copy rescheduled that far ahead (or, past the last
    # reschedule, failed work).
    assert stats["earlyRetries"] == 0
    copies = [copy for _, copy in rig.sender.sent]
    assert all(c.scheduled_at is not None for c in copies)
    out_of_reschedules = sum(
        1 for item in rig.failed.items.values() if item.ending == "reschedule-exhausted"
    )
    assert (
        rig.waits.count(float(RETRY_AFTER)) + len(copies) + out_of_reschedules
        == stats["faults"]["throttle"]
    )
    assert all(w < RETRY_AFTER for w in rig.waits if w != RETRY_AFTER)
    # The bound held (and was reached), and every connection went back to the pool.
    assert stats["maxInFlight"] == BOUND
    assert rig.acquired() == 0
    assert stats["open"] <= BOUND


async def test_resets_after_acceptance_deliver_at_least_once_and_count_duplicates(
    rig: Rig, record_property: pytest.RecordProperty
) -> None:
    count = 1000
    await registered(rig, count)
    rig.simulator.configure(Faults(fraction=0.3, kinds=("reset-after",), latency_ms=2, seed=3))
    await deliver(rig, notifications(count))

    sent = delivered(rig.simulator)
    assert set(sent) == set(range(count))
    assert sum(sent.values()) == rig.simulator.stats()["delivered"]
    assert rig.failed.items == {}
    duplicates = rig.simulator.stats()["duplicates"]
    record_property("duplicate_sends", duplicates)
    assert duplicates == sum(n - 1 for n in sent.values())
    assert duplicates > 0.2 * count  # every reset after acceptance became a duplicate
    assert rig.acquired() == 0
    assert rig.simulator.stats()["maxInFlight"] <= BOUND


async def test_the_device_token_is_never_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rig.simulator.configure(
        Faults(
            fraction=0.6, kinds=("throttle", "unavailable", "reset", "error"), retry_after=1, seed=5
        )
    )
    changes = []
    for n in range(40):
        message = CreateOrUpdateInstallation(
            installation_id=installation(n),
            accepted_at=T0,
            platform="APNS",
            push_channel=device_token(n),
        )
        changes.append(
            Delivery("push", f"put-{n}", message.model_dump_json(by_alias=True).encode(), 1)
        )
    rig.ports = replace(rig.ports, policy=replace(rig.ports.policy, max_delivery_count=2))
    await deliver(rig, changes)
    assert rig.simulator.stats()["installations"] > 0
    assert caplog.records, "the faults should have been logged"
    reasons = " ".join(item.reason for item in rig.failed.items.values())
    for n in range(40):
        assert device_token(n) not in caplog.text
        assert device_token(n) not in reasons
