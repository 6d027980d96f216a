"""The wallet end to end: the dev host, the PSP simulator (its hosted page and its test API),
the Cosmos emulator and the broker, with the wallet's events read from their queue."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from azure.cosmos import CosmosClient

from local.platform import Platform
from local.tokens import generate_key_pair, issue_token
from shared.auth.signature import sign
from tests.app import app
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for
from tests.functions.fakes import consumers_of
from tests.servicebus_tools import receive

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501U"
PAN = "4242424242424242"
INSTRUMENTS = "/api/v1/wallet/instruments"
NOTIFICATIONS = "/api/v1/wallet/psp/notifications"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    queue = f"wallet-events-{uuid.uuid4().hex[:8]}"
    env = {**fresh_queues("wallet"), "WALLET_EVENTS_QUEUE": queue}
    env.update(
        {
            f"AzureWebJobs.{name}.Disabled": "true"
            for name in consumers_of(app, "WALLET_EVENTS_QUEUE")
        }
    )
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def psp(platform: Platform) -> str:
    return platform.env["WALLET_PSP_BASE_URL"]


def dev_now(host: Host) -> datetime:
    return datetime.fromisoformat(
        host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
    )


def citizen(platform: Platform, host: Host, cf: str = CF, **kwargs: Any) -> dict[str, str]:
    token = issue_token(
        kwargs.pop("private_pem", platform.keys.private_pem),
        cf,
        issuer=host.env["CITIZEN_JWT_ISSUER"],
        audience=host.env["CITIZEN_JWT_AUDIENCE"],
        now=kwargs.pop("now", None) or dev_now(host),
    )
    return {"Authorization": f"Bearer {token}"}


def start(platform: Platform, host: Host, cf: str = CF, type_: str = "CARD") -> dict[str, Any]:
    response = host.request(
        "POST",
        INSTRUMENTS,
        json={"type": type_, "applications": ["PAGOPA"]},
        headers=citizen(platform, host, cf),
    )
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def session_id(started: dict[str, Any]) -> str:
    return urlsplit(started["redirectUrl"]).path.rsplit("/", 1)[-1]


def complete(psp: str, started: dict[str, Any], **body: Any) -> dict[str, Any]:
    body.setdefault("outcome", "OK")
    response = requests.post(
        f"{psp}/test/sessions/{session_id(started)}/complete", json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def card(host: Host, pan: str = PAN) -> dict[str, Any]:
    year = dev_now(host).year + 3
    return {"pan": pan, "expiryMonth": 12, "expiryYear": year, "threeDsCode": "123456"}


def instrument(platform: Platform, host: Host, wallet_id: str, cf: str = CF) -> dict[str, Any]:
    response = host.request(
        "GET", f"{INSTRUMENTS}/{wallet_id}", headers=citizen(platform, host, cf)
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def assert_problem(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# ------------------------------------------------------------------ onboarding
def test_the_whole_onboarding_on_the_psp_hosted_page(
    platform: Platform, host: Host, psp: str
) -> None:
    started = start(platform, host)
    assert started["status"] == "CREATED"
    assert started["redirectUrl"].startswith(psp + "/onboarding/")
    with requests.Session() as browser:
        page = browser.get(started["redirectUrl"], timeout=10)
        assert page.status_code == 200
        assert 'name="pan"' in page.text or "name=pan" in page.text
        wait_for(
            lambda: (
                instrument(platform, host, started["walletId"])["status"] == "VALIDATION_REQUESTED"
            )
        )
        form = {**card(host), "action": "pay"}
        refused = browser.post(
            started["redirectUrl"], data={**form, "pan": "4242424242424241"}, timeout=10
        )
        assert refused.status_code == 400
        assert "not valid" in refused.text
        done = browser.post(started["redirectUrl"], data=form, timeout=30)
        assert done.status_code == 200
        assert "<strong id=outcome>OK</strong>" in done.text
    shown = instrument(platform, host, started["walletId"])
    assert shown["status"] == "VALIDATED"
    assert shown["details"] == {
        "brand": "VISA",
        "last4": "4242",
        "expiryMonth": 12,
        "expiryYear": dev_now(host).year + 3,
    }
    assert shown["applications"] == [{"name": "PAGOPA", "status": "ENABLED"}]
    listed = host.request("GET", INSTRUMENTS, headers=citizen(platform, host)).json()
    assert started["walletId"] in [i["walletId"] for i in listed["instruments"]]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"threeDsCode": "000000"}, "KO: strong customer authentication failed"),
        ({"outcome": "CANCELED", "reason": "changed my mind"}, "CANCELED: changed my mind"),
    ],
)
def test_failed_onboardings_end_in_error_with_the_reason(
    platform: Platform, host: Host, psp: str, body: dict[str, Any], reason: str
) -> None:
    started = start(platform, host, OTHER_CF)
    result = complete(psp, started, **{**card(host), **body})
    assert result["walletStatus"] == 200
    shown = instrument(platform, host, started["walletId"], OTHER_CF)
    assert (shown["status"], shown["errorReason"]) == ("ERROR", reason)


def test_a_session_lapses_after_30_minutes_of_the_dev_clock(
    platform: Platform, host: Host, psp: str
) -> None:
    started = start(platform, host, OTHER_CF)
    host.advance_clock(30 * 60 + 1)
    shown = instrument(platform, host, started["walletId"], OTHER_CF)
    assert (shown["status"], shown["errorReason"]) == ("ERROR", "SESSION_EXPIRED")
    result = complete(psp, started, **card(host))
    assert result["walletStatus"] == 409  # too late: refused, and nothing changed
    assert instrument(platform, host, started["walletId"], OTHER_CF)["status"] == "ERROR"


# ------------------------------------------------------------------ events
def test_the_wallet_events_reach_their_queue(platform: Platform, host: Host, psp: str) -> None:
    cf = "BNCLRA90M41F205Z"
    pan = "5555555555554444"
    first = start(platform, host, cf)
    complete(psp, first, **card(host, pan))
    headers = citizen(platform, host, cf)
    off = host.request(
        "PUT",
        f"{INSTRUMENTS}/{first['walletId']}/applications",
        json={"applications": [{"name": "PAGOPA", "status": "DISABLED"}]},
        headers=headers,
    )
    assert off.status_code == 200, off.text
    second = start(platform, host, cf)
    complete(psp, second, **card(host, pan))  # the same card again replaces the first
    assert instrument(platform, host, first["walletId"], cf)["status"] == "REPLACED"
    assert (
        host.request("DELETE", f"{INSTRUMENTS}/{second['walletId']}", headers=headers).status_code
        == 204
    )
    events = events_of(host, cf, 4)
    by_type = {e["body"]["type"]: e["body"]["data"] for e in events}
    assert set(by_type) == {
        "InstrumentValidated",
        "ApplicationChanged",
        "InstrumentReplaced",
        "InstrumentDeleted",
    }
    hpan = hashlib.sha256((pan + host.env["DEV_HPAN_SALT"]).encode()).hexdigest()
    citizen_id = hashlib.sha256(cf.encode()).hexdigest()
    assert all(
        d["hpan"] == hpan and d["citizenId"] == citizen_id and d["fiscalCode"] == cf
        for d in by_type.values()
    )
    assert (
        by_type["InstrumentReplaced"]["oldWalletId"],
        by_type["InstrumentReplaced"]["newWalletId"],
    ) == (first["walletId"], second["walletId"])
    assert by_type["InstrumentReplaced"]["applications"] == {"PAGOPA": "DISABLED"}
    assert by_type["InstrumentDeleted"]["walletId"] == second["walletId"]
    assert all(e["message_id"] == e["body"]["id"] for e in events)
    # The requests left their outboxes to the sweep: it re-sends, the broker drops the copies
    # by message id, and the outboxes end empty.
    wallet = _wallet_container(platform, host)
    assert _full_outboxes(wallet, cf) > 0
    host.advance_clock(60)
    assert host.request("POST", "/admin/functions/sweep_outboxes", key=ADMIN_KEY).status_code == 202
    wait_for(lambda: _full_outboxes(wallet, cf) == 0, timeout=20)
    again = receive(
        host.env["ServiceBusConnection"], host.env["WALLET_EVENTS_QUEUE"], 10, timeout=2
    )
    assert [e for e in again if e["body"]["data"].get("fiscalCode") == cf] == []


def _wallet_container(platform: Platform, host: Host) -> Any:
    settings = platform.settings(COSMOS_DATABASE=host.env["COSMOS_DATABASE"])
    client = CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key or "")
    return client.get_database_client(settings.cosmos_database).get_container_client(
        settings.wallet_container
    )


def _full_outboxes(container: Any, cf: str) -> int:
    return sum(
        1
        for d in container.query_items(
            "SELECT * FROM c WHERE c.fiscalCode = @cf",
            parameters=[{"name": "@cf", "value": cf}],
            partition_key=hashlib.sha256(cf.encode()).hexdigest(),
        )
        if d.get("outbox")
    )


def events_of(host: Host, cf: str, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events about ``cf`` (other tests' events on the queue are skipped)."""
    found: list[dict[str, Any]] = []

    def more() -> bool:
        for event in receive(
            host.env["ServiceBusConnection"], host.env["WALLET_EVENTS_QUEUE"], 10, timeout=1
        ):
            if event["body"]["data"].get("fiscalCode") == cf:
                found.append(event)
        return len(found) >= count

    wait_for(more, timeout=20)
    return found


