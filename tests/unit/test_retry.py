"""The ETag retry loop (shared/platform/retry.py)."""

from __future__ import annotations

import pytest

from shared.platform.cosmos import StaleDocument
from shared.platform.errors import Conflict, DependencyError
from shared.platform.retry import in_hand_then_read, retry_on_stale


class Racing:
    """A step whose write loses ``losses`` races, then wins."""

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.attempts = 0

    async def __call__(self) -> str:
        self.attempts += 1
        if self.attempts <= self.losses:
            raise StaleDocument("doc")
        return "written"


async def test_a_step_is_run_again_until_its_write_wins() -> None:
    step = Racing(losses=4)
    assert await retry_on_stale(step, conflict="busy", attempts=5) == "written"
    assert step.attempts == 5


async def test_every_race_lost_is_a_conflict_with_the_callers_text() -> None:
    step = Racing(losses=5)
    with pytest.raises(Conflict, match="busy"):
        await retry_on_stale(step, conflict="busy", attempts=5)
    assert step.attempts == 5


async def test_every_race_lost_can_end_with_the_callers_own_error() -> None:
    busy = DependencyError("cosmos", "position kept changing", retry_after=1)
    with pytest.raises(DependencyError) as caught:
        await retry_on_stale(Racing(losses=8), conflict=busy, attempts=8)
    assert caught.value is busy


async def test_the_document_in_hand_serves_the_first_attempt_then_it_is_read() -> None:
    reads: list[int] = []

    async def read() -> str | None:
        reads.append(1)
        return "fresh"

    current = in_hand_then_read(None, read)
    assert await current() is None  # the first attempt creates without a read
    assert await current() == "fresh"
    assert await current() == "fresh"
    assert len(reads) == 2
