"""No credential or citizen datum reaches the dev host's log, whatever a handler logs: a request
with a bearer token and the function key (in the header, then in ``code=``) to a function that
logs its URL and headers and fails with the token in its exception."""

from __future__ import annotations

from datetime import datetime

from local.platform import Platform
from local.tokens import issue_token
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, fresh_queues, start_host, wait_for

CF = "RSSMRA85T10A562S"
PAN = "4111 1111 1111 1111"


def test_a_careless_handler_logs_neither_the_token_nor_the_key(platform: Platform) -> None:
    host = start_host(platform, app="tests.hostile.careless_app", env=fresh_queues("careless"))
    try:
        now = datetime.fromisoformat(
            host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
        )
        token = issue_token(
            platform.keys.private_pem,
            CF,
            issuer=host.env["CITIZEN_JWT_ISSUER"],
            audience=host.env["CITIZEN_JWT_AUDIENCE"],
            now=now,
        )
        bearer = {"Authorization": f"Bearer {token}"}
        in_header = host.request("GET", "/api/tests/careless", params={"who": CF}, headers=bearer)
        in_query = host.request(
            "GET",
            "/api/tests/careless",
            key=None,
            params={"code": FUNCTION_KEY, "who": PAN},
            headers=bearer,
        )
        assert (in_header.status_code, in_query.status_code) == (500, 500)
        # both requests were logged, and both failures with their tracebacks
        output = wait_for(
            lambda: (
                host.child.output
                if host.child.output.count("careless failure for") >= 2
                and host.child.output.count("careless caller") >= 2
                else None
            )
        )
    finally:
        host.stop()
    assert output.count("careless request") == 2
    for secret in (token, token.split(".")[2], FUNCTION_KEY, CF, PAN, PAN.replace(" ", "")):
        assert secret not in output
    assert "Bearer [REDACTED]" in output
    assert "code=[REDACTED]" in output
    assert "'x-functions-key': '[REDACTED]'" in output
    assert "[REDACTED fiscal code]" in output
    assert "[REDACTED PAN]" in output
