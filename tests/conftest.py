"""Shared fixtures: the local platform (own emulators on free ports) and dev hosts.

Unit tests need none of this; the platform starts only when a test asks for it.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.platform import Platform
from local.process import ROOT, Child

FUNCTION_KEY = "test-function-key"
ADMIN_KEY = "test-admin-key"


def base_settings() -> dict[str, str]:
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    values.update(
        LOCAL_FUNCTION_KEY=FUNCTION_KEY,
        LOCAL_ADMIN_KEY=ADMIN_KEY,
        SERVICEBUS_MAX_DELIVERY_COUNT="3",
        RESCHEDULE_BASE_SECONDS="3600",
        RESCHEDULE_CAP_SECONDS="7200",
        RESCHEDULE_MAX_ATTEMPTS="3",
        HEALTH_CACHE_SECONDS="0",
        COSMOS_TIMEOUT_SECONDS="2",
        SERVICEBUS_TIMEOUT_SECONDS="3",
        HEALTH_TIMEOUT_SECONDS="1",
    )
    return values


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """One set of emulators for the whole run (tests isolate by database and queue names)."""
    started = Platform(tmp_path_factory.mktemp("platform"), base_settings(), azurite=True)
    try:
        yield started
    finally:
        started.stop()


class Host:
    """A dev host process serving an app, with a small HTTP helper."""

    def __init__(self, child: Child, env: dict[str, str]) -> None:
        self.child = child
        self.env = env
        self.url = f"http://127.0.0.1:{child.port}"
        self.http = requests.Session()

    def request(
        self, method: str, path: str, *, key: str | None = FUNCTION_KEY, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None:
            headers.setdefault("x-functions-key", key)
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, headers=headers, **kwargs)

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        response = self.request(
            "POST", "/admin/devclock", key=ADMIN_KEY, json={"advanceSeconds": seconds}
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        self.http.close()
        self.child.stop()


def start_host(
    platform: Platform,
    *,
    app: str = "tests.app",
    database: str | None = None,
    env: dict[str, str] | None = None,
) -> Host:
    """A dev host on a free port, with its own database (provisioned and seeded)."""
    database = database or f"db-{uuid.uuid4().hex[:10]}"
    settings_env = {**platform.env, "COSMOS_DATABASE": database, **(env or {})}
    platform.provision(database, env)
    child_env = {**settings_env, "PYTHONUNBUFFERED": "1"}
    child = Child(
        "devhost",
        [
            sys.executable,
            "-m",
            "local.devhost",
            "--app",
            app,
            "--port",
            "0",
            "--clock-file",
            str(platform.clock_file),
        ],
        env=child_env,
    )
    return Host(child, settings_env)


@pytest.fixture
def ec_control(platform: Platform) -> Iterator[str]:
    """The EC simulator's control URL, healthy before and after the test (it is shared)."""
    from local.ecsim import control

    url = platform.ecsim.control_url

    def heal() -> None:
        control.set_behaviour(
            url, state="up", delay_ms=0, timeout_fraction=0, not_active_fraction=0
        )

    heal()
    yield url
    heal()


def fresh_queues(prefix: str) -> dict[str, str]:
    """Fresh names for the test app's queues (the broker creates them on first use)."""
    tag = uuid.uuid4().hex[:8]
    return {
        f"TEST_QUEUE_{which}": f"{prefix}-{which.lower()}-{tag}"
        for which in ("OK", "TRANSIENT", "RESCHEDULE", "PERMANENT", "OUT", "TIMER", "SLOW")
    }


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(autouse=True)
def _no_stray_settings() -> Iterator[None]:
    # Settings are read once per process: tests must not leak environment changes.
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


ROOT_PATH = Path(ROOT)
