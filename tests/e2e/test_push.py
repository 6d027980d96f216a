"""Push end to end through the dev host: HTTP -> the push queue on the broker -> the queue
function -> the Notification Hubs simulator, with the real adapters everywhere."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from azure.servicebus import ServiceBusClient

from local import nhsim
from local.platform import Platform
from local.tokens import issue_token
from shared.push.hubs import HubRouter, installation_id
from shared.push.settings import push_hubs
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for
from tests.servicebus_tools import send
from tests.unit.push.factories import device_token, fiscal_code

LIMIT = 8  # below the host's 16 concurrent queue calls, so the bound matters


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    nhsim.reset(platform.nhsim.port)  # this module is the simulator's only client
    started = start_host(
        platform,
        env={
            **fresh_queues("push"),
            "PUSH_QUEUE": f"push-e2e-{uuid.uuid4().hex[:8]}",
            "PUSH_CONNECTOR_LIMIT": str(LIMIT),
            "PUSH_CONNECTOR_LIMIT_PER_HOST": str(LIMIT),
        },
    )
    try:
        yield started
    finally:
        started.stop()


def bearer(platform: Platform, host: Host, code: str) -> dict[str, str]:
    now = datetime.fromisoformat(
        host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
    )
    token = issue_token(
        platform.keys.private_pem,
        code,
        issuer=host.env["CITIZEN_JWT_ISSUER"],
        audience=host.env["CITIZEN_JWT_AUDIENCE"],
        now=now,
    )
    return {"Authorization": f"Bearer {token}"}


def hub_of(host: Host, code: str) -> str:
    return HubRouter.build(push_hubs(host.env), lambda hub: hub).hub_for(installation_id(code)).name


def installed(platform: Platform, host: Host, code: str) -> Any:
    return nhsim.installation(platform.nhsim.port, hub_of(host, code), installation_id(code))


def sends_to(platform: Platform, host: Host, code: str) -> list[dict[str, Any]]:
    """The sends that reached this citizen's device (an accepted send to nobody is not one)."""
    installation = installation_id(code)
    return [
        s
        for s in nhsim.sends(platform.nhsim.port, hub_of(host, code))
        if s["delivered"] == [installation]
    ]


def delivered_to(platform: Platform, host: Host, code: str) -> int:
    counts = nhsim.delivered(platform.nhsim.port, hub_of(host, code))
    return counts.get(installation_id(code), 0)


def register(
    platform: Platform, host: Host, code: str, platform_name: str, token: str
) -> dict[str, Any]:
    response = host.request(
        "PUT",
        "/api/v1/push/installations",
        headers=bearer(platform, host, code),
        json={"platform": platform_name, "pushChannel": token},
    )
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


