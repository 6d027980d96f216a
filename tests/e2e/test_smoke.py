"""infra/smoke.sh, the operator's check after a deployment, run against the dev host: the same
script, the same routes and credentials (a function key, the admin key, a citizen token, an EC's
key), so a change to any of them breaks this test before it breaks a deployment's check."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from local.platform import DEMO_EC, Platform
from local.process import ROOT
from local.tokens import issue_token
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, Host, fresh_queues, start_host

SMOKE = ROOT / "infra" / "smoke.sh"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    started = start_host(
        platform,
        env={
            **fresh_queues("smoke"),
            "PUSH_QUEUE": f"push-smoke-{tag}",
            "NOTICES_QUEUE": f"notices-smoke-{tag}",
        },
    )
    try:
        yield started
    finally:
        started.stop()


def smoke(platform: Platform, host: Host, **env: str) -> subprocess.CompletedProcess[str]:
    now = datetime.fromisoformat(
        host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()["now"]
    )
    token = issue_token(
        platform.keys.private_pem,
        "RSSMRA85T10A562S",
        issuer=host.env["CITIZEN_JWT_ISSUER"],
        audience=host.env["CITIZEN_JWT_AUDIENCE"],
        now=now,
    )
    values = {
        "PATH": "/usr/bin:/bin",
        "SMOKE_FUNCTION_KEY": FUNCTION_KEY,
        "SMOKE_ADMIN_KEY": ADMIN_KEY,
        "SMOKE_CITIZEN_TOKEN": token,
        "SMOKE_EC_KEY": host.env["DEV_PARTY_KEY_EC"],
        "SMOKE_EC_FISCAL_CODE": DEMO_EC,
        "SMOKE_PUSH_QUEUE": host.env["PUSH_QUEUE"],
        "SMOKE_NOTICES_QUEUE": host.env["NOTICES_QUEUE"],
        "SMOKE_PUSH_WAIT": "4",
        "SMOKE_TIMEOUT": "60",
        **env,
    }
    return subprocess.run(
        ["bash", str(SMOKE), host.url],
        env=values,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_smoke_test_passes_on_a_working_app(platform: Platform, host: Host) -> None:
    result = smoke(platform, host)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert checks == ["health:", "push:", "bulk:", "queues:"]


def test_the_smoke_test_fails_with_a_wrong_key(platform: Platform, host: Host) -> None:
    result = smoke(platform, host, SMOKE_EC_KEY="not-a-party-key")
    assert result.returncode == 1
    assert "FAIL: bulk upload: HTTP 401" in result.stderr
