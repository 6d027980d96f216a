"""Load generation shared by the benchmarks: a fixed number of requests at a fixed concurrency."""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from azure.cosmos.aio import ContainerProxy

from local.platform import Platform
from local.process import ROOT, Child

FUNCTION_KEY = "bench-function-key"
ADMIN_KEY = "bench-admin-key"


def bench_settings(database: str, **overrides: str) -> dict[str, str]:
    """The example local settings with the benches' keys, ``database`` and quiet logs."""
    values: dict[str, str] = json.loads((ROOT / "local.settings.example.json").read_text())[
        "Values"
    ]
    values.update(
        LOCAL_FUNCTION_KEY=FUNCTION_KEY,
        LOCAL_ADMIN_KEY=ADMIN_KEY,
        COSMOS_DATABASE=database,
        LOG_LEVEL="WARNING",
        **overrides,
    )
    return values


def start_devhost(platform: Platform, **env: str) -> Child:
    """The dev host serving ``function_app`` on the platform's emulators and dev clock."""
    return start_devhost_in(None, platform, **env)


def start_devhost_in(cwd: Path | None, platform: Platform, **env: str) -> Child:
    """:func:`start_devhost` of the copy of the app in ``cwd`` (its own code and static
    files; None: this one)."""
    return Child(
        "devhost",
        [
            sys.executable,
            "-m",
            "local.devhost",
            "--app",
            "function_app",
            "--port",
            "0",
            "--clock-file",
            str(platform.clock_file),
        ],
        env={**platform.env, "LOG_LEVEL": "WARNING", **env},
        cwd=cwd or ROOT,
    )


async def upsert_all(
    container: ContainerProxy, documents: list[dict[str, Any]], concurrency: int
) -> float:
    """Seconds to upsert ``documents`` with the SDK, ``concurrency`` at a time (the benches'
    raw baseline)."""
    todo = iter(documents)

    async def worker() -> None:
        for document in todo:
            await container.upsert_item(document)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


@dataclass
class Figures:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.name:<28} {self.rps:8.0f} req/s  p50 {self.p50_ms:7.2f} ms  "
            f"p99 {self.p99_ms:7.2f} ms  errors {self.errors}"
        )


async def load(
    name: str,
    call: Callable[[aiohttp.ClientSession, int], Awaitable[bool]],
    *,
    total: int,
    concurrency: int = 32,
    warmup: int = 100,
) -> Figures:
    """Run ``call`` ``total`` times, ``concurrency`` at once, after ``warmup`` calls."""
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for i in range(warmup):
            await call(session, i)
        latencies: list[float] = []
        errors = 0
        counter = iter(range(total))

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                started = time.perf_counter()
                ok = await call(session, i)
                latencies.append(time.perf_counter() - started)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()
    return Figures(
        name,
        total,
        seconds,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.99) - 1] * 1000,
        errors,
    )