def as_sender(host: Host) -> dict[str, str]:
    """The demo sender's key (the local platform seeds the party of role sender)."""
    return {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_SENDER"]}


def queue_is_empty(host: Host) -> bool:
    with (
        ServiceBusClient.from_connection_string(host.env["ServiceBusConnection"]) as client,
        client.get_queue_receiver(host.env["PUSH_QUEUE"]) as receiver,
    ):
        return not receiver.peek_messages(max_message_count=1)


def test_register_notify_and_unregister(platform: Platform, host: Host) -> None:
    ios, android, nobody = fiscal_code(201), fiscal_code(202), fiscal_code(203)
    accepted = register(platform, host, ios, "APNS", device_token(201))
    assert accepted["installationId"] == installation_id(ios)
    register(platform, host, android, "FCMV1", device_token(202))
    assert wait_for(lambda: installed(platform, host, ios))["platform"] == "apns"
    assert wait_for(lambda: installed(platform, host, android))["pushChannel"] == device_token(202)

    response = host.request(
        "POST",
        "/api/v1/push/notifications",
        json={
            "fiscalCodes": [ios, android, nobody],
            "title": "Cashback",
            "body": "Refund on its way",
            "data": {"period": "1"},
        },
        headers=as_sender(host),
    )
    assert response.status_code == 202, response.text
    assert response.json()["recipients"] == 3
    [apple] = wait_for(lambda: sends_to(platform, host, ios))
    [fcm] = wait_for(lambda: sends_to(platform, host, android))
    assert apple["tags"] == "$InstallationId:{" + installation_id(ios) + "}"
    assert (apple["format"], fcm["format"]) == ("apple", "fcmv1")
    assert json.loads(fcm["body"])["message"]["data"] == {"period": "1"}
    wait_for(lambda: queue_is_empty(host))
    assert (delivered_to(platform, host, ios), delivered_to(platform, host, android)) == (1, 1)
    assert delivered_to(platform, host, nobody) == 0

    gone = host.request("DELETE", "/api/v1/push/installations", headers=bearer(platform, host, ios))
    assert gone.status_code == 202
    wait_for(lambda: installed(platform, host, ios) is None)


def test_a_redelivered_put_never_resurrects_a_deleted_device(
    platform: Platform, host: Host
) -> None:
    code = fiscal_code(204)
    accepted = register(platform, host, code, "APNS", device_token(204))
    wait_for(lambda: installed(platform, host, code))
    host.request("DELETE", "/api/v1/push/installations", headers=bearer(platform, host, code))
    wait_for(lambda: installed(platform, host, code) is None)
    stale = {
        "kind": "CreateOrUpdateInstallation",
        **accepted,
        "platform": "APNS",
        "pushChannel": device_token(204),
    }
    send(
        host.env["ServiceBusConnection"],
        host.env["PUSH_QUEUE"],
        stale,
        message_id=f"redelivered-{uuid.uuid4()}",
    )
    wait_for(lambda: queue_is_empty(host))
    assert installed(platform, host, code) is None


def test_notifications_through_the_broker_stay_on_a_few_connections(
    platform: Platform, host: Host
) -> None:
    devices = [fiscal_code(300 + n) for n in range(20)]
    for n, code in enumerate(devices):
        register(platform, host, code, "APNS" if n % 2 else "FCMV1", device_token(300 + n))
    wait_for(lambda: all(installed(platform, host, code) for code in devices), timeout=30)
    recipients = devices + [fiscal_code(400 + n) for n in range(40)]
    for round_ in range(5):
        response = host.request(
            "POST",
            "/api/v1/push/notifications",
            json={
                "fiscalCodes": recipients,
                "title": "Cashback",
                "body": f"round {round_}",
                "notificationId": f"e2e-round-{round_}-{uuid.uuid4().hex[:6]}",
            },
            headers=as_sender(host),
        )
        assert response.status_code == 202
    wait_for(
        lambda: sum(len(sends_to(platform, host, code)) for code in devices) >= 100, timeout=60
    )
    wait_for(lambda: queue_is_empty(host), timeout=30)
    stats = nhsim.stats(platform.nhsim.port)
    assert sum(len(sends_to(platform, host, code)) for code in devices) == 100
    assert [delivered_to(platform, host, code) for code in devices] == [5] * len(devices)
    assert stats["connections"] <= LIMIT
    assert stats["maxInFlight"] <= LIMIT
    failed = host.request(
        "GET", f"/api/ops/failed-work?queue={host.env['PUSH_QUEUE']}", key=ADMIN_KEY
    ).json()["items"]
    assert failed == []


def test_only_a_sender_sends_and_within_its_limits(platform: Platform, host: Host) -> None:
    code = fiscal_code(500)
    register(platform, host, code, "APNS", device_token(500))
    wait_for(lambda: installed(platform, host, code))
    phishing = {"fiscalCode": code, "title": "Your IBAN", "body": "confirm it at https://x.test"}
    url = "/api/v1/push/notifications"
    # the function key, which every party holds, is not enough; nor is another role's key
    assert host.request("POST", url, json=phishing).status_code == 401
    as_ec = {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]}
    assert host.request("POST", url, json=phishing, headers=as_ec).status_code == 403
    assert (
        host.request("POST", url, json=phishing, headers=as_sender(host), key=None).status_code
        == 401
    )
    with_pan = {**phishing, "body": "card 4111 1111 1111 1111 blocked"}
    assert host.request("POST", url, json=with_pan, headers=as_sender(host)).status_code == 422
    wait_for(lambda: queue_is_empty(host))
    assert sends_to(platform, host, code) == []

    sent = host.request("POST", url, json=phishing, headers=as_sender(host))  # DEMOSENDER
    assert sent.status_code == 202, sent.text
    [message] = wait_for(lambda: sends_to(platform, host, code))
    assert json.loads(message["body"])["aps"]["alert"]["body"] == phishing["body"]


def test_a_sender_past_its_limits_gets_429_until_the_next_minute(
    platform: Platform, host: Host
) -> None:
    party = f"SENDER{uuid.uuid4().hex[:6].upper()}"
    registered = host.request(
        "POST",
        "/api/ops/parties",
        key=ADMIN_KEY,
        json={
            "partyId": party,
            "name": "A small public service",
            "role": "sender",
            "sendLimits": {"requestsPerMinute": 100, "recipientsPerMinute": 5},
        },
    )
    assert registered.status_code == 200, registered.text
    issued = host.request("POST", f"/api/ops/parties/{party}/keys", key=ADMIN_KEY, json={})
    headers = {"Ocp-Apim-Subscription-Key": issued.json()["key"]}
    url = "/api/v1/push/notifications"
    now = datetime.fromisoformat(
        host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
    )
    if now.second > 40:  # keep the requests below within one minute of the dev clock
        host.advance_clock(61 - now.second)
    two = {"fiscalCodes": [fiscal_code(600), fiscal_code(601)], "title": "t", "body": "b"}
    answers = [host.request("POST", url, json=two, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]  # 2 + 2, then 2 more is past 5
    refused = answers[-1]
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60
    one = {"fiscalCode": fiscal_code(602), "title": "t", "body": "b"}
    assert host.request("POST", url, json=one, headers=headers).status_code == 202  # 5 of 5
    host.advance_clock(wait)
    assert host.request("POST", url, json=two, headers=headers).status_code == 202
