"""In-memory fakes of the auth ports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.auth.signature import _require_aware


class MemoryReplayGuard:
    """In-process :class:`ReplayGuard` for unit tests and fakes.

    Args:
        clock: returns the current time (timezone-aware); expired ids are purged
            on every call.
    """

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._seen: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._seen)

    async def first_use(self, signature_id: str, expires_at: datetime) -> bool:
        _require_aware(expires_at)
        now = self._clock()
        _require_aware(now)
        expired = [key for key, until in self._seen.items() if until <= now]
        for key in expired:
            del self._seen[key]
        if signature_id in self._seen:
            return False
        self._seen[signature_id] = expires_at
        return True
