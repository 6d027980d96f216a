"""The Notification Hubs client against the simulator: the REST contract (notifications
delivered, not merely accepted), SAS validation, rights and renewal, and connections kept and
released whatever the answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from local.nhsim import DEV_KEY, DEV_KEY_NAME, Faults, Simulator
from shared.platform.clients import Clients
from shared.platform.clock import FixedClock
from shared.platform.errors import ConfigurationError, PermanentError, TransientError
from shared.push.client import MAX_DRAIN_BYTES, PushDispatcher, build_dispatcher
from shared.push.hubs import hub_digit, installation_id
from shared.push.models import HubInstallation, native_notification
from shared.push.sas import SasTokens, resource_uri
from shared.push.settings import push_hubs
from tests.unit.push.factories import HUBS, device_token, fiscal_code, push_settings

T0 = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)
#: A citizen's installation id on each hub (hub-a takes digits 0-7, hub-b 8-f).
ON_A = next(i for i in map(installation_id, map(fiscal_code, range(99))) if hub_digit(i) < "8")
ON_B = next(i for i in map(installation_id, map(fiscal_code, range(99))) if hub_digit(i) >= "8")
SEND_ONLY = {"key": "send-only-key", "rights": ["Send"]}
LISTEN_ONLY = {"key": "listen-only-key", "rights": ["Listen"]}
APPLE = native_notification("APNS", "Cashback", "Refund on its way", {"period": "1"})


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    rules = {DEV_KEY_NAME: DEV_KEY, "SendOnly": SEND_ONLY, "ListenOnly": LISTEN_ONLY}
    sim = Simulator({name: rules for name in HUBS}, clock=FixedClock(T0))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


class Stack:
    """A dispatcher built as the app builds it, and what it was built with."""

    def __init__(
        self, simulator: Simulator, clock: FixedClock | None = None, **overrides: str
    ) -> None:
        self.settings, self.values = push_settings(simulator.port, **overrides)
        self.clients = Clients(self.settings)
        self.sleeps = Sleeps()
        self.clock = clock or simulator.clock
        self.dispatcher: PushDispatcher = build_dispatcher(
            self.settings,
            push_hubs(self.values),
            self.clients.session,
            self.clock,
            sleep=self.sleeps,
        )

    def acquired(self) -> int:
        """Connections taken from the pool and not given back (aiohttp's own bookkeeping)."""
        connector = self.clients.session(f"push:127.0.0.1:{self.values_port}").connector
        assert connector is not None
        return len(connector._acquired)  # no public counter exists

    @property
    def values_port(self) -> str:
        return self.values["PUSH_HUB_1_CONNECTION"].split(":")[2].split("/")[0]


@pytest.fixture
async def stack(simulator: Simulator) -> AsyncIterator[Stack]:
    built = Stack(simulator)
    try:
        yield built
    finally:
        await built.clients.close()


async def test_installations_land_on_their_own_hub(simulator: Simulator, stack: Stack) -> None:
    await stack.dispatcher.create_or_update(HubInstallation(ON_A, "APNS", device_token(1)))
    await stack.dispatcher.create_or_update(HubInstallation(ON_B, "FCMV1", device_token(2)))
    assert simulator.installations["hub-a"] == {
        ON_A: {"installationId": ON_A, "platform": "apns", "pushChannel": device_token(1)}
    }
    assert set(simulator.installations["hub-b"]) == {ON_B}
    hub = stack.dispatcher.hub_for(ON_A)
    assert await hub.patch(
        ON_A, [{"op": "replace", "path": "/pushChannel", "value": device_token(3)}]
    )
    assert simulator.installations["hub-a"][ON_A]["pushChannel"] == device_token(3)
    await stack.dispatcher.delete(ON_A)
    assert ON_A not in simulator.installations["hub-a"]
    await stack.dispatcher.delete(ON_A)  # 204 again: deleting an absent one is no error
    assert await hub.patch(ON_A, [{"op": "add", "path": "/tags", "value": "x"}]) is False
    assert [r["status"] for r in simulator.requests] == [200, 200, 200, 204, 204, 404]


async def test_sends_are_delivered_to_the_installation_the_tag_names(
    simulator: Simulator, stack: Stack
) -> None:
    await stack.dispatcher.create_or_update(HubInstallation(ON_B, "FCMV1", device_token(2)))
    await stack.dispatcher.create_or_update(HubInstallation(ON_A, "APNS", device_token(1)))
    fcm = native_notification("FCMV1", "Cashback", "Refund", {"period": "1"})
    await stack.dispatcher.send(ON_B, "FCMV1", fcm)
    await stack.dispatcher.send(ON_A, "APNS", APPLE)
    await stack.dispatcher.send(ON_A, "APNS", APPLE)
    assert simulator.delivered["hub-b"] == {ON_B: 1}
    assert simulator.delivered["hub-a"] == {ON_A: 2}
    fcm_send = simulator.sends[0]
    assert (fcm_send.hub, fcm_send.format, fcm_send.delivered) == ("hub-b", "fcmv1", [ON_B])
    assert fcm_send.tags == "$InstallationId:{" + ON_B + "}"
    assert json.loads(fcm_send.body)["message"]["data"] == {"period": "1"}


async def test_a_send_to_nobody_is_accepted_and_delivers_nothing(
    simulator: Simulator, stack: Stack
) -> None:
    await stack.dispatcher.send(ON_A, "APNS", APPLE)  # no installation: still 201
    fcm = native_notification("FCMV1", "Cashback", "Refund", {})
    await stack.dispatcher.create_or_update(HubInstallation(ON_B, "APNS", device_token(2)))
    await stack.dispatcher.send(ON_B, "FCMV1", fcm)  # an iPhone gets no FCM payload
    assert [send.delivered for send in simulator.sends] == [[], []]
    assert simulator.stats()["delivered"] == 0


async def test_the_tag_without_braces_is_accepted_and_reaches_nobody(
    simulator: Simulator, stack: Stack
) -> None:
    """The 2020 bug: ``$InstallationId:<id>`` is a valid expression for the service, which
    answers 201 and delivers to nobody. Only ``$InstallationId:{<id>}`` reaches the device."""
    await stack.dispatcher.create_or_update(HubInstallation(ON_A, "APNS", device_token(1)))
    session = stack.clients.session(f"push:127.0.0.1:{stack.values_port}")
    hub = stack.dispatcher.hub_for(ON_A)
    for tag in (f"$InstallationId:{ON_A}", "$InstallationId:{" + ON_A + "}"):
        async with session.post(
            f"{hub.url}/messages/?api-version=2020-06",
            data=APPLE.body,
            headers={
                "Authorization": hub.tokens.token(),
                "Content-Type": "application/json;charset=utf-8",
                "ServiceBusNotification-Format": "apple",
                "ServiceBusNotification-Tags": tag,
            },
        ) as response:
            assert response.status == 201
            assert response.headers["Location"].startswith(f"{hub.url}/messages/")
    assert [send.delivered for send in simulator.sends] == [[], [ON_A]]


@pytest.mark.parametrize(
    ("rule", "operation", "refusal"),
    [
        ("SendOnly", "install", "the rule has no Listen right"),
        ("SendOnly", "delete", "the rule has no Listen right"),
        ("ListenOnly", "send", "the rule has no Send right"),
    ],
)
async def test_a_rule_without_the_right_is_refused_for_good(
    simulator: Simulator, rule: str, operation: str, refusal: str
) -> None:
    key = SEND_ONLY["key"] if rule == "SendOnly" else LISTEN_ONLY["key"]
    connection = f"Endpoint=http://127.0.0.1:{simulator.port}/;SharedAccessKeyName={rule};"
    limited = Stack(
        simulator,
        PUSH_HUB_1_CONNECTION=connection + f"SharedAccessKey={key}",
        PUSH_RETRY_ATTEMPTS="3",
    )
    calls = {
        "install": lambda: limited.dispatcher.create_or_update(
            HubInstallation(ON_A, "APNS", device_token(1))
        ),
        "delete": lambda: limited.dispatcher.delete(ON_A),
        "send": lambda: limited.dispatcher.send(ON_A, "APNS", APPLE),
    }
    try:
        with pytest.raises(PermanentError, match="HTTP 401"):
            await calls[operation]()
    finally:
        await limited.clients.close()
    assert simulator.stats()["refused"] == {refusal: 1}  # refused once: not retried
    assert simulator.installations["hub-a"] == {}


async def test_one_token_is_reused_until_shortly_before_expiry_then_renewed(
    simulator: Simulator, stack: Stack
) -> None:
    assert isinstance(stack.clock, FixedClock)
    for _ in range(20):
        await stack.dispatcher.send(ON_A, "APNS", APPLE)
    assert simulator.stats()["tokens"] == 1
    ttl, renew = stack.settings.push_sas_ttl_seconds, stack.settings.push_sas_renew_seconds
    stack.clock.advance(ttl - renew - 1)
    await stack.dispatcher.send(ON_A, "APNS", APPLE)
    assert simulator.stats()["tokens"] == 1
    stack.clock.advance(1)
    await stack.dispatcher.send(ON_A, "APNS", APPLE)
    stats = simulator.stats()
    assert stats["tokens"] == 2
    assert stats["refused"] == {}
    assert stack.dispatcher.hub_for(ON_A).tokens.signed == 2


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        (
            {
                "PUSH_HUB_1_CONNECTION": "Endpoint=http://127.0.0.1:{port}/;SharedAccessKeyName="
                f"{DEV_KEY_NAME};SharedAccessKey=forged-key"
            },
            "bad signature",
        ),
        (
            {
                "PUSH_HUB_1_CONNECTION": "Endpoint=http://127.0.0.1:{port}/;SharedAccessKeyName="
                f"SomeoneElse;SharedAccessKey={DEV_KEY}"
            },
            "unknown key name",
        ),
    ],
)
async def test_forged_tokens_are_refused(
    simulator: Simulator, overrides: dict[str, str], reason: str
) -> None:
    forged = Stack(simulator, **{k: v.format(port=simulator.port) for k, v in overrides.items()})
    try:
        with pytest.raises(PermanentError, match="HTTP 401"):
            await forged.dispatcher.send(ON_A, "APNS", APPLE)
    finally:
        await forged.clients.close()
    assert simulator.stats()["refused"] == {reason: 1}
    assert simulator.sends == []


