"""The push triggers called directly (func.HttpRequest, func.ServiceBusMessage) on a root of
in-memory fakes: what HTTP enqueues, and what the queue trigger makes of it."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import use_root
from shared.platform.clock import SystemClock, use_clock
from shared.platform.config import get_settings
from shared.platform.errors import ConfigurationError
from shared.platform.messaging import Outgoing
from shared.push.hubs import installation_id
from shared.push.service import PushRequests, PushWorker
from tests.app import app
from tests.conftest import base_settings
from tests.fakes.push import MemoryInstallationStates, MemorySenderUsage
from tests.functions.fakes import PUBLIC_PEM, FakeRoot, request, trigger
from tests.unit.push.factories import FakeHubs, device_token, fiscal_code

CF = fiscal_code(101)
OTHER = fiscal_code(102)
INSTALLATIONS = "v1/push/installations"
NOTIFICATIONS = "v1/push/notifications"
SENDER_KEY = "inps-sender-key-for-tests"
EC_KEY = "ec-key-for-tests"


class PushRoot(FakeRoot):
    """The fake root with push on in-memory ports (or on the real dispatcher, which reads the
    PUSH_HUB_<n>_* settings on first use)."""

    def __init__(self) -> None:
        super().__init__()
        self.hubs = FakeHubs()
        self.states = MemoryInstallationStates()
        self.usage = MemorySenderUsage()
        self.real_hubs = False

    def push_requests(self) -> PushRequests:
        return PushRequests(self.sender, self.settings.push_queue, self.usage)

    def push_worker(self) -> PushWorker:
        return PushWorker(self.push_dispatcher if self.real_hubs else self.hubs, self.states)

    def citizen(self, cf: str = CF) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(cf)}"}


async def register(root: PushRoot, party: dict[str, Any], key: str) -> None:
    response = await call("register_party", "POST", "ops/parties", body=party)
    assert response.status_code == 200, response.get_body()
    await root.parties().add_key(party["partyId"], key, now=root.clock.now())


SENDER = {
    "partyId": "INPS",
    "name": "INPS (a public service)",
    "role": "sender",
    "sendLimits": {"requestsPerMinute": 3, "recipientsPerMinute": 1500},
}


def as_sender(key: str = SENDER_KEY) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": key}


@pytest.fixture
async def root() -> AsyncIterator[PushRoot]:
    fake = PushRoot()
    use_root(fake)
    use_clock(fake.clock)
    await register(fake, SENDER, SENDER_KEY)
    await register(fake, {"partyId": "77777777777", "name": "EC", "role": "ec"}, EC_KEY)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def call(
    name: str, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    data = b"" if body is None else json.dumps(body).encode()
    response: func.HttpResponse = await trigger(app, name)(
        request(method, path, body=data, headers=headers)
    )
    return response


def as_received(outgoing: Outgoing, delivery_count: int = 1) -> ServiceBusMessage:
    properties = dict(outgoing.properties)
    return ServiceBusMessage(
        body=outgoing.body,
        message_id=outgoing.message_id,
        delivery_count=delivery_count,
        application_properties=properties,
        user_properties=properties,
    )


async def run_queue(root: PushRoot, first: int = 0) -> None:
    """Deliver what was enqueued since ``first`` to the queue trigger."""
    for queue, outgoing in root.sender.sent[first:]:
        assert queue == root.settings.push_queue
        await trigger(app, "push_queue")(as_received(outgoing))


async def test_registering_answers_202_and_the_queue_installs_the_device(root: PushRoot) -> None:
    response = await call(
        "put_push_installation",
        "PUT",
        INSTALLATIONS,
        body={"platform": "FCMV1", "pushChannel": device_token(5)},
        headers=root.citizen(),
    )
    assert response.status_code == 202, response.get_body()
    accepted = json.loads(response.get_body())
    assert accepted == {
        "installationId": installation_id(CF),
        "acceptedAt": root.clock.now().isoformat().replace("+00:00", "Z"),
    }
    [(_, outgoing)] = root.sender.sent
    assert json.loads(outgoing.body)["kind"] == "CreateOrUpdateInstallation"
    await run_queue(root)
    installed = root.hubs.installations[installation_id(CF)]
    assert (installed.platform, installed.push_channel) == ("FCMV1", device_token(5))


async def test_a_notification_is_sent_to_registered_devices_in_their_format(root: PushRoot) -> None:
    await call(
        "put_push_installation",
        "PUT",
        INSTALLATIONS,
        headers=root.citizen(),
        body={"platform": "APNS", "pushChannel": device_token(6)},
    )
    await run_queue(root)
    response = await call(
        "post_push_notifications",
        "POST",
        NOTIFICATIONS,
        body={
            "fiscalCodes": [CF, OTHER],
            "title": "Cashback",
            "body": "Refund on its way",
            "data": {"period": "1"},
        },
        headers=as_sender(),
    )
    assert response.status_code == 202, response.get_body()
    accepted = json.loads(response.get_body())
    assert accepted["recipients"] == 2
    queued = [json.loads(o.body) for _, o in root.sender.sent[1:]]
    assert {m["kind"] for m in queued} == {"Notify"}
    assert {m["trackingId"] for m in queued} == {accepted["trackingId"]}
    await run_queue(root, 1)
    [(installation, platform, native)] = root.hubs.sends  # OTHER has no device
    assert (installation, platform, native.format) == (installation_id(CF), "APNS", "apple")
    assert json.loads(native.body)["period"] == "1"


async def test_deleting_removes_the_device_and_a_redelivered_put_is_skipped(root: PushRoot) -> None:
    await call(
        "put_push_installation",
        "PUT",
        INSTALLATIONS,
        headers=root.citizen(),
        body={"platform": "APNS", "pushChannel": device_token(7)},
    )
    await run_queue(root)
    old_put = root.sender.sent[0][1]
    root.clock.advance(1)
    response = await call(
        "delete_push_installation", "DELETE", INSTALLATIONS, headers=root.citizen()
    )
    assert response.status_code == 202
    await run_queue(root, 1)
    assert installation_id(CF) not in root.hubs.installations
    await trigger(app, "push_queue")(as_received(old_put, delivery_count=2))
    assert installation_id(CF) not in root.hubs.installations


ONE = {"fiscalCode": CF, "title": "t", "body": "b"}


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "auth", "status"),
    [
        (
            "put_push_installation",
            "PUT",
            INSTALLATIONS,
            {"platform": "GCM", "pushChannel": device_token(1)},
            "citizen",
            422,
        ),
        (
            "put_push_installation",
            "PUT",
            INSTALLATIONS,
            {"platform": "APNS", "pushChannel": device_token(1)},
            None,
            401,
        ),
        ("delete_push_installation", "DELETE", INSTALLATIONS, None, None, 401),
        (
            "post_push_notifications",
            "POST",
            NOTIFICATIONS,
            {"fiscalCodes": [fiscal_code(n) for n in range(1001)], "title": "t", "body": "b"},
            "sender",
            422,
        ),
        (
            "post_push_notifications",
            "POST",
            NOTIFICATIONS,
            {"fiscalCode": "RSSMRA85T10A562X", "title": "t", "body": "b"},
            "sender",
            422,
        ),
        (
            "post_push_notifications",
            "POST",
            NOTIFICATIONS,
            {**ONE, "body": "confirm your card 4111 1111 1111 1111 at https://x.test"},
            "sender",
            422,
        ),
        # the function key alone, which every party holds, sends nothing
        ("post_push_notifications", "POST", NOTIFICATIONS, ONE, None, 401),
        ("post_push_notifications", "POST", NOTIFICATIONS, ONE, "unknown", 401),
        # nor does a party that is not a sender
        ("post_push_notifications", "POST", NOTIFICATIONS, ONE, "ec", 403),
    ],
)
async def test_bad_requests_are_problems_and_enqueue_nothing(
    root: PushRoot, name: str, method: str, path: str, body: Any, auth: str | None, status: int
) -> None:
    headers = {
        None: None,
        "citizen": root.citizen(),
        "sender": as_sender(),
        "ec": as_sender(EC_KEY),
        "unknown": as_sender("not-a-key"),
    }[auth]
    response = await call(name, method, path, body=body, headers=headers)
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    assert "RSSMRA85T10A562X" not in response.get_body().decode()
    assert "4111" not in response.get_body().decode()
    assert root.sender.sent == []


async def test_a_sender_is_recorded_and_held_to_its_limits(root: PushRoot) -> None:
    root.clock.advance(30)
    for _ in range(3):
        sent = await call(
            "post_push_notifications", "POST", NOTIFICATIONS, body=ONE, headers=as_sender()
        )
        assert sent.status_code == 202, sent.get_body()
    assert {json.loads(o.body)["sender"] for _, o in root.sender.sent} == {"INPS"}
    refused = await call(
        "post_push_notifications", "POST", NOTIFICATIONS, body=ONE, headers=as_sender()
    )
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.headers["Retry-After"] == "30"  # the fake clock is at 09:30:30
    assert json.loads(refused.get_body())["status"] == 429
    assert len(root.sender.sent) == 3
    root.clock.advance(30)
    again = await call(
        "post_push_notifications", "POST", NOTIFICATIONS, body=ONE, headers=as_sender()
    )
    assert again.status_code == 202


async def test_a_sender_must_be_registered_with_bounded_limits(root: PushRoot) -> None:
    for limits in (
        None,
        {"requestsPerMinute": True, "recipientsPerMinute": 10},
        {"requestsPerMinute": "5", "recipientsPerMinute": 10},
        {"requestsPerMinute": 0, "recipientsPerMinute": 10},
        {"requestsPerMinute": 5, "recipientsPerMinute": 10**12},
    ):
        party = {**SENDER, "partyId": "X", "sendLimits": limits}
        response = await call("register_party", "POST", "ops/parties", body=party)
        assert response.status_code == 422, (limits, response.get_body())
    ec_with_limits = {
        "partyId": "77777777777",
        "name": "EC",
        "role": "ec",
        "sendLimits": SENDER["sendLimits"],
    }
    response = await call("register_party", "POST", "ops/parties", body=ec_with_limits)
    assert response.status_code == 422


async def test_1000_recipients_are_enqueued_in_one_call(root: PushRoot) -> None:
    codes = [fiscal_code(n) for n in range(1000)]
    response = await call(
        "post_push_notifications",
        "POST",
        NOTIFICATIONS,
        body={"fiscalCodes": codes, "title": "t", "body": "b", "notificationId": "period-1"},
        headers=as_sender(),
    )
    assert response.status_code == 202
    assert len({o.message_id for _, o in root.sender.sent}) == 1000


@pytest.fixture
def bad_hubs() -> Iterator[None]:
    """Settings in the environment, with PUSH_HUB_2 overlapping PUSH_HUB_1 on digit 7."""
    os.environ.update(
        {**base_settings(), "CITIZEN_JWT_PUBLIC_KEY": PUBLIC_PEM, "PUSH_HUB_2_DIGITS": "7-f"}
    )
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_bad_hub_digits_fail_push_work_on_first_use_and_health_reports_them(
    root: PushRoot, bad_hubs: None
) -> None:
    health = await call("health", "GET", "health")
    assert health.status_code == 503
    check = json.loads(health.get_body())["checks"]["configuration"]
    assert not check["ok"]
    assert "digit(s) 7 taken by PUSH_HUB_1 and PUSH_HUB_2" in check["detail"]

    root.real_hubs = True
    await call(
        "post_push_notifications",
        "POST",
        NOTIFICATIONS,
        body={"fiscalCode": CF, "title": "t", "body": "b"},
        headers=as_sender(),
    )
    assert root.sender.sent, "HTTP still accepts: the work waits in the queue"
    [(_, notify)] = root.sender.sent
    with pytest.raises(ConfigurationError, match="push hub settings are not valid"):
        await trigger(app, "push_queue")(as_received(notify))
    last = root.settings.max_delivery_count
    await trigger(app, "push_queue")(as_received(notify, delivery_count=last))
    [failed] = root.failed_work.items.values()
    assert failed.ending == "transient-exhausted"
    assert "digit(s) 7 taken by PUSH_HUB_1 and PUSH_HUB_2" in failed.reason
