"""The dev host, end to end: HTTP auth levels and bad input, queue endings, timers, the dev
clock, operator routes, health and OpenAPI, through the test app (tests/app.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.servicebus import ServiceBusSubQueue

from local.platform import DEMO_EC, Platform
from local.process import ROOT
from local.tokens import generate_key_pair, issue_token
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for
from tests.servicebus_tools import receive, send

CF = "RSSMRA85T10A562S"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    from tests.app import app
    from tests.functions.fakes import consumers_of

    # the dead-letter test stages messages on the wallet-events queue: keep its consumer off
    env = {
        **fresh_queues("host"),
        **{
            f"AzureWebJobs.{name}.Disabled": "true"
            for name in consumers_of(app, "WALLET_EVENTS_QUEUE")
        },
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def token(
    platform: Platform,
    host: Host,
    *,
    fiscal_code: str = CF,
    now: datetime | None = None,
    private_pem: str | None = None,
) -> str:
    return issue_token(
        private_pem or platform.keys.private_pem,
        fiscal_code,
        issuer=host.env["CITIZEN_JWT_ISSUER"],
        audience=host.env["CITIZEN_JWT_AUDIENCE"],
        now=now or _dev_now(host),
    )


def _dev_now(host: Host) -> datetime:
    state = host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()
    return datetime.fromisoformat(state["now"])


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    return body


# ------------------------------------------------------------------ auth levels
def test_anonymous_needs_no_key(host: Host) -> None:
    response = host.request("GET", "/api/tests/anonymous", key=None)
    assert response.status_code == 200
    assert response.json() == {"who": "anyone"}


def assert_host_401(response) -> None:  # type: ignore[no-untyped-def]
    """The Functions host's own refusal of a key (its UnauthorizedResult): no body at all."""
    assert response.status_code == 401, response.text
    assert response.content == b""
    assert "Content-Type" not in response.headers


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_function_level_refuses_missing_or_wrong_key(host: Host, key: str | None) -> None:
    assert_host_401(host.request("GET", "/api/tests/function", key=key))
    # the host refuses before the app runs: the app's own credential is not even looked at
    assert_host_401(
        host.request("GET", "/api/tests/citizen", key=key, headers={"Authorization": "Bearer x"})
    )


def test_function_level_takes_header_or_code_query_or_admin_key(host: Host) -> None:
    assert host.request("GET", "/api/tests/function").status_code == 200
    by_query = host.request("GET", "/api/tests/function?code=test-function-key", key=None)
    assert by_query.status_code == 200
    assert host.request("GET", "/api/tests/function", key=ADMIN_KEY).status_code == 200


def test_admin_level_refuses_the_function_key(host: Host) -> None:
    assert_host_401(host.request("GET", "/api/tests/admin"))
    assert_host_401(host.request("GET", "/admin/host/status"))
    assert host.request("GET", "/api/tests/admin", key=ADMIN_KEY).json() == {"who": "an operator"}


def test_citizen_token_identifies_the_citizen(platform: Platform, host: Host) -> None:
    response = host.request(
        "GET", "/api/tests/citizen", headers={"Authorization": f"Bearer {token(platform, host)}"}
    )
    assert response.status_code == 200
    assert response.json() == {"who": CF}


def test_citizen_token_problems_are_401(platform: Platform, host: Host) -> None:
    expired = token(platform, host, now=_dev_now(host) - timedelta(hours=3))
    forged = token(platform, host, private_pem=generate_key_pair()[0])
    for header in [
        None,
        "Bearer",
        "Basic abc",
        f"Bearer {expired}",
        f"Bearer {forged}",
        f"Bearer {token(platform, host)}x",
    ]:
        headers = {"Authorization": header} if header else {}
        assert_problem(host.request("GET", "/api/tests/citizen", headers=headers), 401)


