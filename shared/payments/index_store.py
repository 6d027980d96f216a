"""Where the notice index lives: the payments container, partition ``debtor:<userId>``.

One document per notice a citizen owes (:mod:`shared.payments.index`), id
``notice:<position>``: the consumer's read of an entry is a point read, and a citizen's list
(open or history) is ONE single-partition query: keyset pages on ``sortKey`` (when the notice
was published, then its id), newest first, with the continuation token of the receipts' store
(the last key of the page). A partition holds what one citizen owes, bounded by what ECs issue
to one person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.notices.times import fixed_time
from shared.payments.index import Document, debtor_partition
from shared.platform.cosmos import create_new, guarded, replace_unchanged

_OPEN = "c.open = true AND (c.switchToExpired = false OR c.dueDate > @now)"
_HISTORY = "(c.open = false OR (c.switchToExpired = true AND c.dueDate <= @now))"


class IndexStore(Protocol):
    async def get(self, user_id: str, doc_id: str) -> Document | None:
        """The entry (with ``_etag``); None if there is none."""
        ...

    async def put(self, document: Document, etag: str | None) -> Document:
        """Create (``etag`` None) or replace if unchanged since ``etag``; StaleDocument if
        another write got there first. Returns it as written."""
        ...

    async def page(
        self, user_id: str, *, history: bool, now: datetime, limit: int, after: str | None
    ) -> list[Document]:
        """Up to ``limit`` entries (open ones, or the history) newest first, with ``sortKey``
        below ``after`` (None: from the newest)."""
        ...


class CosmosIndexStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, user_id: str, doc_id: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                found: Document = await self._c.read_item(
                    doc_id, partition_key=debtor_partition(user_id)
                )
        except CosmosResourceNotFoundError:
            return None
        return found

    async def put(self, document: Document, etag: str | None) -> Document:
        if etag is None:
            return await create_new(self._c, document, self._timeout)
        return await replace_unchanged(self._c, document, self._timeout, etag)

    async def page(
        self, user_id: str, *, history: bool, now: datetime, limit: int, after: str | None
    ) -> list[Document]:
        query = "SELECT TOP @n * FROM c WHERE c.kind = 'notice' AND " + (
            _HISTORY if history else _OPEN
        )
        parameters: list[dict[str, Any]] = [
            {"name": "@n", "value": limit},
            {"name": "@now", "value": fixed_time(now)},
        ]
        if after is not None:
            query += " AND c.sortKey < @after"
            parameters.append({"name": "@after", "value": after})
        query += " ORDER BY c.sortKey DESC"
        found: list[Document] = []
        async with guarded(self._timeout * 4):
            async for item in self._c.query_items(
                query, parameters=parameters, partition_key=debtor_partition(user_id)
            ):
                found.append(item)
        return found
