"""In-memory fakes of the parties ports."""

from __future__ import annotations

from typing import Any


class MemoryPartyStore:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}

    async def get(self, item_id: str) -> dict[str, Any] | None:
        return self.items.get(item_id)

    async def put(self, item: dict[str, Any]) -> None:
        self.items[item["id"]] = dict(item)

    async def delete(self, item_id: str) -> None:
        self.items.pop(item_id, None)

    async def keys_of(self, party_id: str) -> list[dict[str, Any]]:
        return [
            i
            for i in self.items.values()
            if i.get("kind") == "key" and i.get("partyId") == party_id
        ]
