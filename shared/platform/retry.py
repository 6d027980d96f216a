"""Optimistic concurrency: run a read-decide-write step again while another writer got there first.

Every write that races is ETag-conditioned (or a create whose conflict means "someone else wrote
it"); the store raises :class:`~shared.platform.cosmos.StaleDocument` and the step re-reads and
decides again. :func:`retry_on_stale` is the one loop every capability uses for that;
:func:`in_hand_then_read` serves a step whose first attempt decides on a document it already
has (or on none: it creates).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.platform.cosmos import StaleDocument
from shared.platform.errors import Conflict

T = TypeVar("T")
D = TypeVar("D")

STALE_ATTEMPTS = 5


class KeptLosing(Exception):
    """Every attempt lost its race: the ``conflict`` of a caller that then ends quietly (it
    catches this), where losing means only "someone else is busy with it"."""


async def retry_on_stale(
    step: Callable[[], Awaitable[T]],
    *,
    conflict: str | Exception,
    attempts: int = STALE_ATTEMPTS,
) -> T:
    """Run ``step`` (which re-reads what it decides on) until no concurrent write beats it.

    Args:
        step: reads, decides and writes; raises StaleDocument when its write lost a race.
        conflict: what the caller gets when every attempt lost: a 409 :class:`Conflict` with this
            text, or this error (e.g. a DependencyError, 503 "retry", where losing that many
            races means the document is too busy rather than the caller's request at fault).
        attempts: how many times to try in all.

    Raises:
        Conflict: ``attempts`` writes in a row lost their race (or ``conflict`` if an error).
    """
    for _ in range(attempts - 1):
        try:
            return await step()
        except StaleDocument:
            continue
    try:
        return await step()
    except StaleDocument:
        raise (Conflict(conflict) if isinstance(conflict, str) else conflict) from None


def in_hand_then_read(in_hand: D, read: Callable[[], Awaitable[D]]) -> Callable[[], Awaitable[D]]:
    """What a step decides on: ``in_hand`` on its first attempt (a document just read or
    written, or None to create one without a read), then ``read()`` after each lost race."""
    first = [in_hand]

    async def current() -> D:
        return first.pop() if first else await read()

    return current
