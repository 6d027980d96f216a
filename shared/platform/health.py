"""Liveness and readiness: configuration, Cosmos and Service Bus (and the probes the
composition root adds, such as decrypting with a key), with a short timeout and a
cached result so a burst of probes does not become a burst of dependency calls."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel

from shared.platform.clients import Clients
from shared.platform.config import get_settings
from shared.platform.errors import ConfigurationError


class Check(BaseModel):
    ok: bool
    detail: str
    ms: float


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    live: bool
    checks: dict[str, Check]


async def _timed(probe: Callable[[], Awaitable[None]], timeout: float) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await probe()
        detail, ok = "ok", True
    except TimeoutError:
        detail, ok = f"no answer within {timeout:g}s", False
    except Exception as error:  # a probe reports any failure, it never raises
        detail, ok = f"{type(error).__name__}: {str(error)[:200]}", False
    return Check(ok=ok, detail=detail, ms=round((time.perf_counter() - started) * 1000, 1))


class HealthProbe:
    """Checks the dependencies; caches the answer for ``HEALTH_CACHE_SECONDS``."""

    def __init__(
        self,
        clients_factory: Callable[[], Clients],
        extra: dict[str, Callable[[], None]] | None = None,
        probes: dict[str, Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self._clients_factory = clients_factory
        self._extra = extra or {}
        self._probes = probes or {}
        self._cached: tuple[float, Health] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> Health:
        async with self._lock:
            if self._cached and self._cached[0] > time.monotonic():
                return self._cached[1]
            health, ttl = await self._check()
            self._cached = (time.monotonic() + ttl, health)
            return health

    async def _check(self) -> tuple[Health, float]:
        checks: dict[str, Check] = {}
        try:
            settings = get_settings()
            for validate in self._extra.values():
                validate()
        except ConfigurationError as error:
            checks["configuration"] = Check(ok=False, detail=error.report, ms=0)
            return Health(status="unavailable", live=True, checks=checks), 0.0
        checks["configuration"] = Check(ok=True, detail="ok", ms=0)
        clients = self._clients_factory()
        timeout = settings.health_timeout_seconds

        async def cosmos() -> None:
            database = clients.cosmos().get_database_client(settings.cosmos_database)
            await database.read()

        async def servicebus() -> None:
            async with clients.sending(settings.wallet_events_queue) as sender:
                await sender.create_message_batch()  # opens the link: the broker answers

        found = await asyncio.gather(
            _timed(cosmos, timeout),
            _timed(servicebus, timeout),
            *(_timed(probe, timeout) for probe in self._probes.values()),
        )
        checks["cosmos"], checks["servicebus"] = found[:2]
        checks.update(zip(self._probes, found[2:], strict=True))
        ok = all(c.ok for c in checks.values())
        return (
            Health(status="ok" if ok else "unavailable", live=True, checks=checks),
            settings.health_cache_seconds,
        )
