"""Searching an EC's positions, a page at a time (the back office's notices table).

INTERIM: positions are partitioned one per position (docs/notices.md), so
:class:`CosmosPositionSearch` is a query across partitions filtered by the EC. It pages by key
(``id`` after the last one shown, ``TOP`` one more than the page), so no page reads what an
earlier page read, but every page still fans out to every physical partition. It sits behind
:class:`PositionSearch` so that an EC-partitioned index fed by the archive's events can replace
it without touching a caller: docs/backoffice.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy

from shared.notices.models import Status
from shared.notices.times import fixed_time
from shared.platform.clock import ROME
from shared.platform.cosmos import Document, guarded

MAX_PAGE = 100


@dataclass(frozen=True)
class PositionFilter:
    """What to look for; every field left None matches everything.

    ``status`` is the stored status: a VALID position past its date with switchToExpired is
    found as VALID until the expiry timer stores EXPIRED (it is shown as EXPIRED).
    ``due_from`` and ``due_to`` are calendar days in Europe/Rome, both included.
    """

    iuv: str | None = None
    nav: str | None = None
    debtor: str | None = None
    status: Status | None = None
    due_from: date | None = None
    due_to: date | None = None


@dataclass(frozen=True)
class PositionPage:
    documents: list[Document]
    next_after: str | None
    """The ``after`` of the next page; None on the last one."""


class PositionSearch(Protocol):
    async def search(
        self, ec: str, where: PositionFilter, *, after: str | None, limit: int
    ) -> PositionPage:
        """Up to ``limit`` present positions of ``ec`` matching ``where``, by id, after
        ``after``."""
        ...


def day_start(day: date) -> str:
    """The stored form of the first instant of ``day`` in Europe/Rome."""
    return fixed_time(datetime.combine(day, time(0), tzinfo=ROME))


ARCHIVE_SCOPE = ("c.kind = 'position'", "(NOT IS_DEFINED(c.tombstone) OR c.tombstone = false)")
"""The present positions among the archive's documents."""


def query_of(
    ec: str,
    where: PositionFilter,
    after: str | None,
    limit: int,
    scope: tuple[str, ...] = ARCHIVE_SCOPE,
) -> tuple[str, list[dict[str, Any]]]:
    """The SQL and its parameters (values are always parameters, never text in the query);
    ``scope``: the clauses that pick present positions among the container's documents."""
    clauses = [*scope, "c.paFiscalCode = @ec"]
    parameters: list[dict[str, Any]] = [{"name": "@ec", "value": ec}]

    def add(clause: str, name: str, value: Any) -> None:
        clauses.append(clause)
        parameters.append({"name": name, "value": value})

    if where.iuv is not None:
        add("c.iuv = @iuv", "@iuv", where.iuv)
    if where.nav is not None:
        add("c.nav = @nav", "@nav", where.nav)
    if where.debtor is not None:
        add("c.entityFiscalCode = @debtor", "@debtor", where.debtor)
    if where.status is not None:
        add("c.status = @status", "@status", where.status)
    if where.due_from is not None:
        add("c.expirationDate >= @from", "@from", day_start(where.due_from))
    if where.due_to is not None:
        add("c.expirationDate < @to", "@to", day_start(where.due_to + timedelta(days=1)))
    if after is not None:
        add("c.id > @after", "@after", after)
    sql = f"SELECT TOP {int(limit)} * FROM c WHERE {' AND '.join(clauses)} ORDER BY c.id"
    return sql, parameters


class CosmosPositionSearch:
    """The interim search: one query across the archive's partitions (see the module's doc)."""

    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def search(
        self, ec: str, where: PositionFilter, *, after: str | None, limit: int
    ) -> PositionPage:
        sql, parameters = query_of(ec, where, after, limit + 1)
        found: list[Document] = []
        async with guarded(self._timeout * 6):
            async for item in self._c.query_items(sql, parameters=parameters):
                found.append(item)
        return page_of(found, limit)


def page_of(found: list[Document], limit: int) -> PositionPage:
    """A page of ``limit`` from ``limit + 1`` found: the extra one says there is a next page."""
    documents = found[:limit]
    more = len(found) > limit
    return PositionPage(documents, documents[-1]["id"] if more and documents else None)
