"""Where instruments live: the wallet container, partition key ``/pk``.

Two kinds of document, both in the owner's partition (pk = the owner's user id):
``instrument`` (id = walletId), everything about one instrument, and ``slots`` (id ``slots``),
the citizen's live instruments, which the limit is decided on (:mod:`shared.wallet.slots`). A
citizen's listing is one single-partition query; reading one is a point read. A PSP
notification finds the partition in the walletId itself (:mod:`shared.wallet.reference`).

Every write is ETag-conditioned (or a create); :class:`StaleDocument` tells the service to
reload and decide again. A change that takes or frees a slot writes both documents in one
transactional batch.
"""

from __future__ import annotations

from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosResourceNotFoundError,
)

from shared.platform.cosmos import (
    TRANSIENT_STATUS,
    create_new,
    guarded,
    replace_unchanged,
)
from shared.platform.cosmos import Document as Document  # re-exported: the service's types
from shared.platform.cosmos import StaleDocument as StaleDocument
from shared.platform.cosmos import body as _body
from shared.platform.errors import DependencyError
from shared.wallet.models import SLOTS_ID

# Instruments a citizen still has, or is onboarding: the listing, and the count of live ones.
_CURRENT = (
    "SELECT * FROM c WHERE c.kind = 'instrument' AND (c.status = 'VALIDATED' OR "
    "((c.status = 'CREATED' OR c.status = 'INITIALIZED' OR "
    "c.status = 'VALIDATION_REQUESTED') AND c.createdAt >= @since))"
)
# What a notification needs: its own instrument, the validated ones (same hpan) and the slots.
_FOR_NOTIFICATION = (
    "SELECT * FROM c WHERE c.id = @slots OR "
    "(c.kind = 'instrument' AND (c.id = @id OR c.status = 'VALIDATED'))"
)


class WalletStore(Protocol):
    async def get(self, pk: str, wallet_id: str) -> Document | None:
        """One instrument by id in the owner's partition; None if it is not there."""
        ...

    async def current(self, pk: str, *, pending_since: str) -> list[Document]:
        """Validated instruments and sessions created at or after ``pending_since``."""
        ...

    async def every(self, pk: str) -> list[Document]:
        """Every instrument of ``pk``, whatever its status (the helpdesk's view)."""
        ...

    async def for_notification(self, pk: str, wallet_id: str) -> list[Document]:
        """The instrument ``wallet_id``, every validated instrument of ``pk``, and ``pk``'s
        slots document if it has one."""
        ...

    async def slots(self, pk: str) -> Document | None:
        """``pk``'s slots document; None if it has none yet."""
        ...

    async def get_with_slots(
        self, pk: str, wallet_id: str
    ) -> tuple[Document | None, Document | None]:
        """:meth:`get` and :meth:`slots` in one round trip: the instrument (None if it is not
        there, and then no slots either) and ``pk``'s slots document (None if it has none)."""
        ...

    async def create(self, document: Document) -> Document:
        """Create; StaleDocument if it exists. Returns the written document (with _etag)."""
        ...

    async def replace(self, document: Document) -> Document:
        """Replace if unchanged since read (its ``_etag``); StaleDocument otherwise."""
        ...

    async def write_together(self, pk: str, documents: list[Document]) -> list[Document]:
        """Write several documents of one partition atomically, in order: each one with an
        ``_etag`` replaced if unchanged, each one without created; StaleDocument if any of
        them changed or exists (then none is written). Returns them as written."""
        ...


class CosmosWalletStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, pk: str, wallet_id: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                item: Document = await self._c.read_item(wallet_id, partition_key=pk)
        except CosmosResourceNotFoundError:
            return None
        return item if item.get("kind") == "instrument" else None

    async def _query(self, pk: str, query: str, parameters: list[dict[str, Any]]) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout):
            async for item in self._c.query_items(query, parameters=parameters, partition_key=pk):
                found.append(item)
        return found

    async def current(self, pk: str, *, pending_since: str) -> list[Document]:
        return await self._query(pk, _CURRENT, [{"name": "@since", "value": pending_since}])

    async def every(self, pk: str) -> list[Document]:
        return await self._query(pk, "SELECT * FROM c WHERE c.kind = 'instrument'", [])

    async def for_notification(self, pk: str, wallet_id: str) -> list[Document]:
        return await self._query(
            pk,
            _FOR_NOTIFICATION,
            [{"name": "@id", "value": wallet_id}, {"name": "@slots", "value": SLOTS_ID}],
        )

    async def slots(self, pk: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                item: Document = await self._c.read_item(SLOTS_ID, partition_key=pk)
        except CosmosResourceNotFoundError:
            return None
        return item

    async def get_with_slots(
        self, pk: str, wallet_id: str
    ) -> tuple[Document | None, Document | None]:
        # A batch of two reads: one request, whose CPU here is that of one point read (two
        # point reads cost twice as much), and the same two documents as a snapshot.
        reads: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("read", (wallet_id,), {}),
            ("read", (SLOTS_ID,), {}),
        ]
        try:
            async with guarded(self._timeout):
                results = await self._c.execute_item_batch(reads, partition_key=pk)
        except CosmosBatchOperationError as error:
            if error.status_code in TRANSIENT_STATUS:
                raise DependencyError("cosmos", f"batch status {error.status_code}") from None
            if error.status_code != 404:
                raise
            if error.error_index == 0:
                return None, None
            return await self.get(pk, wallet_id), None  # no slots document yet
        item: Document = dict(results[0]["resourceBody"])
        slots: Document = dict(results[1]["resourceBody"])
        return (item, slots) if item.get("kind") == "instrument" else (None, None)

    async def create(self, document: Document) -> Document:
        return await create_new(self._c, document, self._timeout)

    async def replace(self, document: Document) -> Document:
        return await replace_unchanged(self._c, document, self._timeout)

    async def write_together(self, pk: str, documents: list[Document]) -> list[Document]:
        operations: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
            ("replace", (d["id"], _body(d)), {"if_match_etag": d["_etag"]})
            if d.get("_etag")
            else ("create", (_body(d),), {})
            for d in documents
        ]
        try:
            async with guarded(self._timeout):
                results = await self._c.execute_item_batch(operations, partition_key=pk)
        except CosmosBatchOperationError as error:
            if error.status_code in TRANSIENT_STATUS:
                raise DependencyError("cosmos", f"batch status {error.status_code}") from None
            raise StaleDocument(",".join(d["id"] for d in documents)) from None
        return [dict(result["resourceBody"]) for result in results]
