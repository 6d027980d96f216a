"""Time as a dependency.

Services and auth checks take a :class:`Clock`. In Azure it is :class:`SystemClock`. The local
dev host installs its one dev clock with :func:`use_clock` before it serves anything, so every
piece of the process that asks :func:`current_clock` follows it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

ROME = ZoneInfo("Europe/Rome")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


_current: Clock = SystemClock()


def current_clock() -> Clock:
    """The clock of this process."""
    return _current


def use_clock(clock: Clock) -> None:
    """Install the process's clock; only a composition root (the dev host) calls this."""
    global _current
    _current = clock
