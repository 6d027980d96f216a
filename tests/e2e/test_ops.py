"""The operator command against a running dev host: parties and key rotation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import ops
from local.platform import Platform
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, env=fresh_queues("ops"))
    try:
        yield started
    finally:
        started.stop()


def operator(host: Host, *argv: str) -> object:
    return ops.run(ops.parser().parse_args(["--url", host.url, "--admin-key", ADMIN_KEY, *argv]))


def creditor_call(host: Host, key: str) -> int:
    return host.request(
        "GET", "/api/tests/creditor", headers={"Ocp-Apim-Subscription-Key": key}
    ).status_code


def test_register_a_party_then_rotate_its_key_with_a_grace_period(
    host: Host, tmp_path: Path
) -> None:
    spec = tmp_path / "party.json"
    spec.write_text(json.dumps({"partyId": "80000000001", "name": "Comune di Prova", "role": "ec"}))
    registered = operator(host, "parties", "register", str(spec))
    assert isinstance(registered, dict)
    assert registered["partyId"] == "80000000001"

    first = operator(host, "parties", "rotate-key", "80000000001", "--grace-seconds", "600")
    assert isinstance(first, dict)
    assert creditor_call(host, first["key"]) == 200

    second = operator(host, "parties", "rotate-key", "80000000001", "--grace-seconds", "600")
    assert isinstance(second, dict)
    assert second["key"] != first["key"]
    assert creditor_call(host, first["key"]) == 200  # within the grace period
    assert creditor_call(host, second["key"]) == 200
    host.advance_clock(601)
    assert creditor_call(host, first["key"]) == 401
    assert creditor_call(host, second["key"]) == 200


def test_errors_are_reported_not_raised(host: Host, capsys: pytest.CaptureFixture[str]) -> None:
    code = ops.main(["--url", host.url, "--admin-key", ADMIN_KEY, "parties", "show", "nobody"])
    assert code == 1
    assert "404" in capsys.readouterr().err
    code = ops.main(["--url", host.url, "--admin-key", "wrong", "failed-work", "list"])
    assert code == 1
    assert "401" in capsys.readouterr().err


def test_register_refuses_unknown_fields(host: Host, tmp_path: Path) -> None:
    spec = tmp_path / "party.json"
    spec.write_text(json.dumps({"partyId": "x1", "name": "n", "role": "ec", "key": "k"}))
    with pytest.raises(ops.OpsError, match="422"):
        operator(host, "parties", "register", str(spec))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/ops/failed-work/%2F/replay"),
        ("POST", "/api/ops/failed-work/..%5C/replay"),
        ("GET", "/api/ops/parties/%2F"),
        ("GET", "/api/ops/parties/" + "x" * 5000),
        ("GET", "/api/ops/failed-work?limit=" + "1" * 5000),
        ("GET", "/api/ops/dead-letters/{queue}?limit=" + "9" * 5000),
        ("POST", "/api/ops/dead-letters/{queue}/replay?limit=" + "9" * 5000),
    ],
)
def test_operator_parameters_out_of_bounds_are_400_problems(
    host: Host, method: str, path: str
) -> None:
    queue = host.env["NOTICES_QUEUE"]  # a known queue: only the limit is wrong
    response = host.request(method, path.format(queue=queue), key=ADMIN_KEY)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 400
