"""Cosmos adapters of the archive: positions, and the progress of bulk uploads.

Positions (container ``NOTICES_CONTAINER``, partition key ``/pk``): ``id`` = ``pk`` = the
position's IUPD ``ACA_<paFiscalCode>_<iuv>`` (its hash when it is not a plain Cosmos id), so
every logical partition holds one notice (bounded whatever an EC issues) and the stand-in's read
of a nav ``"3" + iuv`` is one point read. A nav that is not ``"3" + iuv`` has its own claim
document (``kind`` = ``nav``) naming its position. Only the expiry timer and the one-off re-key
of positions stored under ``<paFiscalCode>:<nav>`` query across partitions.

Bulk uploads (container ``NOTICE_BULKS_CONTAINER``, partition key ``/pk`` = the bulk id): one
``bulk`` document (who, when, how many lines and chunks) and one ``chunk`` document per finished
chunk (its counts and rejected lines). A bulk has at most a few hundred documents, and its report
is one point read plus one single-partition query. Listing a broker's uploaded files for a week
(pagoPA's ``.../debtpositions/files``) is the one query across bulks.

Every write is a create (409: it exists) or an ETag-conditioned replace;
:class:`StaleDocument` tells the service to reload and decide again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from shared.notices.times import fixed_time
from shared.platform.cosmos import Document as Document  # re-exported: the service's types
from shared.platform.cosmos import StaleDocument as StaleDocument
from shared.platform.cosmos import (
    create_new,
    guarded,
    replace_unchanged,
)

_DUE = (
    "SELECT TOP {limit} * FROM c WHERE c.kind = 'position' AND c.status = 'VALID' "
    "AND c.switchToExpired = true AND c.expiresAt <= @now"
)
_LEGACY = (
    "SELECT TOP {limit} * FROM c WHERE c.kind = 'position' AND (NOT IS_DEFINED(c.iupd)) "
    "AND IS_DEFINED(c.paFiscalCode) AND IS_DEFINED(c.iuv)"
)
_CHUNKS = "SELECT * FROM c WHERE c.kind = 'chunk'"
_CHUNK_COUNTS = (
    "SELECT c.id, c.chunk, c.lines, c.written, c.rejected, c.at FROM c WHERE c.kind = 'chunk'"
)
_UPLOADS = (
    "SELECT c.bulkId, c.receivedAt FROM c WHERE c.kind = 'bulk' AND c.broker = @broker "
    "AND c.organization = @organization AND c.receivedAt >= @start AND c.receivedAt < @end"
)
BULK_DOC_ID = "bulk"


def chunk_doc_id(chunk: int) -> str:
    return f"chunk:{chunk:05d}"


def bulk_document(
    bulk_id: str, party_id: str, blob: str, accepted: int, chunks: int, now: datetime
) -> Document:
    """An upload's own document (its chunks' results are documents beside it), before what
    one kind of upload adds (an NDJSON bulk's segregation codes, a file's format, operation,
    broker and organization)."""
    return {
        "id": BULK_DOC_ID,
        "pk": bulk_id,
        "kind": "bulk",
        "bulkId": bulk_id,
        "partyId": party_id,
        "receivedAt": fixed_time(now),
        "blob": blob,
        "accepted": accepted,
        "chunks": chunks,
        "segregationCodes": None,
    }


class NoticeStore(Protocol):
    async def get(self, doc_id: str) -> Document | None:
        """The position document (a tombstone too); None if there is none."""
        ...

    async def create(self, document: Document) -> Document:
        """Create; StaleDocument if it exists. Returns the written document (with _etag)."""
        ...

    async def replace(self, document: Document, etag: str) -> Document:
        """Replace if its ETag is still ``etag``; StaleDocument otherwise."""
        ...

    async def due_to_expire(self, now: str, limit: int) -> list[Document]:
        """VALID positions with switchToExpired whose expiresAt is at or before ``now``."""
        ...

    async def legacy_positions(self, limit: int) -> list[Document]:
        """Positions still stored under ``<paFiscalCode>:<nav>`` (no ``iupd``)."""
        ...

    async def put_claim(self, document: Document) -> None:
        """Create or replace a nav's claim document (the re-key only)."""
        ...

    async def delete(self, doc_id: str) -> None:
        """Delete the document ``doc_id`` (its own partition); nothing if it is gone."""
        ...