# ------------------------------------------------------------------ citizens' rules
def test_delete_is_204_twice_and_404_for_someone_elses(
    platform: Platform, host: Host, psp: str
) -> None:
    started = start(platform, host)
    complete(psp, started, **card(host, "4000056655665556"))
    path = f"{INSTRUMENTS}/{started['walletId']}"
    stranger = citizen(platform, host, OTHER_CF)
    for method in ("GET", "DELETE"):
        assert_problem(host.request(method, path, headers=stranger), 404)
    assert_problem(
        host.request(
            "PUT",
            f"{path}/applications",
            headers=stranger,
            json={"applications": [{"name": "PAGOPA", "status": "DISABLED"}]},
        ),
        404,
    )
    mine = citizen(platform, host)
    assert host.request("DELETE", path, headers=mine).status_code == 204
    assert host.request("DELETE", path, headers=mine).status_code == 204
    assert instrument(platform, host, started["walletId"])["status"] == "DELETED"
    unknown = f"{INSTRUMENTS}/{uuid.uuid4()}"
    assert_problem(host.request("DELETE", unknown, headers=mine), 404)
    assert_problem(host.request("GET", f"{INSTRUMENTS}/not%20an%20id", headers=mine), 404)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"[]", 422),
        (b'"CARD"', 422),
        (b"{}", 422),
        (b'{"type": "CASH"}', 422),
        (b'{"type": 1}', 422),
        (b'{"type": "CARD", "applications": ["CASHBACK"]}', 422),
        (b'{"type": "CARD", "applications": "PAGOPA"}', 422),
        (b'{"type": "CARD", "pan": "4242424242424242"}', 422),
    ],
)
def test_bad_onboarding_bodies_are_clear_problems(
    platform: Platform, host: Host, raw: bytes, status: int
) -> None:
    response = host.request(
        "POST",
        INSTRUMENTS,
        data=raw,
        headers={**citizen(platform, host), "Content-Type": "application/json"},
    )
    body = assert_problem(response, status)
    assert "4242424242424242" not in response.text
    if b"pan" in raw:
        assert ["pan"] in [e["loc"] for e in body["errors"]]


