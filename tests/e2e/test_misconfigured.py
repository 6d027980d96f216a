"""A host with bad settings still starts: health names every bad field, calls get a problem."""

from __future__ import annotations

from local.platform import Platform
from tests.conftest import fresh_queues, start_host


def test_health_reports_the_bad_settings_and_functions_answer_with_a_problem(
    platform: Platform,
) -> None:
    env = {
        **fresh_queues("misconfigured"),
        "COSMOS_TIMEOUT_SECONDS": "soon",
        "SERVICEBUS_MAX_DELIVERY_COUNT": "0",
    }
    host = start_host(platform, env=env)
    try:
        health = host.request("GET", "/api/health", key=None)
        assert health.status_code == 503
        check = health.json()["checks"]["configuration"]
        assert check["ok"] is False
        assert "COSMOS_TIMEOUT_SECONDS" in check["detail"]
        assert "SERVICEBUS_MAX_DELIVERY_COUNT" in check["detail"]
        response = host.request("GET", "/api/tests/point-read/77777777777")
        assert response.status_code == 500
        body = response.json()
        assert body["title"] == "Configuration error"
        assert "COSMOS" not in body["detail"]  # the report is for operators, in the logs
    finally:
        host.stop()
