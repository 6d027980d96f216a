"""Benchmark of the dev host: an HTTP function doing one Cosmos point read, beside a bare
aiohttp handler doing the same read with the same client, in the same run; and start-up time
beside the time to import just the SDKs.

Run: ``make bench`` or ``python -m bench.host``. Prints figures and ratios; asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

from bench.common import load
from local.platform import DEMO_EC, Platform
from local.process import ROOT, Child

ADMIN_KEY = "bench-admin-key"
TOTAL = 4000


def settings() -> dict[str, str]:
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values.update(
        LOCAL_FUNCTION_KEY="bench-function-key", LOCAL_ADMIN_KEY=ADMIN_KEY, COSMOS_DATABASE="bench"
    )
    return values


def startup_seconds(env: dict[str, str]) -> float:
    """Process start to the first served request of the dev host."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.devhost", "--app", "function_app", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        port = None
        for line in proc.stdout:
            if line.startswith("READY "):
                port = int(line.split()[1])
                break
        # the function the throughput figures use: one Cosmos point read
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/ops/parties/{DEMO_EC}",
            headers={"x-functions-key": ADMIN_KEY},
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait()


def import_seconds() -> float:
    """A process that only imports the SDKs the app needs."""
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import azure.functions, azure.cosmos.aio, "
            "azure.servicebus.aio, azure.identity.aio, aiohttp, pydantic, "
            "pydantic_settings, jwt",
        ],
        check=True,
        cwd=ROOT,
    )
    return time.perf_counter() - started


async def measure(host_url: str, bare_url: str) -> None:
    async def via_host(session: aiohttp.ClientSession, i: int) -> bool:
        async with session.get(
            f"{host_url}/api/ops/parties/{DEMO_EC}", headers={"x-functions-key": ADMIN_KEY}
        ) as response:
            await response.read()
            return response.status == 200

    async def via_bare(session: aiohttp.ClientSession, i: int) -> bool:
        async with session.get(f"{bare_url}/read/{DEMO_EC}") as response:
            await response.read()
            return response.status == 200

    # alternate the two so a noisy moment hits both
    host_runs, bare_runs = [], []
    for _ in range(2):
        bare_runs.append(await load("bare aiohttp + Cosmos read", via_bare, total=TOTAL // 2))
        host_runs.append(await load("dev host + Cosmos read", via_host, total=TOTAL // 2))
    for figures in (*bare_runs, *host_runs):
        print(figures.line())
    host_rps = sum(f.rps for f in host_runs) / len(host_runs)
    bare_rps = sum(f.rps for f in bare_runs) / len(bare_runs)
    print(f"ratio host/bare: {host_rps / bare_rps:.2f}  (target >= 0.7)")


def main() -> None:
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), settings(), azurite=False)
        try:
            platform.provision()
            env = {**platform.env, "LOG_LEVEL": "WARNING"}
            host = Child(
                "devhost",
                [sys.executable, "-m", "local.devhost", "--app", "function_app", "--port", "0"],
                env=env,
            )
            bare = Child("bare", [sys.executable, "-m", "bench.bare_server"], env=env)
            try:
                asyncio.run(
                    measure(f"http://127.0.0.1:{host.port}", f"http://127.0.0.1:{bare.port}")
                )
            finally:
                host.stop()
                bare.stop()
            full_env = {**os.environ, **env}
            starts = sorted(startup_seconds(full_env) for _ in range(3))
            imports = sorted(import_seconds() for _ in range(3))
            print(
                f"start-up to first request: {starts[1] * 1000:.0f} ms; SDK imports alone: "
                f"{imports[1] * 1000:.0f} ms; ratio {starts[1] / imports[1]:.2f} "
                "(target <= 1.3)"
            )
        finally:
            platform.stop()


if __name__ == "__main__":
    main()
