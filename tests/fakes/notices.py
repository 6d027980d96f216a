"""In-memory fakes of the notices ports."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta

from shared.notices.blobs import BlobMissing
from shared.notices.ec_index import KIND, ec_partition
from shared.notices.search import PositionFilter, PositionPage, day_start, page_of
from shared.notices.store import BULK_DOC_ID, chunk_doc_id
from shared.platform.cosmos import Document as Document  # re-exported: the service's types
from shared.platform.cosmos import StaleDocument as StaleDocument
from shared.platform.cosmos import (
    body,
)


class MemoryNoticeStore:
    """The positions in memory, ETags included (unit and functions tests)."""

    def __init__(self) -> None:
        self.items: dict[str, Document] = {}
        self.round_trips = 0
        self.conflicts = 0

    def _written(self, document: Document) -> Document:
        stored = copy.deepcopy(body(document))
        stored["_etag"] = uuid.uuid4().hex
        self.items[stored["id"]] = stored
        return copy.deepcopy(stored)

    async def get(self, doc_id: str) -> Document | None:
        self.round_trips += 1
        found = self.items.get(doc_id)
        return copy.deepcopy(found) if found is not None else None

    async def create(self, document: Document) -> Document:
        self.round_trips += 1
        if document["id"] in self.items:
            self.conflicts += 1
            raise StaleDocument(document["id"])
        return self._written(document)

    async def replace(self, document: Document, etag: str) -> Document:
        self.round_trips += 1
        current = self.items.get(document["id"])
        if current is None or current["_etag"] != etag:
            self.conflicts += 1
            raise StaleDocument(document["id"])
        return self._written(document)

    async def due_to_expire(self, now: str, limit: int) -> list[Document]:
        self.round_trips += 1
        due = [
            copy.deepcopy(d)
            for d in self.items.values()
            if d.get("kind") == "position"
            and d.get("status") == "VALID"
            and d.get("switchToExpired") is True
            and d["expiresAt"] <= now
        ]
        return due[:limit]

    async def legacy_positions(self, limit: int) -> list[Document]:
        self.round_trips += 1
        found = [
            copy.deepcopy(d)
            for d in self.items.values()
            if d.get("kind") == "position"
            and "iupd" not in d
            and "paFiscalCode" in d
            and "iuv" in d
        ]
        return found[:limit]

    async def put_claim(self, document: Document) -> None:
        self.round_trips += 1
        self._written(document)

    async def delete(self, doc_id: str) -> None:
        self.round_trips += 1
        self.items.pop(doc_id, None)


class MemoryBulkStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Document] = {}

    async def create_bulk(self, document: Document) -> None:
        self.items[(document["pk"], document["id"])] = copy.deepcopy(document)

    async def get_bulk(self, bulk_id: str) -> Document | None:
        found = self.items.get((bulk_id, BULK_DOC_ID))
        return copy.deepcopy(found) if found else None

    async def chunk_done(self, bulk_id: str, chunk: int) -> bool:
        return (bulk_id, chunk_doc_id(chunk)) in self.items

    async def record_chunk(self, document: Document) -> None:
        self.items.setdefault((document["pk"], document["id"]), copy.deepcopy(document))

    async def chunks(self, bulk_id: str, *, iupds: bool = False) -> list[Document]:
        found = [
            copy.deepcopy(d)
            for (pk, _), d in self.items.items()
            if pk == bulk_id and d.get("kind") == "chunk"
        ]
        if not iupds:  # as Cosmos' projection: what was not asked for is not there
            for chunk in found:
                chunk.pop("ok", None)
        return found

    async def uploads(self, broker: str, organization: str, start: str, end: str) -> list[Document]:
        return [
            {"bulkId": d["bulkId"], "receivedAt": d["receivedAt"]}
            for d in self.items.values()
            if d.get("kind") == "bulk"
            and (d.get("broker"), d.get("organization")) == (broker, organization)
            and start <= d["receivedAt"] < end
        ]


class MemoryBlobs:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, name: str, data: bytes) -> None:
        self.blobs[name] = bytes(data)

    async def get_range(self, name: str, offset: int, length: int) -> bytes:
        if name not in self.blobs:
            raise BlobMissing(name)
        return self.blobs[name][offset : offset + length]


def _matching(
    documents: Iterable[Document],
    ec: str,
    where: PositionFilter,
    after: str | None,
    limit: int,
    present: Callable[[Document], bool],
) -> PositionPage:
    """The filters and key paging of :func:`shared.notices.search.query_of`."""
    low = day_start(where.due_from) if where.due_from else None
    high = day_start(where.due_to + timedelta(days=1)) if where.due_to else None
    wanted = {
        "iuv": where.iuv,
        "nav": where.nav,
        "entityFiscalCode": where.debtor,
        "status": where.status,
    }
    found = sorted(
        (
            copy.deepcopy(d)
            for d in documents
            if present(d)
            and d.get("paFiscalCode") == ec
            and all(v is None or d.get(k) == v for k, v in wanted.items())
            and (low is None or d["expirationDate"] >= low)
            and (high is None or d["expirationDate"] < high)
            and (after is None or d["id"] > after)
        ),
        key=lambda d: str(d["id"]),
    )
    return page_of(found[: limit + 1], limit)


class MemoryPositionSearch:
    """The back office's search over a :class:`MemoryNoticeStore`: the filters and key paging
    of :class:`shared.notices.search.CosmosPositionSearch`."""

    def __init__(self, store: MemoryNoticeStore) -> None:
        self._store = store
        self.queries = 0

    async def search(
        self, ec: str, where: PositionFilter, *, after: str | None, limit: int
    ) -> PositionPage:
        self.queries += 1
        return _matching(
            self._store.items.values(),
            ec,
            where,
            after,
            limit,
            lambda d: d.get("kind") == "position" and not d.get("tombstone"),
        )


class MemoryEcIndex:
    """The EC-scoped positions index in memory (:class:`shared.notices.ec_index_store.
    CosmosEcIndex`): entries by (pk, id) with ETags, and its search."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Document] = {}
        self._version = 0
        self.queries = 0

    async def get(self, ec: str, doc_id: str) -> Document | None:
        found = self.entries.get((ec_partition(ec), doc_id))
        return copy.deepcopy(found) if found is not None else None

    async def put(self, document: Document, etag: str | None) -> Document:
        key = (str(document["pk"]), str(document["id"]))
        current = self.entries.get(key)
        if (etag is None) != (current is None) or (
            current is not None and current["_etag"] != etag
        ):
            raise StaleDocument(document["id"])
        self._version += 1
        written = {**copy.deepcopy(document), "_etag": f"v{self._version}"}
        self.entries[key] = written
        return copy.deepcopy(written)

    async def search(
        self, ec: str, where: PositionFilter, *, after: str | None, limit: int
    ) -> PositionPage:
        self.queries += 1
        mine = [d for (pk, _), d in self.entries.items() if pk == ec_partition(ec)]
        return _matching(
            mine, ec, where, after, limit, lambda d: d["kind"] == KIND and d["present"] is True
        )

    async def paid(
        self, ec: str, *, low: str | None, high: str | None, after: str | None, limit: int
    ) -> list[Document]:
        self.queries += 1
        found = sorted(
            (
                copy.deepcopy(d)
                for (pk, _), d in self.entries.items()
                if pk == ec_partition(ec)
                and d["present"] is True
                and d["status"] == "PAID"
                and (low is None or d["paidAt"] >= low)
                and (high is None or d["paidAt"] < high)
                and (after is None or d["paidKey"] > after)
            ),
            key=lambda d: str(d["paidKey"]),
        )
        return found[:limit]
