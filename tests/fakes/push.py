"""In-memory fakes of the push ports."""

from __future__ import annotations

from shared.platform.errors import Conflict, PreconditionFailed
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