class BulkStore(Protocol):
    async def create_bulk(self, document: Document) -> None: ...

    async def get_bulk(self, bulk_id: str) -> Document | None: ...

    async def chunk_done(self, bulk_id: str, chunk: int) -> bool: ...

    async def record_chunk(self, document: Document) -> None:
        """Create the chunk's result; if it exists already (a redelivery), keep the first."""
        ...

    async def chunks(self, bulk_id: str, *, iupds: bool = False) -> list[Document]:
        """A bulk's finished chunks; with the IUPDs each wrote (``ok``) only when ``iupds``:
        a report polled while a 50,000-position file is processed would read them all again
        at every poll."""
        ...

    async def uploads(self, broker: str, organization: str, start: str, end: str) -> list[Document]:
        """The ``bulkId`` and ``receivedAt`` of the files ``broker`` uploaded for
        ``organization`` received in [start, end) (fixed-width UTC times)."""
        ...


class CosmosNoticeStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, doc_id: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                item: Document = await self._c.read_item(doc_id, partition_key=doc_id)
        except CosmosResourceNotFoundError:
            return None
        return item

    async def create(self, document: Document) -> Document:
        return await create_new(self._c, document, self._timeout)

    async def replace(self, document: Document, etag: str) -> Document:
        return await replace_unchanged(self._c, document, self._timeout, etag=etag)

    async def due_to_expire(self, now: str, limit: int) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 6):
            async for item in self._c.query_items(
                _DUE.format(limit=int(limit)), parameters=[{"name": "@now", "value": now}]
            ):
                found.append(item)
        return found

    async def legacy_positions(self, limit: int) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 6):
            async for item in self._c.query_items(_LEGACY.format(limit=int(limit))):
                found.append(item)
        return found

    async def put_claim(self, document: Document) -> None:
        async with guarded(self._timeout):
            await self._c.upsert_item(document)

    async def delete(self, doc_id: str) -> None:
        try:
            async with guarded(self._timeout):
                await self._c.delete_item(doc_id, partition_key=doc_id)
        except CosmosResourceNotFoundError:
            pass  # deleted already (the re-key ran twice)


class CosmosBulkStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def create_bulk(self, document: Document) -> None:
        async with guarded(self._timeout):
            await self._c.create_item(document)

    async def _read(self, item_id: str, bulk_id: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                item: Document = await self._c.read_item(item_id, partition_key=bulk_id)
        except CosmosResourceNotFoundError:
            return None
        return item

    async def get_bulk(self, bulk_id: str) -> Document | None:
        return await self._read(BULK_DOC_ID, bulk_id)

    async def chunk_done(self, bulk_id: str, chunk: int) -> bool:
        return await self._read(chunk_doc_id(chunk), bulk_id) is not None

    async def record_chunk(self, document: Document) -> None:
        try:
            async with guarded(self._timeout):
                await self._c.create_item(document)
        except CosmosResourceExistsError:
            pass  # a redelivered chunk: the first result stands (both counted the same lines)

    async def chunks(self, bulk_id: str, *, iupds: bool = False) -> list[Document]:
        found: list[Document] = []
        query = _CHUNKS if iupds else _CHUNK_COUNTS
        async with guarded(self._timeout * 2):
            async for item in self._c.query_items(query, partition_key=bulk_id):
                found.append(item)
        return found

    async def uploads(self, broker: str, organization: str, start: str, end: str) -> list[Document]:
        # across partitions (one per bulk), bounded by a week of one broker's files for one EC
        parameters: list[dict[str, object]] = [
            {"name": "@broker", "value": broker},
            {"name": "@organization", "value": organization},
            {"name": "@start", "value": start},
            {"name": "@end", "value": end},
        ]
        found: list[Document] = []
        async with guarded(self._timeout * 6):
            async for item in self._c.query_items(_UPLOADS, parameters=parameters):
                found.append(item)
        return found
