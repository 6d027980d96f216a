"""The outage stage's running parts (``tests/netns/app_outage.py``): its options, the
processes, and the loops that sample sockets, probe new connections and pace the clients."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from local.platform import Platform
from local.process import Child
from tests.netns.measure import (
    Call,
    can_connect,
    cores_used,
    cpu_seconds,
    errno_of,
    machine_cores,
    sockets_by_destination,
)

HOST_PORT = 7071
SAMPLE_SECONDS = 0.1
PROBE_SECONDS = 0.2


@dataclass(frozen=True)
class Options:
    pushes: int = 5000
    citizens: int = 100
    per_call: bool = False
    baseline_seconds: float = 5.0
    storm_seconds: float = 90.0
    wallet_rate: float = 20.0
    bus_rate: float = 2.0
    fresh_bus_every: float = 2.0
    bare_rate: float = 10.0
    timeline: bool = False
    settle: bool = False


class CountingChild(Child):
    """A child whose every output line is looked at (``Child`` keeps only the last ones)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.eaddrnotavail_lines = 0
        super().__init__(*args, **kwargs)

    def _remember(self, line: str) -> None:
        if "Cannot assign requested address" in line:
            self.eaddrnotavail_lines += 1
        super()._remember(line)


@dataclass
class Stage:
    """The running platform, front and dev host, and what the clients recorded."""

    options: Options
    platform: Platform
    front: Child
    host: CountingChild
    env: dict[str, str]
    destinations: dict[int, str]
    phase: str = "setup"
    calls: list[Call] = field(default_factory=list)
    probes: dict[str, Counter[str]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    max_in_use: dict[str, int] = field(default_factory=dict)
    setup_max_in_use: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, tuple[float, dict[str, float]]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{HOST_PORT}"

    def mark(self, phase: str) -> None:
        self.phase = phase
        self.marks[phase] = round(time.monotonic() - self.started, 2)
        self.cpu[phase] = (time.monotonic(), cpu_seconds(self.processes()))

    def processes(self) -> dict[str, int]:
        """The stage's processes by name; ``driver`` is this one (the clients, the sampler)."""
        platform = self.platform
        return {
            "driver": os.getpid(),
            "devhost": self.host.proc.pid,
            "cosmos": platform.cosmos.proc.pid,
            "broker": platform.broker.proc.pid,
            "hubs": platform.nhsim.proc.pid,
            "front": self.front.proc.pid,
            "psp": platform.psp.proc.pid,
        }

    def cores(self) -> dict[str, Any]:
        """Cores each process used on average in the baseline and in the storm."""
        spans = {"baseline": ("baseline", "storm"), "storm": ("storm", "done")}
        used: dict[str, Any] = {
            phase: cores_used(self.cpu[begin], self.cpu[end])
            for phase, (begin, end) in spans.items()
            if begin in self.cpu and end in self.cpu
        }
        used["machineCores"] = machine_cores()
        return used

    async def timed(self, kind: str, call: Callable[[], Awaitable[bool]]) -> None:
        phase = self.phase
        began = time.perf_counter()
        try:
            ok = await call()
        except Exception as error:
            self.calls.append(
                Call(phase, kind, False, time.perf_counter() - began, errno_of(error), _text(error))
            )
            return
        self.calls.append(Call(phase, kind, ok, time.perf_counter() - began))

    # ------------------------------------------------------------ background loops
    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            counts = sockets_by_destination(self.destinations)
            for destination, states in counts.items():
                in_use = sum(states.values())
                self.max_in_use[destination] = max(self.max_in_use.get(destination, 0), in_use)
            if self.options.timeline:
                self.timeline.append(
                    {
                        "t": round(time.monotonic() - self.started, 2),
                        "phase": self.phase,
                        "sockets": counts,
                    }
                )
            await _pause(stop, SAMPLE_SECONDS)

    async def probe(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for port, name in self.destinations.items():
                if name not in ("front", "cosmos", "devhost"):
                    continue
                ok, number = await can_connect(port)
                tally = self.probes.setdefault(f"{self.phase}:{name}", Counter())
                tally["attempts"] += 1
                if not ok:
                    tally["eaddrnotavail" if number == errno.EADDRNOTAVAIL else "other"] += 1
            await _pause(stop, PROBE_SECONDS)

    async def at_rate(
        self, stop: asyncio.Event, rate: float, call: Callable[[int], Awaitable[None]]
    ) -> None:
        """Start ``call(i)`` ``rate`` times a second, whatever the earlier ones take."""
        pending: set[asyncio.Task[None]] = set()
        began = time.monotonic()
        i = 0
        while not stop.is_set():
            task = asyncio.create_task(call(i))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            await _pause(stop, max(0.0, began + i / rate - time.monotonic()))
        await asyncio.gather(*pending, return_exceptions=True)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]
