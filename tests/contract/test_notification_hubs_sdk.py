"""Microsoft's Notification Hubs SDK (npm ``@azure/notification-hubs``, driven by
``nh_sdk.mjs``) against the simulator: every call succeeds or fails as the service's
documentation says it would, and the simulator delivers what the service would deliver. Then the
project's client and the SDK, doing the same operations, must send the same requests (method,
path, query, protocol headers and their values, body shape), as the simulator recorded them.

What each answer should be, and where that comes from: docs/notification-hubs.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import nhsim
from local.process import Child
from shared.platform.clients import Clients
from shared.platform.clock import SystemClock
from shared.push.client import build_dispatcher
from shared.push.hubs import hub_digit, installation_id
from shared.push.models import HubInstallation, native_notification
from shared.push.sas import resource_uri, sign
from shared.push.settings import push_hubs
from tests.unit.push.factories import HUBS, device_token, fiscal_code, push_settings

SCRIPT = Path(__file__).with_name("nh_sdk.mjs")
HUB = "hub-a"  # takes installation ids starting 0-7 (tests.unit.push.factories.hub_values)
SEND_ONLY = {"key": "send-only-not-a-secret", "rights": ["Send"]}
LISTEN_ONLY = {"key": "listen-only-not-a-secret", "rights": ["Listen"]}
#: Citizens' installation ids that land on hub-a.
A, B, C, NOBODY = [
    i for i in map(installation_id, map(fiscal_code, range(60))) if hub_digit(i) < "8"
][:4]
APPLE_BODY = {"aps": {"alert": {"title": "Cashback", "body": "Refund on its way"}}}
FCM_BODY = {"message": {"notification": {"title": "Cashback", "body": "Refund on its way"}}}


def tag(installation: str) -> str:
    return "$InstallationId:{" + installation + "}"


@pytest.fixture(scope="module")
def simulator() -> Iterator[Child]:
    rules = {nhsim.DEV_KEY_NAME: nhsim.DEV_KEY, "SendOnly": SEND_ONLY, "ListenOnly": LISTEN_ONLY}
    child = nhsim.start_nhsim({name: rules for name in HUBS})
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture
def port(simulator: Child) -> int:
    nhsim.reset(simulator.port, state=True)
    return simulator.port


def sdk(
    port: int,
    steps: list[dict[str, Any]],
    *,
    rule: str = nhsim.DEV_KEY_NAME,
    key: str = nhsim.DEV_KEY,
    hub: str = HUB,
) -> list[dict[str, Any]]:
    """Run ``steps`` through Microsoft's SDK; one outcome per step."""
    done = subprocess.run(
        ["node", str(SCRIPT), hub],
        input=json.dumps(steps),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NH_CONNECTION": nhsim.connection_string(port, key_name=rule, key=key)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcomes: list[dict[str, Any]] = json.loads(done.stdout)
    assert [o["op"] for o in outcomes] == [s["op"] for s in steps]
    return outcomes


def install(installation: str, platform: str, channel: int, **extra: Any) -> dict[str, Any]:
    return {
        "op": "createOrUpdateInstallation",
        "installation": {
            "installationId": installation,
            "platform": platform,
            "pushChannel": device_token(channel),
            **extra,
        },
    }


def send(platform: str, expression: str | None = None, **extra: Any) -> dict[str, Any]:
    body = APPLE_BODY if platform == "apple" else FCM_BODY
    if expression is None and "deviceHandle" not in extra:
        return {"op": "sendBroadcastNotification", "platform": platform, "body": body}
    step = {"op": "sendNotification", "platform": platform, "body": body, **extra}
    if expression is not None:
        step["tagExpression"] = expression
    return step


def statuses(outcomes: list[dict[str, Any]]) -> list[int | str]:
    return ["ok" if o["ok"] else o["statusCode"] for o in outcomes]


def test_installations_are_managed_as_documented(port: int) -> None:
    outcomes = sdk(
        port,
        [
            install(A, "apns", 1, tags=["city_Rome"]),
            {"op": "getInstallation", "installationId": A},
            {
                "op": "updateInstallation",
                "installationId": A,
                "patches": [
                    {"op": "add", "path": "/tags", "value": "follows_team"},
                    {"op": "replace", "path": "/pushChannel", "value": device_token(2)},
                ],
            },
            {"op": "getInstallation", "installationId": A},
            install(B, "fcmv1", 3),
            {"op": "deleteInstallation", "installationId": A},
            {"op": "deleteInstallation", "installationId": A},  # absent: 204 all the same
            {"op": "getInstallation", "installationId": A},
            {
                "op": "updateInstallation",
                "installationId": A,
                "patches": [{"op": "add", "path": "/tags", "value": "x"}],
            },
        ],
    )
    assert statuses(outcomes) == ["ok"] * 7 + [404, 404]
    first, patched = outcomes[1]["result"], outcomes[3]["result"]
    assert (first["installationId"], first["platform"], first["tags"]) == (A, "apns", ["city_Rome"])
    assert first["pushChannelExpired"] is False  # read-only fields the service adds
    assert patched["tags"] == ["city_Rome", "follows_team"]
    assert patched["pushChannel"] == device_token(2)
    assert nhsim.installation(port, HUB, B)["platform"] == "fcmv1"
    assert nhsim.installation(port, HUB, A) is None


def test_sends_reach_exactly_the_devices_the_service_would_reach(port: int) -> None:
    installed = sdk(
        port,
        [
            install(A, "apns", 1, tags=["city_Rome", "follows_team"]),
            install(B, "fcmv1", 2, tags=["city_Rome"]),
            install(C, "apns", 3, tags=["city_Milan"]),
        ],
    )
    assert statuses(installed) == ["ok"] * 3
    many = [f"t{n}" for n in range(19)]
    steps = [
        send("apple", tag(A)),
        send("fcmv1", tag(B)),
        send("apple", tag(B)),  # B is an Android device: no APNs payload for it
        send("apple", f"$InstallationId:{A}"),  # no braces: accepted, reaches nobody
        send("apple", tag(NOBODY)),  # no such installation: accepted, reaches nobody
        send("apple", "city_Rome && !follows_team"),
        send("fcmv1", "city_Rome && !follows_team"),
        send("apple", "(city_Rome || city_Milan) && !follows_team"),
        send("apple", "city_Rome || city_Milan"),
        send("apple"),  # broadcast: every installation of the platform
        send("apple", deviceHandle=device_token(9)),  # direct: no installation involved
        send("apple", " || ".join(["city_Rome", *many])),  # 20 tags, only ||: the limit
        send("apple", " || ".join(["city_Rome", *many, "t19"])),  # 21 tags
        send("apple", " && ".join(["city_Rome", *many[:5]])),  # 6 tags with &&: the limit
        send("apple", " && ".join(["city_Rome", *many[:6]])),  # 7 tags with &&
        send("apple", "city_Rome &&"),
        send("apple", "(city_Rome"),
        send("apple", "city Rome"),
        send("apple", "city_Rome & follows_team"),
    ]
    outcomes = sdk(port, steps)
    assert statuses(outcomes) == ["ok"] * 12 + [400, "ok", 400, 400, 400, 400, 400]
    assert all(o["result"]["notificationId"] for o in outcomes if o["ok"])
    accepted = nhsim.sends(port, HUB)
    assert [s["delivered"] for s in accepted] == [
        [A],
        [B],
        [],
        [],
        [],
        [],
        [B],
        [C],
        sorted([A, C]),
        sorted([A, C]),
        [device_token(9)],
        [A],
        [],  # 6 tags joined by && and A lacks t0..t4
    ]
    assert nhsim.delivered(port, HUB) == {A: 4, B: 2, C: 3}
    assert nhsim.stats(port)["delivered"] == 10  # and one direct


def test_rules_grant_only_their_rights(port: int) -> None:
    send_only = sdk(
        port,
        [
            install(A, "apns", 1),
            {"op": "getInstallation", "installationId": A},
            {"op": "deleteInstallation", "installationId": A},
            send("apple", tag(A)),
        ],
        rule="SendOnly",
        key=SEND_ONLY["key"],
    )
    assert statuses(send_only) == [401, 401, 401, "ok"]
    listen_only = sdk(
        port,
        [install(A, "apns", 1), send("apple", tag(A))],
        rule="ListenOnly",
        key=LISTEN_ONLY["key"],
    )
    assert statuses(listen_only) == ["ok", 401]
    forged = sdk(port, [send("apple", tag(A))], key="not-the-key")
    assert statuses(forged) == [401]
    assert nhsim.delivered(port, HUB) == {}  # the only send allowed came before the device
    assert nhsim.stats(port)["refused"] == {
        "the rule has no Listen right": 3,
        "the rule has no Send right": 1,
        "bad signature": 1,
    }


def test_the_service_takes_the_sdks_api_version_and_refuses_others(port: int) -> None:
    assert statuses(sdk(port, [install(A, "apns", 1), send("apple", tag(A))])) == ["ok", "ok"]
    recorded = nhsim.requests(port, HUB)
    assert {(r["query"]["api-version"], r["protocol"]["x-ms-version"]) for r in recorded} == {
        ("2020-06", "2020-06")
    }

    def raw_send(query: str) -> int:
        endpoint = f"http://127.0.0.1:{port}/"
        token = sign(
            resource_uri(endpoint, HUB), nhsim.DEV_KEY_NAME, nhsim.DEV_KEY, int(time.time()) + 600
        )
        request = urllib.request.Request(
            f"{endpoint}{HUB}/messages/{query}",
            data=json.dumps(APPLE_BODY).encode(),
            method="POST",
            headers={
                "Authorization": token,
                "Content-Type": "application/json;charset=utf-8",
                "ServiceBusNotification-Format": "apple",
                "ServiceBusNotification-Tags": tag(A),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return error.code

    assert raw_send("") == 400
    assert raw_send("?api-version=2099-01") == 400
    # The management plane's (ARM) version, which the FCM v1 client used to send here.
    assert raw_send("?api-version=2023-10-01-preview") == 400
    assert raw_send("?api-version=2015-01") == 201  # the REST reference's version
    assert nhsim.delivered(port, HUB) == {A: 2}


def python_client_requests(port: int) -> list[dict[str, Any]]:
    """The same operations as :func:`sdk_steps`, through the project's client."""
    import asyncio

    async def run() -> None:
        settings, values = push_settings(port)
        clients = Clients(settings)
        try:
            hubs = build_dispatcher(settings, push_hubs(values), clients.session, SystemClock())
            await hubs.create_or_update(HubInstallation(A, "APNS", device_token(1)))
            assert await hubs.hub_for(A).patch(
                A, [{"op": "replace", "path": "/pushChannel", "value": device_token(2)}]
            )
            await hubs.send(A, "APNS", native_notification("APNS", "Cashback", "Refund", {}))
            await hubs.create_or_update(HubInstallation(B, "FCMV1", device_token(3)))
            await hubs.send(B, "FCMV1", native_notification("FCMV1", "Cashback", "Refund", {}))
            await hubs.delete(A)
        finally:
            await clients.close()

    asyncio.run(run())
    return nhsim.requests(port, HUB)


def sdk_steps() -> list[dict[str, Any]]:
    apple = native_notification("APNS", "Cashback", "Refund", {})
    fcm = native_notification("FCMV1", "Cashback", "Refund", {})
    return [
        install(A, "apns", 1),
        {
            "op": "updateInstallation",
            "installationId": A,
            "patches": [{"op": "replace", "path": "/pushChannel", "value": device_token(2)}],
        },
        {
            "op": "sendNotification",
            "platform": "apple",
            "body": apple.body.decode(),
            "headers": dict(apple.headers),  # APNs headers belong to the notification
            "tagExpression": tag(A),
        },
        install(B, "fcmv1", 3),
        {
            "op": "sendNotification",
            "platform": "fcmv1",
            "body": fcm.body.decode(),
            "tagExpression": tag(B),
        },
        {"op": "deleteInstallation", "installationId": A},
    ]


def shape(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": request["method"],
        "path": request["path"],
        "query": request["query"],
        "protocol": request["protocol"],
        "body": request["body"],
        "status": request["status"],
    }


def test_the_project_client_sends_what_microsofts_sdk_sends(port: int) -> None:
    assert statuses(sdk(port, sdk_steps())) == ["ok"] * 6
    by_sdk = [shape(r) for r in nhsim.requests(port, HUB)]
    sdk_delivered = nhsim.delivered(port, HUB)
    nhsim.reset(port, state=True)
    ours = [shape(r) for r in python_client_requests(port)]
    ours_delivered = nhsim.delivered(port, HUB)

    # The one documented difference: PATCH's media type. The REST reference (and the .NET SDK)
    # send application/json-patch+json, the JavaScript SDK application/json; the service takes
    # both.
    [patch_sdk] = [r for r in by_sdk if r["method"] == "PATCH"]
    [patch_ours] = [r for r in ours if r["method"] == "PATCH"]
    assert patch_sdk["protocol"].pop("content-type") == "application/json"
    assert patch_ours["protocol"].pop("content-type") == "application/json-patch+json"
    assert ours == by_sdk
    assert [r["method"] for r in ours] == ["PUT", "PATCH", "POST", "PUT", "POST", "DELETE"]
    assert ours_delivered == sdk_delivered == {A: 1, B: 1}


def test_a_tag_without_braces_reaches_nobody_and_the_client_writes_the_braces(port: int) -> None:
    outcomes = sdk(port, [install(A, "apns", 1), send("apple", f"$InstallationId:{A}")])
    assert statuses(outcomes) == ["ok", "ok"]  # 201: the service does not say it went nowhere
    assert nhsim.delivered(port, HUB) == {}
    python_client_requests(port)
    [ours] = [s for s in nhsim.sends(port, HUB) if s["format"] == "apple"][1:]
    assert ours["tags"] == tag(A)
    assert ours["delivered"] == [A]
