"""In-memory fakes of the push ports."""

from __future__ import annotations

from datetime import datetime

from shared.parties.models import SendLimits
from shared.platform.errors import Conflict, PreconditionFailed
from shared.push.senders import usage_id
from shared.push.store import InstallationState, Versioned


class MemoryInstallationStates:
    """In-memory :class:`InstallationStates` (unit tests)."""

    def __init__(self) -> None:
        self.items: dict[str, Versioned] = {}
        self._version = 0

    async def get(self, installation_id: str) -> Versioned | None:
        return self.items.get(installation_id)

    async def put(self, state: InstallationState, *, etag: str | None) -> str:
        current = self.items.get(state.id)
        if etag is None and current is not None:
            raise Conflict("the installation state was created meanwhile")
        if etag is not None and (current is None or current.etag != etag):
            raise PreconditionFailed("the installation state changed meanwhile")
        self._version += 1
        new_etag = f"v{self._version}"
        self.items[state.id] = Versioned(state.model_copy(), new_etag)
        return new_etag


class MemorySenderUsage:
    """In-memory :class:`SenderUsage`: ``counts[usage id] = [requests, recipients]``."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}

    async def take(
        self, sender: str, minute: datetime, *, recipients: int, limits: SendLimits
    ) -> bool:
        count = self.counts.setdefault(usage_id(sender, minute), [0, 0])
        if (
            count[0] + 1 > limits.requests_per_minute
            or count[1] + recipients > limits.recipients_per_minute
        ):
            return False
        count[0] += 1
        count[1] += recipients
        return True

    async def give_back(self, sender: str, minute: datetime, *, recipients: int) -> None:
        count = self.counts[usage_id(sender, minute)]
        count[0] -= 1
        count[1] -= recipients
