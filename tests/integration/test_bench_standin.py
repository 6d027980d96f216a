"""The stand-in bench, run small: both sides pay every notice, with the same round trips.

The bench asserts nothing itself (bench/README.md); this keeps its baseline honest: the bare
server must answer the same SOAP the host answers, well enough for the same load generator to
complete every payment, with exactly the host's seven Cosmos operations a payment.
"""

from __future__ import annotations

import re
import subprocess
import sys

from local.process import ROOT


def test_the_bench_pays_through_the_host_and_the_bare_server_alike() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.standin", "--payments", "40", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for side in ("dev host", "bare server"):
        line = re.search(rf"^payment: {side} .*$", out, re.MULTILINE)
        assert line is not None, out
        assert line.group(0).endswith("errors 0"), line.group(0)
    trips = re.search(r"Cosmos round trips per payment: host ([\d.]+), bare ([\d.]+)", out)
    assert trips is not None, out
    host, bare = float(trips.group(1)), float(trips.group(2))
    # the same seven operations a payment. The emulator counts every client's requests: the
    # bare server's fresh client first reads the account and its two containers (4 requests,
    # once: 7.04 at 90 payments), and a host timer may fall into either side's round
    assert 7.0 <= bare < 7.2
    assert 7.0 <= host < 7.2
    assert re.search(r"median ratio host/bare over 1 rounds: [\d.]+", out), out
