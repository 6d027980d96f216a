"""The wallet end to end: the dev host, the gateway simulator (its hosted pages and its test
API), the Cosmos emulator and the broker, with the wallet's events read from their queue."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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
from shared.auth.user_ids import user_id
from tests.app import app
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for
from tests.functions.fakes import consumers_of
from tests.servicebus_tools import receive

CF = "RSSMRA85T10A562S"
OTHER_CF = "VRDGPP80A01H501U"
PAN = "4242424242424242"
WALLETS = "/api/v1/wallets"
CARD_METHOD = "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"
FAILURES = [
    "AUTHORIZED",
    "DECLINED",
    "DENIED_BY_RISK",
    "THREEDS_VALIDATED",
    "THREEDS_FAILED",
    "PENDING",
    "CANCELED",
    "VOIDED",
    "REFUNDED",
    "FAILED",
]


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


@dataclass
class Onboarding:
    """One onboarding's ids, as the app holds them."""

    cf: str
    wallet_id: str
    order_id: str = ""
    redirect_url: str = ""

    @property
    def session(self) -> str:
        return urlsplit(self.redirect_url).path.rsplit("/", 1)[-1]


def create(platform: Platform, host: Host, cf: str = CF) -> Onboarding:
    response = host.request(
        "POST",
        WALLETS,
        json={"paymentMethodId": CARD_METHOD, "applications": ["PAGOPA"]},
        headers=citizen(platform, host, cf),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "CREATED"
    return Onboarding(cf, response.json()["walletId"])


def start(platform: Platform, host: Host, cf: str = CF) -> Onboarding:
    """Created, and the gateway's session opened: the app shows ``redirect_url``."""
    onboarding = create(platform, host, cf)
    opened = host.request(
        "POST",
        f"{WALLETS}/{onboarding.wallet_id}/sessions",
        json={"paymentMethodType": "cards"},
        headers=citizen(platform, host, cf),
    )
    assert opened.status_code == 200, opened.text
    onboarding.order_id = opened.json()["orderId"]
    onboarding.redirect_url = opened.json()["sessionData"]["redirectUrl"]
    return onboarding


def validate(platform: Platform, host: Host, onboarding: Onboarding) -> requests.Response:
    return host.request(
        "POST",
        f"{WALLETS}/{onboarding.wallet_id}/sessions/{onboarding.order_id}/validations",
        headers=citizen(platform, host, onboarding.cf),
    )


def requested(
    platform: Platform, host: Host, psp: str, cf: str = CF, pan: str = PAN, years: int = 3
) -> Onboarding:
    """Through the first three steps, the card typed through the simulator's test API."""
    onboarding = start(platform, host, cf)
    typed = requests.post(
        f"{psp}/test/sessions/{onboarding.session}/card", json=card(host, pan, years), timeout=10
    )
    assert typed.status_code == 200, typed.text
    asked = validate(platform, host, onboarding)
    assert asked.status_code == 200, asked.text
    return onboarding


def three_ds(psp: str, onboarding: Onboarding, **body: Any) -> dict[str, Any]:
    """The citizen's 3-D Secure step (or any result, for tests): once the wallet answered."""
    response = requests.post(f"{psp}/test/sessions/{onboarding.session}/3ds", json=body, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def onboarded(
    platform: Platform, host: Host, psp: str, cf: str = CF, pan: str = PAN, years: int = 3
) -> Onboarding:
    onboarding = requested(platform, host, psp, cf, pan, years)
    result = three_ds(psp, onboarding, threeDsCode="123456")
    assert (result["walletStatus"], result["walletAnswer"]["status"]) == (200, "VALIDATED")
    return onboarding


def card(host: Host, pan: str = PAN, years: int = 3) -> dict[str, Any]:
    return {"pan": pan, "expiryMonth": 12, "expiryYear": dev_now(host).year + years}


def instrument(platform: Platform, host: Host, wallet_id: str, cf: str = CF) -> dict[str, Any]:
    response = host.request("GET", f"{WALLETS}/{wallet_id}", headers=citizen(platform, host, cf))
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
def test_the_whole_onboarding_on_the_gateways_pages(
    platform: Platform, host: Host, psp: str
) -> None:
    onboarding = start(platform, host)
    assert onboarding.redirect_url.startswith(psp + "/hosted/")
    assert instrument(platform, host, onboarding.wallet_id)["status"] == "INITIALIZED"
    assert_problem(validate(platform, host, onboarding), 409)  # no card typed yet
    with requests.Session() as browser:
        page = browser.get(onboarding.redirect_url, timeout=10)
        assert page.status_code == 200
        assert "name=pan" in page.text
        form = {**card(host), "action": "save"}
        refused = browser.post(
            onboarding.redirect_url, data={**form, "pan": "4242424242424241"}, timeout=10
        )
        assert refused.status_code == 400
        assert "not valid" in refused.text
        typed = browser.post(onboarding.redirect_url, data=form, timeout=10)
        assert typed.status_code == 200
        asked = validate(platform, host, onboarding)
        assert asked.status_code == 200, asked.text
        iframe = asked.json()["details"]["iframeUrl"]
        assert iframe.startswith(psp + "/3ds/")
        done = browser.post(iframe, data={"threeDsCode": "123456", "action": "confirm"}, timeout=30)
        assert done.status_code == 200
        assert "<strong id=outcome>EXECUTED</strong>" in done.text
    shown = instrument(platform, host, onboarding.wallet_id)
    assert shown["status"] == "VALIDATED"
    assert shown["details"] == {
        "type": "CARDS",
        "bin": "424242",
        "lastFourDigits": "4242",
        "expiryDate": f"{dev_now(host).year + 3}12",
        "brand": "VISA",
    }
    assert shown["applications"] == [{"name": "PAGOPA", "status": "ENABLED"}]
    listed = host.request("GET", WALLETS, headers=citizen(platform, host)).json()
    assert onboarding.wallet_id in [i["walletId"] for i in listed["instruments"]]


@pytest.mark.parametrize("result", FAILURES)
def test_every_other_operation_result_ends_in_error(
    platform: Platform, host: Host, psp: str, result: str
) -> None:
    onboarding = requested(platform, host, psp, OTHER_CF, "4000056655665556")
    answered = three_ds(psp, onboarding, operationResult=result, errorCode=f"E-{result[:6]}")
    assert (answered["walletStatus"], answered["walletAnswer"]["status"]) == (200, "ERROR")
    shown = instrument(platform, host, onboarding.wallet_id, OTHER_CF)
    assert (shown["status"], shown["errorCode"]) == ("ERROR", f"E-{result[:6]}")


def test_a_wrong_3ds_code_is_threeds_failed(platform: Platform, host: Host, psp: str) -> None:
    onboarding = requested(platform, host, psp, OTHER_CF, "4000056655665556")
    three_ds(psp, onboarding, threeDsCode="000000")
    shown = instrument(platform, host, onboarding.wallet_id, OTHER_CF)
    assert (shown["status"], shown["errorCode"]) == ("ERROR", "3DS_AUTHENTICATION_FAILED")


def test_the_same_card_again_is_already_onboarded_and_a_renewed_one_replaces_it(
    platform: Platform, host: Host, psp: str
) -> None:
    cf = "MRNLCU70A01F205C"
    first = onboarded(platform, host, psp, cf, "5105105105105100")
    again = requested(platform, host, psp, cf, "5105105105105100")
    answered = three_ds(psp, again, threeDsCode="123456")
    assert answered["walletAnswer"]["status"] == "ERROR"
    assert instrument(platform, host, again.wallet_id, cf)["errorCode"] == (
        "WALLET_ALREADY_ONBOARDED_FOR_USER"
    )
    renewed = onboarded(platform, host, psp, cf, "5105105105105100", years=4)
    old = instrument(platform, host, first.wallet_id, cf)
    assert (old["status"], old["replacedBy"]) == ("REPLACED", renewed.wallet_id)


def test_a_session_lapses_after_30_minutes_of_the_dev_clock(
    platform: Platform, host: Host, psp: str
) -> None:
    onboarding = requested(platform, host, psp, OTHER_CF, "4000056655665556")
    host.advance_clock(30 * 60 + 1)
    shown = instrument(platform, host, onboarding.wallet_id, OTHER_CF)
    assert shown["status"] == "VALIDATION_EXPIRED"
    result = three_ds(psp, onboarding, threeDsCode="123456")
    assert result["walletStatus"] == 409  # too late: refused, and nothing changed
    shown = instrument(platform, host, onboarding.wallet_id, OTHER_CF)
    assert shown["status"] == "VALIDATION_EXPIRED"


# ------------------------------------------------------------------ the notification's token
def _notify(
    host: Host, onboarding: Onboarding, body: dict[str, Any], token: str | None
) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return host.request(
        "POST",
        f"{WALLETS}/{onboarding.wallet_id}/sessions/{onboarding.order_id}/notifications",
        data=json.dumps(body).encode(),
        headers=headers,
        key=None,
    )


def test_notifications_need_this_sessions_token_and_a_repeat_changes_nothing(
    platform: Platform, host: Host, psp: str
) -> None:
    onboarding = requested(platform, host, psp)
    body = {
        "timestampOperation": dev_now(host).isoformat(),
        "operationId": "forged-op",
        "operationResult": "EXECUTED",
        "details": {"type": "CARD", "paymentInstrumentGatewayId": "forged"},
    }
    for token in (None, "", "forged", platform.env.get("PSP_SIGNING_SECRET", "x")):
        assert_problem(_notify(host, onboarding, body, token), 401)
    other = requested(platform, host, psp, OTHER_CF, "4000056655665556")
    crossed = Onboarding(CF, onboarding.wallet_id, other.order_id)
    assert_problem(_notify(host, crossed, body, None), 401)
    assert instrument(platform, host, onboarding.wallet_id)["status"] == "VALIDATION_REQUESTED"
    done = three_ds(psp, onboarding, operationResult="DECLINED")
    assert done["walletStatus"] == 200
    replay = requests.post(f"{psp}/test/sessions/{onboarding.session}/replay", timeout=30)
    assert replay.json()["walletStatus"] == 200  # the same operation: answered alike
    assert replay.json()["walletAnswer"] == done["walletAnswer"]
    assert instrument(platform, host, onboarding.wallet_id)["status"] == "ERROR"


# ------------------------------------------------------------------ events
def test_the_wallet_events_reach_their_queue(platform: Platform, host: Host, psp: str) -> None:
    cf = "BNCLRA90M41F205Z"
    pan = "5555555555554444"
    first = onboarded(platform, host, psp, cf, pan)
    headers = citizen(platform, host, cf)
    off = host.request(
        "PUT",
        f"{WALLETS}/{first.wallet_id}/applications",
        json={"applications": [{"name": "PAGOPA", "status": "DISABLED"}]},
        headers=headers,
    )
    assert off.status_code == 200, off.text
    second = onboarded(platform, host, psp, cf, pan, years=5)  # renewed: replaces the first
    assert instrument(platform, host, first.wallet_id, cf)["status"] == "REPLACED"
    assert (
        host.request("DELETE", f"{WALLETS}/{second.wallet_id}", headers=headers).status_code == 204
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
    assert all(d["hpan"] == hpan and d["userId"] == uid(host, cf) for d in by_type.values())
    assert cf not in json.dumps(events)  # pseudonymous: never the fiscal code
    assert (
        by_type["InstrumentReplaced"]["oldWalletId"],
        by_type["InstrumentReplaced"]["newWalletId"],
    ) == (first.wallet_id, second.wallet_id)
    assert by_type["InstrumentDeleted"]["walletId"] == second.wallet_id
    assert all(e["message_id"] == e["body"]["id"] for e in events)
    # The requests left their outboxes to the sweep: it re-sends, the broker drops the copies
    # by message id, and the outboxes end empty.
    wallet = _wallet_container(platform, host)
    assert _full_outboxes(wallet, host, cf) > 0
    host.advance_clock(60)
    assert host.request("POST", "/admin/functions/sweep_outboxes", key=ADMIN_KEY).status_code == 202
    wait_for(lambda: _full_outboxes(wallet, host, cf) == 0, timeout=20)
    again = receive(
        host.env["ServiceBusConnection"], host.env["WALLET_EVENTS_QUEUE"], 10, timeout=2
    )
    assert [e for e in again if e["body"]["data"].get("hpan") == hpan] == []


def _wallet_container(platform: Platform, host: Host) -> Any:
    settings = platform.settings(COSMOS_DATABASE=host.env["COSMOS_DATABASE"])
    client = CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key or "")
    return client.get_database_client(settings.cosmos_database).get_container_client(
        settings.wallet_container
    )


def _full_outboxes(container: Any, host: Host, cf: str) -> int:
    documents = list(container.query_items("SELECT * FROM c", partition_key=uid(host, cf)))
    assert documents
    assert cf not in json.dumps(documents)  # pseudonymous: never the fiscal code
    return sum(1 for d in documents if d.get("outbox"))


def uid(host: Host, cf: str) -> str:
    """``cf``'s wallet user id, with the dev host's key."""
    return user_id(json.loads(host.env["LOCAL_SECRETS"])["wallet-user-id-key"], cf)


def events_of(host: Host, cf: str, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events about ``cf`` (other tests' events on the queue are skipped)."""
    found: list[dict[str, Any]] = []
    owner = uid(host, cf)

    def more() -> bool:
        for event in receive(
            host.env["ServiceBusConnection"], host.env["WALLET_EVENTS_QUEUE"], 10, timeout=1
        ):
            if event["body"]["data"].get("userId") == owner:
                found.append(event)
        return len(found) >= count

    wait_for(more, timeout=20)
    return found


# ------------------------------------------------------------------ citizens' rules
def test_delete_is_204_twice_and_404_for_someone_elses(
    platform: Platform, host: Host, psp: str
) -> None:
    onboarding = onboarded(platform, host, psp, pan="4000056655665556")
    path = f"{WALLETS}/{onboarding.wallet_id}"
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
    assert instrument(platform, host, onboarding.wallet_id)["status"] == "DELETED"
    assert_problem(host.request("DELETE", f"{WALLETS}/{uuid.uuid4()}", headers=mine), 404)
    assert_problem(host.request("GET", f"{WALLETS}/not%20an%20id", headers=mine), 404)


def test_favourite_auth_data_helpdesk_and_account_closure(
    platform: Platform, host: Host, psp: str
) -> None:
    cf = "PLLNNA80A41H501R"
    card = onboarded(platform, host, psp, cf, "378282246310005")
    other = onboarded(platform, host, psp, cf, "6011111111111117")
    headers = citizen(platform, host, cf)
    favourite = host.request("PUT", f"{WALLETS}/{card.wallet_id}/favourite", headers=headers)
    assert favourite.status_code == 200, favourite.text
    listed = host.request("GET", WALLETS, headers=headers).json()["instruments"]
    assert [i["walletId"] for i in listed] == [card.wallet_id, other.wallet_id]
    auth = host.request("GET", f"{WALLETS}/{card.wallet_id}/auth-data")
    assert auth.status_code == 200, auth.text
    assert (auth.json()["brand"], auth.json()["paymentMethodData"]["bin"]) == ("AMEX", "378282")
    assert "378282246310005" not in auth.text
    seen = host.request("GET", f"/api/ops/wallet/users/{uid(host, cf)}/wallets", key=ADMIN_KEY)
    assert {i["walletId"] for i in seen.json()["instruments"]} == {card.wallet_id, other.wallet_id}
    assert host.request("DELETE", WALLETS, headers=headers).status_code == 204
    assert host.request("GET", WALLETS, headers=headers).json()["instruments"] == []


# ------------------------------------------------------------------ bad input
_CARD = b'{"paymentMethodId": "' + CARD_METHOD.encode() + b'"'


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 400),
        (b"{", 400),
        (b"[]", 422),
        (b"{}", 422),
        (b'{"paymentMethodId": "CARDS"}', 422),
        (b'{"paymentMethodId": "1c12349f-8133-42f3-ad96-7e6527d27a41"}', 422),
        (
            b'{"paymentMethodId": "' + CARD_METHOD.encode() + b'", "applications": ["CASHBACK"]}',
            422,
        ),
        (b'{"paymentMethodId": "' + CARD_METHOD.encode() + b'", "pan": "4242424242424242"}', 422),
    ],
)
def test_bad_creation_bodies_are_clear_problems(
    platform: Platform, host: Host, raw: bytes, status: int
) -> None:
    response = host.request(
        "POST",
        WALLETS,
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
        assert_problem(host.request("GET", WALLETS, headers=headers), 401)
        assert_problem(
            host.request("POST", WALLETS, json={"paymentMethodId": CARD_METHOD}, headers=headers),
            401,
        )
    good = citizen(platform, host)
    for key in (None, "wrong"):
        assert host.request("GET", WALLETS, headers=good, key=key).status_code == 401


def test_the_openapi_document_describes_the_wallet(host: Host) -> None:
    document = host.request("GET", "/api/openapi.json", key=None).json()
    assert set(document["paths"]["/api/v1/wallets"]) == {"get", "post", "delete"}
    assert set(document["paths"]["/api/v1/wallets/{walletId}"]) == {"get", "delete"}
    assert "put" in document["paths"]["/api/v1/wallets/{walletId}/applications"]
    assert "post" in document["paths"]["/api/v1/wallets/{walletId}/sessions"]
    notification = document["paths"]["/api/v1/wallets/{walletId}/sessions/{orderId}/notifications"][
        "post"
    ]
    # the session's token alone: no key of ours is handed to the gateway
    assert notification["security"] == [{"sessionToken": []}]
    assert {"400", "401", "409"} <= set(notification["responses"])
    assert "get" in document["paths"]["/api/v1/payment-methods"]
    assert "put" in document["paths"]["/api/v1/wallets/{walletId}/favourite"]
    auth_data = document["paths"]["/api/v1/wallets/{walletId}/auth-data"]["get"]
    assert auth_data["security"] == [{"functionKey": []}]
    helpdesk = document["paths"]["/api/ops/wallet/users/{userId}/wallets"]["get"]
    assert helpdesk["security"] == [{"adminKey": []}]


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


def test_a_host_header_never_redirects_the_gateways_notification(
    platform: Platform, host: Host, psp: str
) -> None:
    Catcher.received = []
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        onboarding = create(platform, host)
        response = host.request(
            "POST",
            f"{WALLETS}/{onboarding.wallet_id}/sessions",
            json={},
            headers={**citizen(platform, host), "Host": f"127.0.0.1:{attacker.server_port}"},
        )
        assert response.status_code == 200, response.text
        onboarding.order_id = response.json()["orderId"]
        onboarding.redirect_url = response.json()["sessionData"]["redirectUrl"]
        requests.post(f"{psp}/test/sessions/{onboarding.session}/card", json=card(host), timeout=10)
        assert validate(platform, host, onboarding).status_code == 200
        result = three_ds(psp, onboarding, threeDsCode="123456")
    finally:
        attacker.shutdown()
    assert Catcher.received == []
    assert (result["walletStatus"], result["attempts"]) == (200, 1)


# ------------------------------------------------------------------ the simulator itself
class FlakyWallet(http.server.BaseHTTPRequestHandler):
    """A wallet that fails the first notification (503), then accepts; records what came."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(
            {
                "body": json.loads(body),
                "authorization": self.headers["Authorization"],
                "key": self.headers.get("x-functions-key"),
            }
        )
        self.send_response(503 if len(self.received) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_simulator_retries_the_same_operation_and_never_sends_the_pan(
    platform: Platform, host: Host, psp: str
) -> None:
    FlakyWallet.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyWallet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        secret = json.loads(host.env["LOCAL_SECRETS"])["psp-demo-signing"]
        body = json.dumps(
            {
                "orderId": uuid.uuid4().hex[:18],
                "walletId": str(uuid.uuid4()),
                "contractId": "c-1",
                "paymentService": "CARDS",
                "resultUrl": "app://x",
                "notificationUrl": f"http://127.0.0.1:{server.server_port}/n",
                "notificationToken": "session-token-1",
            }
        )
        unsigned = requests.post(f"{psp}/orders/build", data=body, timeout=10)
        assert unsigned.status_code == 401
        opened = requests.post(
            f"{psp}/orders/build",
            data=body,
            timeout=10,
            headers={"x-signature": sign(secret, body.encode(), int(dev_now(host).timestamp()))},
        )
        assert opened.status_code == 200, opened.text
        session = opened.json()["sessionId"]
        requests.post(f"{psp}/test/sessions/{session}/card", json=card(host), timeout=10)
        result = requests.post(
            f"{psp}/test/sessions/{session}/3ds", json={"threeDsCode": "123456"}, timeout=30
        ).json()
    finally:
        server.shutdown()
    assert (result["attempts"], result["walletStatus"]) == (2, 200)
    first, second = FlakyWallet.received
    assert first["body"] == second["body"]  # the same operation: the wallet applies it once
    assert first["authorization"] == "Bearer session-token-1"
    assert (first["key"], second["key"]) == (None, None)  # the gateway holds no key of ours
    details = first["body"]["details"]
    assert details["hpan"] == hashlib.sha256((PAN + host.env["DEV_HPAN_SALT"]).encode()).hexdigest()
    assert PAN not in json.dumps(FlakyWallet.received)
    assert PAN not in platform.psp.output  # nor in its log
