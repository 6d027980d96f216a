"""The outage, reproduced: with 128 outbound ports (Azure's SNAT preallocation), the keep-alive
dispatcher delivers 20,000 notifications without a failure, while a session-per-call client
fails with "cannot assign requested address" before 1,000, and then every new outbound
connection fails too. Runs ``tests/netns/outage.py`` in a private network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from local.process import ROOT
from tests.netns import namespace_problem

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def outage() -> dict[str, Any]:
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.netns.outage"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_namespace_has_only_128_outbound_ports(outage: dict[str, Any]) -> None:
    first, last = (int(port) for port in outage["portRange"])
    assert last - first + 1 == 128


def test_the_dispatcher_delivers_20000_without_a_failure(outage: dict[str, Any]) -> None:
    dispatcher = outage["dispatcher"]
    assert dispatcher["failures"] == 0, dispatcher["examples"]
    assert dispatcher["sent"] == 20_000
    assert dispatcher["connections"] <= 32


def test_a_session_per_call_client_runs_out_of_ports_before_1000(outage: dict[str, Any]) -> None:
    per_call = outage["perCall"]
    assert per_call["succeededBeforeFailure"] < 1000
    assert per_call["errno"] == outage["eaddrnotavail"]
    assert "Cannot assign requested address" in per_call["error"]


def test_then_every_new_connection_fails_but_the_pooled_ones_keep_working(
    outage: dict[str, Any],
) -> None:
    assert "Cannot assign requested address" in outage["newConnectionWhileExhausted"]
    assert outage["dispatcherWhileExhausted"] == {"sent": 1000, "failures": 0}