def _token_with_sub(platform: Platform, host: Host, sub: str) -> str:
    now = int(dev_now(host).timestamp())
    claims = {
        "iss": host.env["CITIZEN_JWT_ISSUER"],
        "aud": host.env["CITIZEN_JWT_AUDIENCE"],
        "sub": sub,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode(claims, platform.keys.private_pem, algorithm="RS256")


def test_bad_credentials_are_401(platform: Platform, host: Host) -> None:
    now = dev_now(host)
    bad = [
        {},
        {"Authorization": "Bearer"},
        citizen(platform, host, now=now - timedelta(hours=3)),
        citizen(platform, host, private_pem=generate_key_pair()[0]),
        {"Authorization": f"Bearer {_token_with_sub(platform, host, 'RSSMRA85T10A562X')}"},
        {"Authorization": f"Bearer {_token_with_sub(platform, host, 'not a code')}"},
    ]
    for headers in bad:
        assert_problem(host.request("GET", INSTRUMENTS, headers=headers), 401)
        assert_problem(
            host.request("POST", INSTRUMENTS, json={"type": "CARD"}, headers=headers), 401
        )
    good = citizen(platform, host)
    for key in (None, "wrong"):
        assert host.request("GET", INSTRUMENTS, headers=good, key=key).status_code == 401
        assert host.request("POST", NOTIFICATIONS, json={}, key=key).status_code == 401


def _notify(
    host: Host,
    body: dict[str, Any],
    *,
    secret: str | None = None,
    at: datetime | None = None,
    raw: bytes | None = None,
    header: str | None = None,
) -> requests.Response:
    raw = raw if raw is not None else json.dumps(body).encode()
    secret = secret or json.loads(host.env["LOCAL_SECRETS"])["psp-demo-signing"]
    if header is None:
        header = sign(secret, raw, int((at or dev_now(host)).timestamp()))
    return host.request(
        "POST",
        NOTIFICATIONS,
        data=raw,
        headers={"Content-Type": "application/json", "x-signature": header},
    )


def test_forged_replayed_and_unknown_psp_notifications_are_refused(
    platform: Platform, host: Host, psp: str
) -> None:
    started = start(platform, host)
    body = {
        "walletId": started["walletId"],
        "sessionId": session_id(started),
        "outcome": "KO",
        "details": {"reason": "declined"},
    }
    assert_problem(_notify(host, body, secret="forged"), 401)
    assert_problem(_notify(host, body, at=dev_now(host) - timedelta(minutes=10)), 401)
    assert_problem(_notify(host, body, header=""), 401)
    assert_problem(_notify(host, body, header="t=1,v1=zz"), 401)
    raw = json.dumps(body).encode()
    header = sign(
        json.loads(host.env["LOCAL_SECRETS"])["psp-demo-signing"],
        raw,
        int(dev_now(host).timestamp()),
    )
    accepted = _notify(host, body, raw=raw, header=header)
    assert accepted.status_code == 200, accepted.text
    assert_problem(_notify(host, body, raw=raw, header=header), 401)  # replayed
    retried = _notify(host, body, at=dev_now(host) + timedelta(seconds=2))
    assert retried.status_code == 200  # the PSP retried, signing afresh
    different = {**body, "outcome": "CANCELED"}
    assert_problem(_notify(host, different), 409)
    assert_problem(_notify(host, {**body, "walletId": str(uuid.uuid4())}), 404)
    tampered = (
        started["walletId"][:9]
        + ("A" if started["walletId"][9] != "A" else "B")
        + started["walletId"][10:]
    )
    assert_problem(_notify(host, {**body, "walletId": tampered}), 404)
    assert_problem(_notify(host, {**body, "sessionId": "another"}), 404)
    assert_problem(_notify(host, {**body, "hpan": "x"}), 422)
    assert_problem(_notify(host, {}, raw=b"{nope"), 400)
    assert instrument(platform, host, started["walletId"])["errorReason"] == "KO: declined"


def test_the_openapi_document_describes_the_wallet(host: Host) -> None:
    document = host.request("GET", "/api/openapi.json", key=None).json()
    instruments = document["paths"]["/api/v1/wallet/instruments"]
    assert set(instruments) == {"get", "post"}
    assert set(document["paths"]["/api/v1/wallet/instruments/{walletId}"]) == {"get", "delete"}
    assert "put" in document["paths"]["/api/v1/wallet/instruments/{walletId}/applications"]
    notification = document["paths"]["/api/v1/wallet/psp/notifications"]["post"]
    # the PSP's signature alone: no key of ours is handed to a PSP
    assert notification["security"] == [{"pspSignature": []}]
    assert {"401", "404", "409", "422"} <= set(notification["responses"])


class Catcher(http.server.BaseHTTPRequestHandler):
    """Stands for an attacker's server: records whatever reaches it."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_host_header_never_redirects_the_psps_notification(
    platform: Platform, host: Host, psp: str
) -> None:
    Catcher.received = []
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        response = host.request(
            "POST",
            INSTRUMENTS,
            json={"type": "CARD"},
            headers={**citizen(platform, host), "Host": f"127.0.0.1:{attacker.server_port}"},
        )
        assert response.status_code == 201, response.text
        started = response.json()
        result = complete(psp, started, **card(host))
    finally:
        attacker.shutdown()
    assert Catcher.received == []
    assert (result["walletStatus"], result["attempts"]) == (200, 1)
    assert instrument(platform, host, started["walletId"])["status"] == "VALIDATED"


# ------------------------------------------------------------------ the simulator itself
class FlakyWallet(http.server.BaseHTTPRequestHandler):
    """A wallet that fails the first notification (503), then accepts; records what came."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(
            {
                "body": json.loads(body),
                "signature": self.headers["x-signature"],
                "key": self.headers.get("x-functions-key"),
            }
        )
        self.send_response(503 if len(self.received) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_simulator_retries_and_never_sends_the_pan(
    platform: Platform, host: Host, psp: str
) -> None:
    FlakyWallet.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyWallet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = json.loads(host.env["LOCAL_SECRETS"])["psp-demo-signing"]
        body = json.dumps(
            {
                "walletId": str(uuid.uuid4()),
                "type": "CARD",
                "returnUrl": "app://x",
                "notificationUrl": f"http://127.0.0.1:{server.server_port}/n",
            }
        )
        unsigned = requests.post(f"{psp}/sessions", data=body, timeout=10)
        assert unsigned.status_code == 401
        opened = requests.post(
            f"{psp}/sessions",
            data=body,
            timeout=10,
            headers={"x-signature": sign(secret, body.encode(), int(dev_now(host).timestamp()))},
        )
        assert opened.status_code == 201, opened.text
        result = complete(psp, opened.json(), **card(host))
    finally:
        server.shutdown()
    assert (result["attempts"], result["walletStatus"]) == (2, 200)
    first, second = FlakyWallet.received
    assert first["body"] == second["body"]
    assert first["signature"] != second["signature"]  # signed afresh: not a replay
    assert (first["key"], second["key"]) == (None, None)  # a PSP holds no key of ours
    details = first["body"]["details"]
    assert details["hpan"] == hashlib.sha256((PAN + host.env["DEV_HPAN_SALT"]).encode()).hexdigest()
    assert PAN not in json.dumps(FlakyWallet.received)
    assert PAN not in platform.psp.output  # nor in its log
