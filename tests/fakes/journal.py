"""An in-memory journal store: create-only, queried as the Cosmos adapter queries."""

from __future__ import annotations

import copy
from typing import Any

from shared.platform.errors import DependencyError


class MemoryJournalStore:
    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], dict[str, Any]] = {}

    async def create(self, document: dict[str, Any]) -> bool:
        key = (document["pk"], document["id"])
        if key in self.documents:
            return False
        self.documents[key] = copy.deepcopy(document)
        return True

    async def page(
        self,
        partition: str,
        *,
        low: str,
        high: str,
        kind: str | None,
        object_: str | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        found = [
            copy.deepcopy(d)
            for (pk, _), d in self.documents.items()
            if pk == partition
            and low <= d["sortKey"] < high
            and (kind is None or d["kind"] == kind)
            and (object_ is None or d.get("object") == object_)
        ]
        found.sort(key=lambda d: d["sortKey"], reverse=True)
        return found[:limit]


class DownJournalStore(MemoryJournalStore):
    """The journal's container, which a test can take down (``down = True``)."""

    down = False

    async def create(self, document: dict[str, Any]) -> bool:
        if self.down:
            raise DependencyError("cosmos", "the journal's container is down")
        return await super().create(document)