def test_party_key_authenticates_and_roles_authorize(host: Host) -> None:
    ec_key = host.env["DEV_PARTY_KEY_EC"]
    ok = host.request("GET", "/api/tests/creditor", headers={"Ocp-Apim-Subscription-Key": ec_key})
    assert ok.status_code == 200
    assert ok.json() == {"who": DEMO_EC}
    acquirer = {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_ACQUIRER"]}
    assert_problem(host.request("GET", "/api/tests/creditor", headers=acquirer), 403)
    unknown = {"Ocp-Apim-Subscription-Key": "not-a-key"}
    assert_problem(host.request("GET", "/api/tests/creditor", headers=unknown), 401)
    assert_problem(host.request("GET", "/api/tests/creditor"), 401)


# ------------------------------------------------------------------ bad input
def test_headers_within_kestrel_s_limits_reach_the_app(host: Host) -> None:
    # 9 KB of Authorization: more than aiohttp's default field limit, well within Kestrel's
    big = f"Bearer {'x' * 9000}"
    body = assert_problem(
        host.request("GET", "/api/tests/citizen", headers={"Authorization": big}), 401
    )
    assert body["correlationId"]  # the app's own answer: the token is not a token


def test_headers_past_kestrel_s_limits_are_431_and_no_credential_is_logged(host: Host) -> None:
    secret = f"SECRET{uuid.uuid4().hex}"
    too_much = [
        {"Authorization": f"Bearer {secret}{'x' * 40_000}"},  # one header past 32 KB
        {f"x-h{i}": f"{secret}{'y' * 2000}" for i in range(20)},  # 20 of 2 KB: past 32 KB
        {f"x-h{i}": secret for i in range(120)},  # past 100 headers
    ]
    for headers in too_much:
        response = host.request("GET", "/api/tests/citizen", headers=headers)
        assert_problem(response, 431)
    long_line = host.request("GET", f"/api/tests/function?code={secret}&pad={'z' * 9000}")
    assert_problem(long_line, 414)
    assert host.request("GET", "/api/tests/function").status_code == 200  # still serving
    time.sleep(1)  # the host's output is read by a thread
    assert secret not in host.child.output


def test_unknown_route_is_404_and_wrong_method_405(host: Host) -> None:
    assert_problem(host.request("GET", "/api/no/such/route"), 404)
    assert_problem(host.request("DELETE", "/api/tests/function"), 405)


def test_malformed_json_is_400_and_schema_violations_422(host: Host) -> None:
    headers = {"Content-Type": "application/json"}
    assert_problem(host.request("POST", "/api/tests/echo", data=b"{not json", headers=headers), 400)
    assert_problem(host.request("POST", "/api/tests/echo", data=b"", headers=headers), 400)
    body = assert_problem(
        host.request(
            "POST", "/api/tests/echo", json={"text": "x", "amount": -1, "pan": "4111111111111111"}
        ),
        422,
    )
    fields = {tuple(e["loc"]) for e in body["errors"]}
    assert fields == {("amount",), ("pan",)}
    assert "4111111111111111" not in str(body)  # rejected input is never echoed back
    ok = host.request("POST", "/api/tests/echo", json={"text": "x", "amount": 5})
    assert ok.json() == {"text": "x", "amount": 5}


def test_oversize_bodies_are_413(host: Host) -> None:
    # the endpoint's own cap (1 KiB) and the host's (100 MB, Azure's default)
    assert_problem(
        host.request("POST", "/api/tests/echo", json={"text": "x" * 2000, "amount": 1}), 413
    )
    huge = b"x" * (100 * 1024 * 1024 + 1)
    assert host.request("POST", "/api/tests/echo", data=huge).status_code == 413


def test_correlation_id_is_echoed_or_made(host: Host) -> None:
    sent = host.request("GET", "/api/tests/function", headers={"x-correlation-id": "abc-123"})
    assert sent.headers["x-correlation-id"] == "abc-123"
    made = host.request("GET", "/api/tests/function")
    assert uuid.UUID(made.headers["x-correlation-id"])
    problem = host.request(
        "POST", "/api/tests/echo", data=b"{", headers={"x-correlation-id": "bad-1"}
    )
    assert problem.json()["correlationId"] == "bad-1"


# ------------------------------------------------------------------ health and OpenAPI
def test_health_reports_ready_dependencies(host: Host) -> None:
    response = host.request("GET", "/api/health", key=None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "configuration",
        "cosmos",
        "servicebus",
        # the worker decrypts a probe with the platform's PGP key (docs/cashback-files.md)
        "cashback files PGP key",
    }


def test_openapi_describes_every_http_function(host: Host) -> None:
    from tests.app import app
    from tests.functions.fakes import functions

    document = host.request("GET", "/api/openapi.json", key=None).json()
    assert document["openapi"].startswith("3.1")
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    http_functions = {
        name
        for name, f in functions(app).items()
        if f.get_trigger().get_dict_repr()["type"] == "httpTrigger"
    }
    # the Swagger UI page and its files render this document, the back office's page and its
    # files call it; the node's SOAP endpoint and its schemas are described by their WSDL and
    # XSDs (served beside them), not by OpenAPI
    not_openapi = {
        "docs_page",
        "docs_asset",
        "backoffice_page",
        "backoffice_asset",
        "node_for_psp",
        "node_schemas",
    }
    assert operations == http_functions - not_openapi
    echo = document["paths"]["/api/tests/echo"]["post"]
    assert echo["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert {"400", "401", "413", "422", "503"} <= set(echo["responses"])
    assert set(document["components"]["securitySchemes"]) >= {
        "functionKey",
        "citizenToken",
        "subscriptionKey",
        "sessionToken",
        "adminKey",
    }


# ------------------------------------------------------------------ queues
def _out(host: Host, count: int = 1, timeout: float = 20.0) -> list[dict]:
    return receive(
        host.env["ServiceBusConnection"], host.env["TEST_QUEUE_OUT"], count, timeout=timeout
    )


def test_queue_function_gets_the_real_message(host: Host) -> None:
    message_id = f"ok-{uuid.uuid4()}"
    send(
        host.env["ServiceBusConnection"],
        host.env["TEST_QUEUE_OK"],
        {"hello": 1},
        message_id=message_id,
        properties={"kind": "greeting"},
    )
    [out] = _out(host)
    body = out["body"]
    assert body["messageId"] == message_id
    assert body["deliveryCount"] == 1
    assert body["properties"]["kind"] == "greeting"
    assert body["enqueuedAt"]
    assert body["body"] == '{"hello": 1}'


def test_queue_functions_run_concurrently_up_to_max_concurrent_calls(host: Host) -> None:
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    limit = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"][
        "maxConcurrentCalls"
    ]
    count = limit * 3
    with (
        ServiceBusClient.from_connection_string(host.env["ServiceBusConnection"]) as client,
        client.get_queue_sender(host.env["TEST_QUEUE_SLOW"]) as sender,
    ):
        batch = sender.create_message_batch()
        for i in range(count):
            batch.add_message(ServiceBusMessage(b"{}", message_id=f"slow-{i}"))
        sender.send_messages(batch)
    peaks = [m["body"]["peak"] for m in _out(host, count, timeout=60)]
    assert len(peaks) == count
    assert 1 < max(peaks) <= limit


def _failed_work(host: Host, queue: str) -> list[dict]:
    response = host.request("GET", f"/api/ops/failed-work?queue={queue}", key=ADMIN_KEY)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


def test_transient_failure_is_redelivered_then_recorded(host: Host) -> None:
    queue = host.env["TEST_QUEUE_TRANSIENT"]
    send(host.env["ServiceBusConnection"], queue, {"n": 1}, message_id="transient-1")
    [item] = wait_for(lambda: _failed_work(host, queue))
    seen = _out(host, 3)
    assert [m["body"]["deliveryCount"] for m in seen] == [1, 2, 3]  # as Azure counts them
    assert _out(host, 1, timeout=1) == []
    assert item["ending"] == "transient-exhausted"
    assert item["deliveryCount"] == 3  # SERVICEBUS_MAX_DELIVERY_COUNT in the tests
    assert "still failing at delivery 3" in item["reason"]
    # completed on its last delivery: nothing was dead-lettered
    assert (
        receive(
            host.env["ServiceBusConnection"],
            queue,
            1,
            timeout=1,
            sub_queue=ServiceBusSubQueue.DEAD_LETTER,
        )
        == []
    )


def test_permanent_failure_is_recorded_once_and_can_be_replayed(host: Host) -> None:
    queue = host.env["TEST_QUEUE_PERMANENT"]
    send(host.env["ServiceBusConnection"], queue, {"n": 2}, message_id="permanent-1")
    [item] = wait_for(lambda: _failed_work(host, queue))
    assert (item["ending"], item["deliveryCount"], item["reason"]) == (
        "permanent",
        1,
        "the notice does not exist",
    )
    replayed = host.request("POST", f"/api/ops/failed-work/{item['id']}/replay", key=ADMIN_KEY)
    assert replayed.status_code == 200, replayed.text
    assert len(replayed.json()["replays"]) == 1
    # the replay is a fresh delivery of the same body, and fails the same way again
    items = wait_for(lambda: len(_failed_work(host, queue)) == 2 and _failed_work(host, queue))
    assert {i["messageId"] for i in items} == {"permanent-1", "permanent-1:replay:1"}
    assert (
        host.request("POST", "/api/ops/failed-work/nope/replay", key=ADMIN_KEY).status_code == 400
    )
    absent = f"/api/ops/failed-work/{uuid.uuid4()}/replay"
    assert host.request("POST", absent, key=ADMIN_KEY).status_code == 404


def test_reschedule_crosses_hours_of_backoff_on_the_dev_clock(host: Host) -> None:
    queue = host.env["TEST_QUEUE_RESCHEDULE"]
    send(
        host.env["ServiceBusConnection"], queue, {"succeedAtAttempt": 2}, message_id="reschedule-1"
    )
    assert _out(host, timeout=3) == []  # attempt 0 rescheduled an hour ahead
    host.advance_clock(3600 + 5)
    assert _out(host, timeout=3) == []  # attempt 1 rescheduled two hours ahead
    host.advance_clock(7200 + 5)
    [out] = _out(host)
    assert out["body"]["note"] == "rescheduled"
    assert out["body"]["attempt"] == 2
    assert out["body"]["messageId"] == "reschedule-1#2"  # survived duplicate detection
    assert out["body"]["properties"]["originalMessageId"] == "reschedule-1"


def test_reschedule_past_the_last_attempt_is_failed_work(host: Host) -> None:
    queue = host.env["TEST_QUEUE_RESCHEDULE"]
    send(
        host.env["ServiceBusConnection"], queue, {"succeedAtAttempt": 99}, message_id="reschedule-2"
    )
    for _ in range(3):  # RESCHEDULE_MAX_ATTEMPTS=3 in the tests
        time.sleep(2)  # let the consumer schedule the next copy before the clock moves
        host.advance_clock(7200 + 5)
    [item] = wait_for(
        lambda: [i for i in _failed_work(host, queue) if i["originalMessageId"] == "reschedule-2"],
        timeout=30,
    )
    assert item["ending"] == "reschedule-exhausted"
    assert item["attempts"] == 4


# ------------------------------------------------------------------ timers and the clock
def _timer_runs(host: Host, count: int, timeout: float = 20.0) -> list[dict]:
    return receive(
        host.env["ServiceBusConnection"], host.env["TEST_QUEUE_TIMER"], count, timeout=timeout
    )


def test_timer_runs_on_its_schedule_by_the_dev_clock_and_on_demand(host: Host) -> None:
    _timer_runs(host, 100, timeout=1)  # runs caused by other tests moving the clock
    now = _dev_now(host)
    next_three = (now + timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    if now.hour < 3:
        next_three -= timedelta(days=1)
    host.advance_clock((next_three - now).total_seconds() + 1)
    [fired] = _timer_runs(host, 1)
    assert fired["body"]["note"] == "timer"
    assert datetime.fromisoformat(fired["body"]["now"]) >= next_three
    ran = host.request("POST", "/admin/functions/test_timer_nightly", key=ADMIN_KEY)
    assert ran.status_code == 202
    [again] = _timer_runs(host, 1)
    assert again["body"]["note"] == "timer"


def test_dev_clock_endpoint_needs_the_admin_key_and_valid_input(host: Host) -> None:
    assert host.request("GET", "/admin/devclock").status_code == 401
    bad = host.request("POST", "/admin/devclock", key=ADMIN_KEY, json={"nothing": 1})
    assert bad.status_code == 400
    target = datetime(2031, 3, 30, 0, 30, tzinfo=UTC)
    moved = host.request(
        "POST", "/admin/devclock", key=ADMIN_KEY, json={"set": target.isoformat()}
    ).json()
    assert abs((datetime.fromisoformat(moved["now"]) - target).total_seconds()) < 5


# ------------------------------------------------------------------ disabled functions
def test_disabled_functions_do_not_run(platform: Platform) -> None:
    queues = fresh_queues("disabled")
    env = {
        **queues,
        "AzureWebJobs.test_function.Disabled": "true",
        "AzureWebJobs.test_queue_ok.Disabled": "true",
    }
    other = start_host(platform, env=env)
    try:
        assert other.request("GET", "/api/tests/function").status_code == 404
        assert other.request("GET", "/api/tests/anonymous").status_code == 200
        send(
            other.env["ServiceBusConnection"], queues["TEST_QUEUE_OK"], {"x": 1}, message_id="stays"
        )
        # the consumer is off, so the message is still in its queue for a test to read
        [left] = receive(other.env["ServiceBusConnection"], queues["TEST_QUEUE_OK"], 1)
        assert left["message_id"] == "stays"
    finally:
        other.stop()


# ------------------------------------------------------------------ dead letters
def test_operators_list_and_replay_dead_letters(host: Host) -> None:
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    queue = host.env["WALLET_EVENTS_QUEUE"]
    with ServiceBusClient.from_connection_string(host.env["ServiceBusConnection"]) as client:
        with client.get_queue_sender(queue) as sender:
            sender.send_messages(ServiceBusMessage(b'{"x":1}', message_id="dead-1"))
        with client.get_queue_receiver(queue, max_wait_time=5) as receiver:
            [message] = receiver.receive_messages(max_message_count=1, max_wait_time=5)
            receiver.dead_letter_message(message, reason="test", error_description="staged")
    listed = host.request("GET", f"/api/ops/dead-letters/{queue}", key=ADMIN_KEY)
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert (item["messageId"], item["reason"]) == ("dead-1", "test")
    moved = host.request("POST", f"/api/ops/dead-letters/{queue}/replay", key=ADMIN_KEY)
    assert [i["messageId"] for i in moved.json()["items"]] == ["dead-1"]
    [back] = receive(host.env["ServiceBusConnection"], queue, 1)
    assert back["properties"]["originalMessageId"] == "dead-1"
    assert (
        host.request("GET", f"/api/ops/dead-letters/{queue}", key=ADMIN_KEY).json()["items"] == []
    )
    assert (
        host.request("GET", "/api/ops/dead-letters/unknown-queue", key=ADMIN_KEY).status_code == 404
    )
