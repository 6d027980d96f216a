"""Where the journal lives: its own container, partition ``journal:<EC>:<yyyy-mm>``.

The adapter only creates and reads: there is no replace or delete here, so nothing in the app
can change an entry (each expires on its own ``ttl``).
"""

from __future__ import annotations

from typing import Any

from azure.cosmos.aio import ContainerProxy

from shared.journal.service import Document
from shared.platform.cosmos import StaleDocument, create_new, guarded


class CosmosJournalStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def create(self, document: Document) -> bool:
        try:
            await create_new(self._c, document, self._timeout)
        except StaleDocument:
            return False
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
    ) -> list[Document]:
        query = "SELECT TOP @n * FROM c WHERE c.sortKey >= @low AND c.sortKey < @high"
        parameters: list[dict[str, Any]] = [
            {"name": "@n", "value": limit},
            {"name": "@low", "value": low},
            {"name": "@high", "value": high},
        ]
        if kind is not None:
            query += " AND c.kind = @kind"
            parameters.append({"name": "@kind", "value": kind})
        if object_ is not None:
            query += " AND c.object = @object"
            parameters.append({"name": "@object", "value": object_})
        query += " ORDER BY c.sortKey DESC"
        found: list[Document] = []
        async with guarded(self._timeout * 4):
            async for item in self._c.query_items(
                query, parameters=parameters, partition_key=partition
            ):
                found.append(item)
        return found
