"""In-memory fakes of the wallet ports."""

from __future__ import annotations

import copy
import uuid

from shared.platform.cosmos import Document as Document  # re-exported: the service's types
from shared.platform.cosmos import StaleDocument as StaleDocument
from shared.platform.cosmos import body as _body
from shared.wallet.models import SLOTS_ID


class MemoryWalletStore:
    """The store in memory, ETags included (unit tests)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Document] = {}
        self.round_trips = 0

    def _written(self, document: Document) -> Document:
        stored = copy.deepcopy(_body(document))
        stored["_etag"] = uuid.uuid4().hex
        self.items[(stored["pk"], stored["id"])] = stored
        return copy.deepcopy(stored)

    def _instruments(self, pk: str) -> list[Document]:
        return [
            copy.deepcopy(d)
            for (p, _), d in self.items.items()
            if p == pk and d.get("kind") == "instrument"
        ]

    async def get(self, pk: str, wallet_id: str) -> Document | None:
        self.round_trips += 1
        found = self.items.get((pk, wallet_id))
        return copy.deepcopy(found) if found and found.get("kind") == "instrument" else None

    async def current(self, pk: str, *, pending_since: str) -> list[Document]:
        self.round_trips += 1
        return [
            d
            for d in self._instruments(pk)
            if d["status"] == "VALIDATED"
            or (
                d["status"] in ("CREATED", "INITIALIZED", "VALIDATION_REQUESTED")
                and d["createdAt"] >= pending_since
            )
        ]

    async def every(self, pk: str) -> list[Document]:
        self.round_trips += 1
        return copy.deepcopy(self._instruments(pk))

    async def for_notification(self, pk: str, wallet_id: str) -> list[Document]:
        self.round_trips += 1
        found = [
            d for d in self._instruments(pk) if d["id"] == wallet_id or d["status"] == "VALIDATED"
        ]
        slots = self.items.get((pk, SLOTS_ID))
        return [copy.deepcopy(slots), *found] if slots else found

    async def slots(self, pk: str) -> Document | None:
        self.round_trips += 1
        found = self.items.get((pk, SLOTS_ID))
        return copy.deepcopy(found) if found else None

    async def get_with_slots(
        self, pk: str, wallet_id: str
    ) -> tuple[Document | None, Document | None]:
        self.round_trips += 1  # one batch of two reads
        found = self.items.get((pk, wallet_id))
        if found is None or found.get("kind") != "instrument":
            return None, None
        slots = self.items.get((pk, SLOTS_ID))
        return copy.deepcopy(found), copy.deepcopy(slots) if slots else None

    async def create(self, document: Document) -> Document:
        self.round_trips += 1
        if (document["pk"], document["id"]) in self.items:
            raise StaleDocument(document["id"])
        return self._written(document)

    def _check(self, document: Document) -> None:
        current = self.items.get((document["pk"], document["id"]))
        if current is None or current["_etag"] != document.get("_etag"):
            raise StaleDocument(document["id"])

    async def replace(self, document: Document) -> Document:
        self.round_trips += 1
        self._check(document)
        return self._written(document)

    async def write_together(self, pk: str, documents: list[Document]) -> list[Document]:
        """All or nothing, as Cosmos' transactional batch."""
        self.round_trips += 1
        for document in documents:
            if document.get("_etag"):
                self._check(document)
            elif (document["pk"], document["id"]) in self.items:
                raise StaleDocument(document["id"])
        return [self._written(d) for d in documents]
