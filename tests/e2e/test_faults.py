"""Outages: each test owns its emulators, broker and host, pauses a dependency (SIGSTOP) while the
host runs, and checks the host answers quickly with 503 problems and recovers on SIGCONT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.platform import DEMO_EC, Platform
from tests.conftest import Host, base_settings, fresh_queues, start_host
from tests.servicebus_tools import receive

COSMOS_TIMEOUT = 2.0  # COSMOS_TIMEOUT_SECONDS in the tests
BUS_TIMEOUT = 3.0  # SERVICEBUS_TIMEOUT_SECONDS in the tests
MARGIN = 3.0


@pytest.fixture
def own(tmp_path: Path) -> Iterator[tuple[Platform, Host]]:
    platform = Platform(tmp_path / "platform", base_settings(), azurite=False)
    try:
        host = start_host(platform, env=fresh_queues("faults"))
        try:
            yield platform, host
        finally:
            host.stop()
    finally:
        platform.stop()


def timed(host: Host, method: str, path: str) -> tuple[float, int, dict[str, str], dict]:
    started = time.monotonic()
    response = host.request(method, path)
    body = response.json() if response.content else {}
    return time.monotonic() - started, response.status_code, dict(response.headers), body


def test_paused_cosmos_gives_quick_503s_and_recovers_without_a_restart(
    own: tuple[Platform, Host],
) -> None:
    platform, host = own
    path = f"/api/tests/point-read/{DEMO_EC}"
    assert host.request("GET", path).status_code == 200
    platform.cosmos.pause()
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: timed(host, "GET", path), range(8)))
        for elapsed, status, headers, body in results:
            assert status == 503, body
            assert elapsed < COSMOS_TIMEOUT + MARGIN
            assert int(headers["Retry-After"]) >= 1
            assert headers["Content-Type"].startswith("application/problem+json")
            assert body["correlationId"]
        health = host.request("GET", "/api/health", key=None)
        assert health.status_code == 503
        assert health.json()["checks"]["cosmos"]["ok"] is False
    finally:
        platform.cosmos.resume()
    assert host.request("GET", path).status_code == 200
    assert host.request("GET", "/api/health", key=None).status_code == 200


def test_an_outbox_written_while_the_broker_is_paused_is_published_after_it_returns(
    own: tuple[Platform, Host],
) -> None:
    platform, host = own
    out = host.env["TEST_QUEUE_OUT"]
    connection = host.env["ServiceBusConnection"]
    ok = host.request("POST", "/api/tests/outbox").json()
    assert ok["published"] is True
    [first] = receive(connection, out, 1)
    assert first["body"]["data"] == {"docId": ok["id"]}

    platform.broker.pause()
    try:
        elapsed, status, _, body = timed(host, "POST", "/api/tests/outbox")
        assert status == 201  # the state change happened; the event waits in the outbox
        assert body["published"] is False
        assert elapsed < BUS_TIMEOUT + COSMOS_TIMEOUT + MARGIN
    finally:
        platform.broker.resume()
    host.advance_clock(65)  # the sweep runs every 30 s and takes outboxes older than 30 s
    [swept] = receive(connection, out, 1, timeout=30)
    assert swept["body"]["type"] == "TestHappened"
    assert swept["body"]["data"] == {"docId": body["id"]}
    assert swept["message_id"] == swept["body"]["id"]  # the event id: re-sends are dropped
    host.advance_clock(65)  # the outbox was cleared: nothing is sent twice
    assert receive(connection, out, 1, timeout=3) == []
