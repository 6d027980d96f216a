"""Keeping the EC-scoped positions index (:mod:`shared.notices.ec_index`): the queue consumer
of the archive's events, and the operator's rebuild of one EC.

An event names a position (its EC and IUV); the consumer reads that position from the archive
(one point read) and applies what it read, rather than the event's own data: the event's
snapshot holds what a citizen sees, the back office's table shows the whole position. Reading
the newest state is also what makes the consumer safe in any order: a late, older event still
applies the archive's current state, and the order key refuses anything older than the entry.

The rebuild pages through the archive's positions of one EC (the interim cross-partition
search, once) and applies each the same way, so it may run beside the consumer.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.notices import ec_index
from shared.notices.ec_index import Document
from shared.notices.ec_index_store import EcIndexStore
from shared.notices.identity import position_id
from shared.notices.search import PositionFilter, PositionSearch
from shared.platform.errors import DependencyError, Invalid, PermanentError
from shared.platform.retry import retry_on_stale
from shared.platform.values import SafeText, decode_json

logger = logging.getLogger(__name__)

REBUILD_PAGE = 100


class Archived(Protocol):
    async def stored(self, pa_fiscal_code: str, iuv: str) -> Document | None:
        """The archive's document of a position (present or tombstoned); None if absent."""
        ...


class _Named(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    ec_fiscal_code: SafeText = Field(alias="ecFiscalCode", min_length=1, max_length=35)
    iuv: SafeText = Field(min_length=1, max_length=255)


class PositionEvent(BaseModel):
    """What the index reads of an archive event: which position it is about."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: SafeText = Field(min_length=1, max_length=100)
    data: _Named


class RebuildReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    ec_fiscal_code: str = Field(alias="ecFiscalCode")
    read: int = Field(description="Positions read from the archive.")
    written: int = Field(description="Entries created or brought up to date.")


class PositionsIndex:
    def __init__(self, store: EcIndexStore, archive: Archived, scan: PositionSearch) -> None:
        self._store = store
        self._archive = archive
        self._scan = scan

    async def take(self, body: bytes) -> Document | None:
        """Apply one archive event (the queue's message body); the entry it leaves, or None
        when the archive no longer holds the position.

        Raises:
            PermanentError: not an archive event.
        """
        try:
            event = PositionEvent.model_validate(decode_json(body))
        except Invalid as error:
            raise PermanentError(f"not an archive event: {error.detail}") from None
        except ValidationError as error:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            raise PermanentError(f"not an archive event (check {', '.join(fields)})") from None
        archived = await self._archive.stored(event.data.ec_fiscal_code, event.data.iuv)
        if archived is None:
            logger.info("event %s: the position is not in the archive; not indexed", event.id)
            return None
        written, _ = await self.apply(archived)
        return written

    async def apply(self, archived: Document) -> tuple[Document, bool]:
        """Bring the entry of ``archived`` up to it; the entry, and whether it was written."""
        ec = archived["paFiscalCode"]
        doc_id = position_id(ec, archived["iuv"])

        async def step() -> tuple[Document, bool]:
            current = await self._store.get(ec, doc_id)
            changed = ec_index.apply(current, archived)
            if changed is None:
                assert current is not None  # apply changes nothing only on an entry
                return current, False
            changed["id"] = doc_id
            etag = current["_etag"] if current else None
            return await self._store.put(changed, etag), True

        return await retry_on_stale(
            step, conflict=DependencyError("cosmos", f"index entry {doc_id} kept changing")
        )

    async def rebuild(self, ec: str) -> RebuildReport:
        """Index every present position of ``ec`` the archive holds (one pass)."""
        read = written = 0
        after: str | None = None
        while True:
            page = await self._scan.search(ec, PositionFilter(), after=after, limit=REBUILD_PAGE)
            for document in page.documents:
                read += 1
                written += (await self.apply(document))[1]
            if page.next_after is None:
                return RebuildReport(ec_fiscal_code=ec, read=read, written=written)
            after = page.next_after
