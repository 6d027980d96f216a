"""Cosmos adapter of the party registry: one container, partition key ``/id``.

Three kinds of item: ``party:<partyId>`` (the party), ``user:<objectId>`` (a back-office user:
:mod:`shared.parties.users`) and ``key:<sha256 of the key>`` (one per key,
naming its party), so authenticating a key is two point reads.
"""

from __future__ import annotations

from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.platform.cosmos import guarded


class PartyStore(Protocol):
    async def get(self, item_id: str) -> dict[str, Any] | None: ...
    async def put(self, item: dict[str, Any]) -> None: ...
    async def keys_of(self, party_id: str) -> list[dict[str, Any]]: ...
    async def delete(self, item_id: str) -> None: ...


class CosmosPartyStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, item_id: str) -> dict[str, Any] | None:
        try:
            async with guarded(self._timeout):
                item: dict[str, Any] = await self._c.read_item(item_id, partition_key=item_id)
                return item
        except CosmosResourceNotFoundError:
            return None

    async def put(self, item: dict[str, Any]) -> None:
        async with guarded(self._timeout):
            await self._c.upsert_item(item)

    async def delete(self, item_id: str) -> None:
        try:
            async with guarded(self._timeout):
                await self._c.delete_item(item_id, partition_key=item_id)
        except CosmosResourceNotFoundError:
            pass  # gone already: removing twice is removing once

    async def keys_of(self, party_id: str) -> list[dict[str, Any]]:
        # Operators only (rotation): cross-partition is fine.
        query = "SELECT * FROM c WHERE c.kind = 'key' AND c.partyId = @p"
        found: list[dict[str, Any]] = []
        async with guarded(self._timeout * 4):
            async for item in self._c.query_items(
                query, parameters=[{"name": "@p", "value": party_id}]
            ):
                found.append(item)
        return found
