"""Cosmos adapter of the signature replay guard: a create whose 409 means "seen before"."""

from __future__ import annotations

import hashlib
from datetime import datetime

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceExistsError

from shared.platform.cosmos import guarded


class CosmosReplayGuard:
    """One item per signature (partition key ``/id``); in Azure the container's TTL purges
    entries after the skew window, locally they stay (the emulator has no TTL)."""

    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def first_use(self, signature_id: str, expires_at: datetime) -> bool:
        item_id = hashlib.sha256(signature_id.encode()).hexdigest()
        try:
            async with guarded(self._timeout):
                await self._c.create_item(
                    {"id": item_id, "expiresAt": expires_at.isoformat(), "ttl": 900}
                )
        except CosmosResourceExistsError:
            return False
        return True
