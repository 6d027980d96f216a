"""Where cashback keeps its documents: one container, partition key ``/pk`` (see documents.py).

A citizen's enrollment and instruments share the citizen's partition, so reading them all is
one single-partition query; an hpan's document is alone in its partition (a point read).
Every write is a create or an ETag-conditioned replace; :class:`StaleDocument` tells the
service to reload and decide again (:func:`retrying`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosResourceNotFoundError,
)

from shared.platform.cosmos import TRANSIENT_STATUS, create_new, guarded, replace_unchanged
from shared.platform.cosmos import Document as Document  # re-exported: the service's types
from shared.platform.cosmos import StaleDocument as StaleDocument
from shared.platform.cosmos import body as _body
from shared.platform.errors import DependencyError
from shared.platform.retry import retry_on_stale

T = TypeVar("T")

BATCH_OPERATIONS = 100  # Cosmos's limit per transactional batch
MAX_ITEM_BYTES = 2 * 1024 * 1024  # Cosmos's limit per item

OperationKind = Literal["write", "upsert", "delete"]
Operation = tuple[OperationKind, Document]


class DocumentTooLarge(Exception):
    """A document over Cosmos's 2 MB item limit (status 413): it can never be written."""


_PARTITION = "SELECT * FROM c WHERE c.pk = @pk"
# The ranking job's one cross-partition read (what the ranking rule orders by), once per run.
_STANDINGS = (
    "SELECT c.pk, c.fiscalCode, c.count, c.cashback, c.lastTransactionAt, "
    "c.termsAcceptedAt FROM c WHERE c.kind = 'period' AND c.period = @period "
    "AND c.count > 0"
)
# The payout job's: payouts withheld for want of a confirmed IBAN, not paid yet.
_WITHHELD = "SELECT * FROM c WHERE c.kind = 'withheld' AND c.status != 'PAID'"
_AWARDS_TO_SEND = (
    "SELECT * FROM c WHERE c.kind = 'award' AND (c.status = 'NEW' OR c.status = 'RECOVERY')"
)
# A citizen's scored transactions in a period, newest first, a page at a time.
_TRANSACTIONS = (
    "SELECT TOP @n * FROM c WHERE c.pk = @pk AND c.kind = 'transaction' "
    "AND c.period = @period AND c.sortKey < @before ORDER BY c.sortKey DESC"
)
# The payout job's: where each citizen with a confirmed IBAN is paid.
_CONFIRMED_IBANS = (
    "SELECT c.pk, c.iban FROM c WHERE c.kind = 'citizen' "
    "AND (c.ibanStatus = 'OK' OR c.ibanStatus = 'UNKNOWN_PSP')"
)


class CashbackStore(Protocol):
    async def get(self, pk: str, id_: str) -> Document | None:
        """One document by id in its partition; None if it is not there."""
        ...

    async def partition(self, pk: str, kinds: tuple[str, ...] = ()) -> list[Document]:
        """The documents of one partition, only those of ``kinds`` if given (a heavy user's
        partition holds a record per transaction and a match document per key: a query for
        the enrollment and instruments leaves them out)."""
        ...

    async def get_all(self, pk: str, ids: list[str]) -> list[Document | None]:
        """Documents of one partition by id, in one round trip when they all exist."""
        ...

    async def create(self, document: Document) -> Document:
        """Create; StaleDocument if it exists. Returns the written document (with _etag)."""
        ...

    async def write_batch(self, pk: str, operations: list[Operation]) -> list[Document | None]:
        """One transactional batch in partition ``pk``, all or nothing: ``("write", doc)``
        replaces ``doc`` if unchanged since read (its ``_etag``) or, without one, creates it;
        ``("upsert", doc)`` writes whatever is there; ``("delete", doc)`` deletes ``doc["id"]``.
        StaleDocument (and nothing written) if a document changed, was created meanwhile or is
        missing. At most ``BATCH_OPERATIONS`` operations. Returns each document as written
        (None for a delete), with its new ``_etag``.

        Raises:
            DocumentTooLarge: a document is over Cosmos's 2 MB item limit.
        """
        ...

    async def replace(self, document: Document) -> Document:
        """Replace if unchanged since read (its ``_etag``); StaleDocument otherwise."""
        ...

    async def upsert(self, document: Document) -> None:
        """Write whatever is there (documents with one writer: the ranking job's)."""
        ...

    async def standings(self, period: int) -> list[Document]:
        """Every citizen's counters in ``period`` (count > 0): a cross-partition query."""
        ...

    async def confirmed_ibans(self) -> list[Document]:
        """``pk`` and ``iban`` of every citizen whose IBAN is usable: the bank confirmed it
        (``OK``) or could not be asked (``UNKNOWN_PSP``) (cross-partition)."""
        ...

    async def withheld(self) -> list[Document]:
        """Every withheld payout not paid yet (cross-partition, once per payout run)."""
        ...

    async def awards_to_send(self) -> list[Document]:
        """Every payout record to send (again): integrations ``NEW`` and refused transfers
        ``RECOVERY`` (cross-partition, once per payout run)."""
        ...

    async def transactions(
        self, pk: str, period: int, *, before: str, limit: int
    ) -> list[Document]:
        """Up to ``limit`` transaction records of ``pk`` in ``period`` with a sort key below
        ``before``, newest first (single partition)."""
        ...


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    """Run a read-decide-write ``step`` again while another writer got there first
    (:func:`~shared.platform.retry.retry_on_stale`); Conflict (409) if it kept losing."""
    return await retry_on_stale(
        step, conflict="the cashback state is being changed concurrently; retry"
    )


