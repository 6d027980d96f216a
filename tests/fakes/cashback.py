"""In-memory fakes of the cashback ports."""

from __future__ import annotations

import copy
import json
import uuid

from shared.cashback.store import (
    BATCH_OPERATIONS,
    MAX_ITEM_BYTES,
    DocumentTooLarge,
    Operation,
)
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.cosmos import body as _body


class MemoryPayoutFiles:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def write_once(self, name: str, data: bytes) -> bool:
        if name in self.files:
            return False
        self.files[name] = bytes(data)
        return True

    async def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    async def write(self, name: str, data: bytes) -> None:
        self.files[name] = bytes(data)


class MemoryCashbackStore:
    """The store in memory, ETags included (unit and functions tests)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Document] = {}
        self.round_trips = 0

    def _written(self, document: Document) -> Document:
        if len(json.dumps(_body(document), default=str)) > MAX_ITEM_BYTES:
            raise DocumentTooLarge(document["id"])  # as Cosmos: 413 RequestEntityTooLarge
        stored = copy.deepcopy(_body(document))
        stored["_etag"] = uuid.uuid4().hex
        self.items[(stored["pk"], stored["id"])] = stored
        return copy.deepcopy(stored)

    async def get(self, pk: str, id_: str) -> Document | None:
        self.round_trips += 1
        found = self.items.get((pk, id_))
        return copy.deepcopy(found) if found else None

    async def partition(self, pk: str, kinds: tuple[str, ...] = ()) -> list[Document]:
        self.round_trips += 1
        return [
            copy.deepcopy(d)
            for (p, _), d in self.items.items()
            if p == pk and (not kinds or d.get("kind") in kinds)
        ]

    async def get_all(self, pk: str, ids: list[str]) -> list[Document | None]:
        self.round_trips += 1
        return [copy.deepcopy(found) if (found := self.items.get((pk, i))) else None for i in ids]

    async def create(self, document: Document) -> Document:
        self.round_trips += 1
        if (document["pk"], document["id"]) in self.items:
            raise StaleDocument(document["id"])
        return self._written(document)

    async def write_batch(self, pk: str, operations: list[Operation]) -> list[Document | None]:
        self.round_trips += 1
        if len(operations) > BATCH_OPERATIONS:
            raise ValueError(f"{len(operations)} operations: a batch holds {BATCH_OPERATIONS}")
        for kind, document in operations:  # every condition first: all or nothing
            current = self.items.get((pk, document["id"]))
            if document["pk"] != pk:
                raise ValueError(f"{document['id']} is not in partition {pk}")
            if kind == "delete" and current is None:
                raise StaleDocument(document["id"])
            if kind == "write" and (current and current["_etag"]) != document.get("_etag"):
                raise StaleDocument(document["id"])
            if kind != "delete" and len(json.dumps(_body(document), default=str)) > MAX_ITEM_BYTES:
                raise DocumentTooLarge(document["id"])
        written: list[Document | None] = []
        for kind, document in operations:
            if kind == "delete":
                del self.items[(pk, document["id"])]
                written.append(None)
            else:
                written.append(self._written(document))
        return written

    async def replace(self, document: Document) -> Document:
        self.round_trips += 1
        current = self.items.get((document["pk"], document["id"]))
        if current is None or current["_etag"] != document.get("_etag"):
            raise StaleDocument(document["id"])
        return self._written(document)

    async def upsert(self, document: Document) -> None:
        self.round_trips += 1
        self._written(document)

    async def standings(self, period: int) -> list[Document]:
        self.round_trips += 1
        fields = ("pk", "fiscalCode", "count", "cashback", "lastTransactionAt", "termsAcceptedAt")
        return [
            {k: d.get(k) for k in fields}
            for d in self.items.values()
            if d.get("kind") == "period" and d.get("period") == period and d.get("count", 0) > 0
        ]

    async def confirmed_ibans(self) -> list[Document]:
        self.round_trips += 1
        return [
            {"pk": d["pk"], "iban": d.get("iban")}
            for d in self.items.values()
            if d.get("kind") == "citizen" and d.get("ibanStatus") in ("OK", "UNKNOWN_PSP")
        ]

    async def withheld(self) -> list[Document]:
        self.round_trips += 1
        return [
            copy.deepcopy(d)
            for d in self.items.values()
            if d.get("kind") == "withheld" and d.get("status") != "PAID"
        ]

    async def awards_to_send(self) -> list[Document]:
        self.round_trips += 1
        return [
            copy.deepcopy(d)
            for d in self.items.values()
            if d.get("kind") == "award" and d.get("status") in ("NEW", "RECOVERY")
        ]

    async def transactions(
        self, pk: str, period: int, *, before: str, limit: int
    ) -> list[Document]:
        self.round_trips += 1
        found = [
            copy.deepcopy(d)
            for (p, _), d in self.items.items()
            if p == pk
            and d.get("kind") == "transaction"
            and d.get("period") == period
            and d["sortKey"] < before
        ]
        found.sort(key=lambda d: d["sortKey"], reverse=True)
        return found[:limit]
