"""Optimistic concurrency: run a read-decide-write step again while another writer got there first.

Every write that races is ETag-conditioned (or a create whose conflict means "someone else wrote
it"); the store raises :class:`~shared.platform.cosmos.StaleDocument` and the step re-reads and
decides again. :func:`retry_on_stale` is the one loop every capability uses for that.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.platform.cosmos import StaleDocument
from shared.platform.errors import Conflict

T = TypeVar("T")

STALE_ATTEMPTS = 5


async def retry_on_stale(
    step: Callable[[], Awaitable[T]],
    *,
    conflict: str,
    attempts: int = STALE_ATTEMPTS,
) -> T:
    """Run ``step`` (which re-reads what it decides on) until no concurrent write beats it.

    Args:
        step: reads, decides and writes; raises StaleDocument when its write lost a race.
        conflict: what the caller is told (409) when every attempt lost.
        attempts: how many times to try in all.

    Raises:
        Conflict: ``attempts`` writes in a row lost their race.
    """
    for _ in range(attempts - 1):
        try:
            return await step()
        except StaleDocument:
            continue
    try:
        return await step()
    except StaleDocument:
        raise Conflict(conflict) from None