async def test_expired_tokens_are_refused(simulator: Simulator) -> None:
    late = Stack(simulator, clock=FixedClock(datetime(2020, 12, 8, 7, 0, tzinfo=UTC)))
    try:  # its clock is two hours behind: its one-hour token expired an hour ago
        with pytest.raises(PermanentError, match="HTTP 401"):
            await late.dispatcher.send(ON_A, "APNS", APPLE)
    finally:
        await late.clients.close()
    assert simulator.stats()["refused"] == {"expired token": 1}


async def test_a_token_for_another_hub_is_refused(simulator: Simulator, stack: Stack) -> None:
    hub_b = stack.dispatcher.hub_for(ON_B)
    hub_b.tokens = SasTokens(
        resource_uri(f"http://127.0.0.1:{simulator.port}/", "hub-a"),
        DEV_KEY_NAME,
        DEV_KEY,
        clock=stack.clock,
        ttl=3600,
        renew_before=300,
    )
    with pytest.raises(PermanentError, match="HTTP 401"):
        await hub_b.send(ON_B, "APNS", APPLE)
    assert simulator.stats()["refused"] == {"token for another resource": 1}


async def test_a_wrong_hub_path_is_a_configuration_error(simulator: Simulator) -> None:
    wrong = Stack(simulator, PUSH_HUB_1_NAME="no-such-hub")
    try:
        with pytest.raises(ConfigurationError, match="HTTP 404"):
            await wrong.dispatcher.send(ON_A, "APNS", APPLE)
    finally:
        await wrong.clients.close()