def fixed_time(moment: datetime) -> str:
    """One fixed width, so stored times order as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class CosmosCashbackStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, pk: str, id_: str) -> Document | None:
        try:
            async with guarded(self._timeout):
                item: Document = await self._c.read_item(id_, partition_key=pk)
        except CosmosResourceNotFoundError:
            return None
        return item

    async def partition(self, pk: str, kinds: tuple[str, ...] = ()) -> list[Document]:
        query = _PARTITION
        parameters: list[dict[str, Any]] = [{"name": "@pk", "value": pk}]
        if kinds:
            names = [f"@kind{i}" for i in range(len(kinds))]
            query += f" AND c.kind IN ({', '.join(names)})"
            parameters += [{"name": n, "value": k} for n, k in zip(names, kinds, strict=True)]
        found: list[Document] = []
        async with guarded(self._timeout):
            async for item in self._c.query_items(query, parameters=parameters, partition_key=pk):
                found.append(item)
        return found

    async def get_all(self, pk: str, ids: list[str]) -> list[Document | None]:
        try:
            async with guarded(self._timeout):
                found = await self._c.execute_item_batch(
                    [("read", (id_,)) for id_ in ids], partition_key=pk
                )
        except CosmosBatchOperationError as error:
            if _failed_status(error) != 404:
                raise _batch_error(error) from None
            # One is missing (the batch is all or nothing): each on its own.
            return list(await asyncio.gather(*(self.get(pk, id_) for id_ in ids)))
        return [r.get("resourceBody") for r in found]

    async def create(self, document: Document) -> Document:
        return await create_new(self._c, document, self._timeout)

    async def replace(self, document: Document) -> Document:
        return await replace_unchanged(self._c, document, self._timeout)

    async def write_batch(self, pk: str, operations: list[Operation]) -> list[Document | None]:
        if len(operations) > BATCH_OPERATIONS:
            raise ValueError(f"{len(operations)} operations: a batch holds {BATCH_OPERATIONS}")
        batch: list[tuple[Any, ...]] = []
        for kind, document in operations:
            if kind == "delete":
                batch.append(("delete", (document["id"],)))
            elif kind == "upsert":
                batch.append(("upsert", (_body(document),)))
            elif "_etag" in document:
                batch.append(
                    (
                        "replace",
                        (document["id"], _body(document)),
                        {"if_match_etag": document["_etag"]},
                    )
                )
            else:
                batch.append(("create", (_body(document),)))
        try:
            async with guarded(self._timeout):
                results = await self._c.execute_item_batch(batch, partition_key=pk)
        except CosmosBatchOperationError as error:
            status = _failed_status(error)
            if status in (404, 409, 412):
                raise StaleDocument(operations[error.error_index or 0][1]["id"]) from None
            if status == 413:
                raise DocumentTooLarge(operations[error.error_index or 0][1]["id"]) from None
            raise _batch_error(error) from None
        written: list[Document | None] = []
        for (kind, document), result in zip(operations, results, strict=True):
            if kind == "delete":
                written.append(None)
                continue
            # An account set not to return written bodies: the ETag suffices.
            written.append(
                result.get("resourceBody") or {**_body(document), "_etag": result["eTag"]}
            )
        return written

    async def upsert(self, document: Document) -> None:
        async with guarded(self._timeout):
            await self._c.upsert_item(_body(document))

    async def standings(self, period: int) -> list[Document]:
        found: list[Document] = []
        # A whole-period scan: give it more than one call's bound.
        async with guarded(self._timeout * 12):
            async for item in self._c.query_items(
                _STANDINGS, parameters=[{"name": "@period", "value": period}]
            ):
                found.append(item)
        return found

    async def transactions(
        self, pk: str, period: int, *, before: str, limit: int
    ) -> list[Document]:
        parameters: list[dict[str, Any]] = [
            {"name": "@n", "value": limit},
            {"name": "@pk", "value": pk},
            {"name": "@period", "value": period},
            {"name": "@before", "value": before},
        ]
        found: list[Document] = []
        async with guarded(self._timeout):
            async for item in self._c.query_items(
                _TRANSACTIONS, parameters=parameters, partition_key=pk
            ):
                found.append(item)
        return found[:limit]

    async def confirmed_ibans(self) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 12):
            async for item in self._c.query_items(_CONFIRMED_IBANS):
                found.append(item)
        return found

    async def withheld(self) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 12):
            async for item in self._c.query_items(_WITHHELD):
                found.append(item)
        return found

    async def awards_to_send(self) -> list[Document]:
        found: list[Document] = []
        async with guarded(self._timeout * 12):
            async for item in self._c.query_items(_AWARDS_TO_SEND):
                found.append(item)
        return found


def _failed_status(error: CosmosBatchOperationError) -> int | None:
    """The status of the operation that failed a batch."""
    responses = error.operation_responses or []
    index = error.error_index
    if index is None or not 0 <= index < len(responses):
        return None
    status = responses[index].get("statusCode")
    return int(status) if status is not None else None


def _batch_error(error: CosmosBatchOperationError) -> Exception:
    """A failed batch as the error tree sees it: throttled or down is a DependencyError."""
    status = _failed_status(error) or error.status_code
    if status in TRANSIENT_STATUS:
        return DependencyError("cosmos", f"status {status} in a batch")
    return error
