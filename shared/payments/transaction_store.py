"""Transactions in the payments container: one document per transaction, in its payer's
partition ``tx:<userId>`` (a citizen's transaction is a point read), id ``tx:<transactionId>``.

Writes are ETag-conditioned (the document read carries its ``_etag``): of two concurrent steps
on one transaction exactly one wins, the other reloads. A final transaction keeps
:data:`RETENTION_SECONDS` (per-document TTL), its receipt lives on in the receipts' store.
Finding stuck transactions is a cross-partition query, run only by the reconciler's timer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.payments.transactions import FINAL, Transaction
from shared.platform.cosmos import Document, create_new, guarded, replace_unchanged

__all__ = [
    "RETENTION_SECONDS",
    "CosmosTransactionStore",
    "from_document",
    "to_document",
    "transaction_key",
]

RETENTION_SECONDS = 400 * 24 * 3600
"""A year and a month after it ended: long enough for a citizen's or an operator's question."""


def transaction_key(user_id: str, transaction_id: str) -> tuple[str, str]:
    return f"tx:{transaction_id}", f"tx:{user_id}"


def to_document(transaction: Transaction, previous: Document | None = None) -> Document:
    """The document of ``transaction``, carrying ``previous``'s ETag for a conditional write."""
    key = transaction_key(transaction.user_id, transaction.transaction_id)
    document: Document = {
        "id": key[0],
        "pk": key[1],
        "kind": "transaction",
        "status": transaction.status,
        "updatedAt": transaction.updated_at.isoformat(),
        "transaction": transaction.model_dump(mode="json", by_alias=True),
    }
    if transaction.status in FINAL:
        document["ttl"] = RETENTION_SECONDS
    if previous is not None and "_etag" in previous:
        document["_etag"] = previous["_etag"]
    return document


def from_document(document: Document) -> Transaction:
    return Transaction.model_validate(document["transaction"])


class CosmosTransactionStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def get(self, user_id: str, transaction_id: str) -> Document | None:
        key = transaction_key(user_id, transaction_id)
        try:
            async with guarded(self._timeout):
                found: Document = await self._c.read_item(key[0], partition_key=key[1])
                return found
        except CosmosResourceNotFoundError:
            return None

    async def create(self, document: Document) -> Document:
        return await create_new(self._c, document, self._timeout)

    async def replace(self, document: Document) -> Document:
        return await replace_unchanged(self._c, document, self._timeout)

    async def stuck(self, statuses: list[str], *, before: datetime, limit: int) -> list[Document]:
        query = (
            "SELECT * FROM c WHERE c.kind = 'transaction' AND ARRAY_CONTAINS(@statuses, c.status)"
            " AND c.updatedAt < @before"
        )
        parameters: list[dict[str, Any]] = [
            {"name": "@statuses", "value": statuses},
            {"name": "@before", "value": before.isoformat()},
        ]
        found: list[Document] = []
        async with guarded(self._timeout * 4):
            # No partition key: the async client queries every partition.
            async for item in self._c.query_items(query, parameters=parameters):
                found.append(item)
                if len(found) >= limit:
                    break
        return found