async def test_timeouts_are_transient(simulator: Simulator) -> None:
    simulator.configure(Faults(latency_ms=300))
    slow = Stack(simulator, PUSH_TIMEOUT_SECONDS="0.05", PUSH_RETRY_ATTEMPTS="2")
    try:
        with pytest.raises(TransientError, match="no answer"):
            await slow.dispatcher.send(ON_A, "APNS", APPLE)
    finally:
        await slow.clients.close()
    assert len(slow.sleeps.waits) == 1


async def test_large_error_bodies_are_drained_so_the_connection_is_reused(
    simulator: Simulator,
) -> None:
    simulator.configure(Faults(fraction=1.0, kinds=("error",), error_body_bytes=256 * 1024))
    single = Stack(simulator, PUSH_RETRY_ATTEMPTS="1")
    try:
        for _ in range(20):
            with pytest.raises(TransientError, match="HTTP 500"):
                await single.dispatcher.send(ON_A, "APNS", APPLE)
        assert simulator.stats()["connections"] == 1
        assert single.acquired() == 0
        # Past the drain limit the body is not read: that connection is closed, not leaked.
        simulator.configure(
            Faults(fraction=1.0, kinds=("error",), error_body_bytes=3 * MAX_DRAIN_BYTES)
        )
        for _ in range(3):
            with pytest.raises(TransientError, match="HTTP 500"):
                await single.dispatcher.send(ON_A, "APNS", APPLE)
        assert single.acquired() == 0
        simulator.configure(Faults())
        await single.dispatcher.send(ON_A, "APNS", APPLE)
        assert len(simulator.sends) == 1
        assert simulator.sends[0].delivered == []  # accepted: ON_A has no device here
    finally:
        await single.clients.close()
