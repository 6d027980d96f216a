"""Where the EC-scoped positions index lives: the archive's container, partition
``ec:<EC fiscal code>`` (:mod:`shared.notices.ec_index`).

An entry's id is its position's id, so the consumer's read is a point read and the search's
keyset pages (``id`` after the last one shown) are the interim search's, cursors included.
A partition holds one EC's positions: about 1 KB each, 20 GB is some twenty million
positions, far beyond what one EC issues while its positions are kept.
"""

from __future__ import annotations

from typing import Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.notices.ec_index import KIND, Document, ec_partition
from shared.notices.search import PositionFilter, PositionPage, page_of, query_of
from shared.platform.cosmos import create_new, guarded, replace_unchanged


class EcIndexStore(Protocol):
    async def get(self, ec: str, doc_id: str) -> Document | None:
        """The entry (with ``_etag``); None if there is none."""
        ...

    async def put(self, document: Document, etag: str | None) -> Document:
        """Create (``etag`` None) or replace if unchanged since ``etag``; StaleDocument if
        another write got there first."""
        ...


class PaidPositions(Protocol):
    async def paid(
        self, ec: str, *, low: str | None, high: str | None, after: str | None, limit: int
    ) -> list[Document]:
        """Up to ``limit`` PAID positions of ``ec`` with ``low <= paidAt < high`` (stored
        times; None: unbounded), by ``paidKey`` after ``after``."""
        ...


INDEX_SCOPE = (f"c.kind = '{KIND}'", "c.present = true")
"""The present positions among the index's entries (the archive's filters apply unchanged)."""


class CosmosEcIndex:
    """The index's store, and the back office's search on it (a :class:`PositionSearch`)."""

    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, ec: str, doc_id: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                found: Document = await self._c.read_item(doc_id, partition_key=ec_partition(ec))
        except CosmosResourceNotFoundError:
            return None
        return found

    async def put(self, document: Document, etag: str | None) -> Document:
        if etag is None:
            return await create_new(self._c, document, self._timeout)
        return await replace_unchanged(self._c, document, self._timeout, etag)

    async def paid(
        self, ec: str, *, low: str | None, high: str | None, after: str | None, limit: int
    ) -> list[Document]:
        clauses = [*INDEX_SCOPE, "c.status = 'PAID'"]
        parameters: list[dict[str, object]] = []
        for clause, name, value in (
            ("c.paidAt >= @low", "@low", low),
            ("c.paidAt < @high", "@high", high),
            ("c.paidKey > @after", "@after", after),
        ):
            if value is not None:
                clauses.append(clause)
                parameters.append({"name": name, "value": value})
        sql = f"SELECT TOP {int(limit)} * FROM c WHERE {' AND '.join(clauses)} ORDER BY c.paidKey"
        found: list[Document] = []
        async with guarded(self._timeout * 2):
            async for item in self._c.query_items(
                sql, parameters=parameters, partition_key=ec_partition(ec)
            ):
                found.append(item)
        return found

    async def search(
        self, ec: str, where: PositionFilter, *, after: str | None, limit: int
    ) -> PositionPage:
        sql, parameters = query_of(ec, where, after, limit + 1, INDEX_SCOPE)
        found: list[Document] = []
        async with guarded(self._timeout * 2):
            async for item in self._c.query_items(
                sql, parameters=parameters, partition_key=ec_partition(ec)
            ):
                found.append(item)
        return page_of(found, limit)
