"""The client's retry classification and waits, with scripted answers (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.platform.clock import FixedClock
from shared.platform.errors import (
    ConfigurationError,
    PermanentError,
    RescheduleLater,
    TransientError,
)
from shared.push.client import Answer, HubClient, Namespace, RetryPolicy, classify
from shared.push.models import HubInstallation, native_notification
from shared.push.sas import SasTokens
from tests.unit.push.factories import device_token

NOW = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)
IID = "b" * 64


class ScriptedNamespace(Namespace):
    """Answers from a script instead of the network; records what was asked."""

    def __init__(self, *answers: Answer) -> None:
        super().__init__("scripted", lambda: None, 4)  # type: ignore[arg-type, return-value]
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, str], bytes | None]] = []

    async def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> Answer:
        self.requests.append((method, url, dict(headers), body))
        return self.answers.pop(0)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(
    namespace: Namespace, sleeps: Sleeps, *, attempts: int = 3, max_delay: float = 5.0
) -> HubClient:
    clock = FixedClock(NOW)
    tokens = SasTokens("http://sim/hub", "k", "key", clock=clock, ttl=3600, renew_before=60)
    return HubClient(
        "hub",
        "http://sim/",
        namespace,
        tokens,
        policy=RetryPolicy(attempts, 0.2, max_delay),
        clock=clock,
        sleep=sleeps,
        jitter=lambda: 1.0,
    )


APPLE = native_notification("APNS", "t", "b", {})


@pytest.mark.parametrize(
    ("operation", "status", "retry_after", "outcome"),
    [
        ("send", 201, None, "ok"),
        ("install", 200, None, "ok"),
        ("delete", 204, None, "ok"),
        ("send", 429, "2", "transient"),
        ("send", 429, None, "transient"),
        ("send", 403, "2", "transient"),
        ("send", 403, None, "permanent"),
        ("send", 408, None, "transient"),
        ("send", 500, None, "transient"),
        ("send", 502, None, "transient"),
        ("send", 503, None, "transient"),
        ("send", 504, None, "transient"),
        ("send", 0, None, "transient"),
        ("send", 400, None, "permanent"),
        ("send", 401, None, "permanent"),
        ("send", 413, None, "permanent"),
        ("send", 404, None, "misconfigured"),
        ("install", 404, None, "misconfigured"),
        ("delete", 404, None, "misconfigured"),  # an absent installation is a 204
        ("patch", 404, None, "gone"),
    ],
)
def test_classification(operation: str, status: int, retry_after: str | None, outcome: str) -> None:
    assert classify(operation, Answer(status, retry_after)) == outcome  # type: ignore[arg-type]


async def test_retry_after_is_honoured_then_the_send_succeeds() -> None:
    namespace, sleeps = ScriptedNamespace(Answer(429, "2"), Answer(403, "3"), Answer(201)), Sleeps()
    await client(namespace, sleeps).send(IID, "APNS", APPLE)
    assert sleeps.waits == [2.0, 3.0]
    assert len(namespace.requests) == 3


async def test_an_http_date_retry_after_counts_from_the_clock() -> None:
    when = format_datetime(NOW + timedelta(seconds=4), usegmt=True)
    namespace, sleeps = ScriptedNamespace(Answer(503, when), Answer(201)), Sleeps()
    await client(namespace, sleeps).send(IID, "APNS", APPLE)
    assert sleeps.waits == [4.0]


async def test_backoff_grows_and_the_last_failure_is_transient() -> None:
    namespace = ScriptedNamespace(Answer(503), Answer(0, None, "ClientOSError: reset"), Answer(502))
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 502"):
        await client(namespace, sleeps).send(IID, "APNS", APPLE)
    assert sleeps.waits == [0.2, 0.4]  # jitter 1.0: the full backoff
    assert len(namespace.requests) == 3


async def test_a_retry_after_longer_than_the_cap_reschedules_without_waiting() -> None:
    namespace, sleeps = ScriptedNamespace(Answer(429, "30")), Sleeps()
    with pytest.raises(RescheduleLater) as caught:
        await client(namespace, sleeps).send(IID, "APNS", APPLE)
    assert caught.value.delay_seconds == 30
    assert sleeps.waits == []


async def test_throttled_to_the_last_attempt_reschedules_after_retry_after() -> None:
    namespace, sleeps = ScriptedNamespace(Answer(429, "1"), Answer(429, "1")), Sleeps()
    with pytest.raises(RescheduleLater) as caught:
        await client(namespace, sleeps, attempts=2).send(IID, "APNS", APPLE)
    assert caught.value.delay_seconds == 1
    assert sleeps.waits == [1.0]


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_refusals_are_permanent_at_once(status: int) -> None:
    namespace, sleeps = ScriptedNamespace(Answer(status, None, "<Error>no</Error>")), Sleeps()
    with pytest.raises(PermanentError, match=f"HTTP {status}"):
        await client(namespace, sleeps).send(IID, "APNS", APPLE)
    assert len(namespace.requests) == 1


async def test_a_404_on_send_is_a_configuration_error() -> None:
    namespace = ScriptedNamespace(Answer(404, None, "no such hub"))
    with pytest.raises(ConfigurationError, match="HTTP 404"):
        await client(namespace, Sleeps()).send(IID, "APNS", APPLE)


async def test_a_404_on_patch_means_gone() -> None:
    namespace = ScriptedNamespace(Answer(404), Answer(200))
    hub = client(namespace, Sleeps())
    assert await hub.patch(IID, [{"op": "replace", "path": "/pushChannel", "value": "x"}]) is False
    assert await hub.patch(IID, [{"op": "add", "path": "/tags", "value": "x"}]) is True


async def test_a_404_on_delete_is_a_wrong_hub_path_not_a_missing_installation() -> None:
    namespace = ScriptedNamespace(Answer(204), Answer(404, None, "no such hub"))
    hub = client(namespace, Sleeps())
    await hub.delete(IID)  # 204 whether or not the installation was there
    with pytest.raises(ConfigurationError, match="HTTP 404"):
        await hub.delete(IID)


async def test_the_device_token_never_reaches_an_error_reason() -> None:
    token = device_token(77)
    echo = f"<Error>pushChannel {token} is not a valid APNs token</Error>"
    namespace = ScriptedNamespace(Answer(400, None, echo))
    with pytest.raises(PermanentError) as caught:
        await client(namespace, Sleeps()).create_or_update(HubInstallation(IID, "APNS", token))
    assert token not in caught.value.reason
    assert "<device token>" in caught.value.reason


async def test_requests_carry_the_rest_contract() -> None:
    namespace = ScriptedNamespace(Answer(200), Answer(200), Answer(201), Answer(201), Answer(204))
    hub = client(namespace, Sleeps())
    await hub.create_or_update(HubInstallation(IID, "FCMV1", device_token(1)))
    await hub.patch(IID, [{"op": "replace", "path": "/pushChannel", "value": device_token(2)}])
    await hub.send(IID, "FCMV1", native_notification("FCMV1", "t", "b", {}))
    await hub.send(IID, "APNS", APPLE)
    await hub.delete(IID)
    put, patch, fcm, apple, delete = namespace.requests
    assert [(r[0], r[1]) for r in namespace.requests] == [
        ("PUT", f"http://sim/hub/installations/{IID}?api-version=2020-06"),
        ("PATCH", f"http://sim/hub/installations/{IID}?api-version=2020-06"),
        ("POST", "http://sim/hub/messages/?api-version=2020-06"),
        ("POST", "http://sim/hub/messages/?api-version=2020-06"),
        ("DELETE", f"http://sim/hub/installations/{IID}?api-version=2020-06"),
    ]
    assert all(r[2]["x-ms-version"] == "2020-06" for r in namespace.requests)
    assert put[2]["Content-Type"] == "application/json"
    assert patch[2]["Content-Type"] == "application/json-patch+json"
    assert fcm[2]["Content-Type"] == apple[2]["Content-Type"] == "application/json;charset=utf-8"
    assert "Content-Type" not in delete[2]
    assert fcm[2]["ServiceBusNotification-Format"] == "fcmv1"
    assert apple[2]["ServiceBusNotification-Format"] == "apple"
    assert apple[2]["ServiceBusNotification-Tags"] == "$InstallationId:{" + IID + "}"
    assert fcm[2]["ServiceBusNotification-Tags"] == "$InstallationId:{" + IID + "}"
    assert len({r[2]["Authorization"] for r in namespace.requests}) == 1
