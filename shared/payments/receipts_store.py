"""Where citizens' receipts are kept: the payments container, one document per receipt and user.

A receipt is filed under each distinct user id it names (payer and debtor; once when they are the
same citizen), partition key ``user:<userId>``, id ``receipt:<receiptId>``: a citizen's list is a
single-partition query and reading one receipt a point read. Recording is idempotent (the same
receipt id again changes nothing). Pages are keyset pages on ``sortKey`` (``paidAt`` then the
receipt id), newest first; the continuation token is the last key of the page, base64url
encoded, so a page never shifts when a newer receipt arrives.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any, Protocol

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from shared.payments.receipt_model import Receipt
from shared.platform.cosmos import Document, StaleDocument, create_new, guarded
from shared.platform.errors import Invalid

__all__ = [
    "CosmosReceiptStore",
    "ReceiptStore",
    "decode_continuation",
    "encode_continuation",
    "receipt_documents",
    "user_partition",
]


def user_partition(user_id: str) -> str:
    return f"user:{user_id}"


def _sort_key(receipt: Receipt) -> str:
    return f"{receipt.paid_at.isoformat()}|{receipt.receipt_id}"


def receipt_documents(receipt: Receipt) -> list[Document]:
    """The documents filing ``receipt`` under each distinct user id it names."""
    users = dict.fromkeys(
        p.user_id for p in (receipt.payer, receipt.debtor) if p.user_id is not None
    )
    body = receipt.model_dump(mode="json", by_alias=True)
    return [
        {
            "id": f"receipt:{receipt.receipt_id}",
            "pk": user_partition(user),
            "kind": "receipt",
            "sortKey": _sort_key(receipt),
            "receipt": body,
        }
        for user in users
    ]


def encode_continuation(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_continuation(token: str) -> str:
    """The sort key a continuation token carries; Invalid if this store never gave it."""
    try:
        key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Invalid("continuation token is not one this service gave") from None
    if "|" not in key or len(key) > 200:
        raise Invalid("continuation token is not one this service gave")
    return key


class ReceiptStore(Protocol):
    async def record(self, receipt: Receipt) -> None:
        """File ``receipt`` under its users; the same receipt id again changes nothing."""
        ...

    async def get_for(self, user_id: str, receipt_id: str) -> Receipt | None:
        """The receipt if ``user_id`` is its payer or debtor, else None."""
        ...

    async def list_for(
        self, user_id: str, *, limit: int, continuation: str | None = None
    ) -> tuple[list[Receipt], str | None]:
        """A page of the user's receipts, newest first, and the next page's token (None: last)."""
        ...


class CosmosReceiptStore:
    def __init__(self, container: ContainerProxy, timeout: float) -> None:
        self._c = container
        self._timeout = timeout

    async def record(self, receipt: Receipt) -> None:
        for document in receipt_documents(receipt):
            with contextlib.suppress(StaleDocument):  # filed already: a retried completion
                await create_new(self._c, document, self._timeout)

    async def get_for(self, user_id: str, receipt_id: str) -> Receipt | None:
        try:
            async with guarded(self._timeout):
                found: Document = await self._c.read_item(
                    f"receipt:{receipt_id}", partition_key=user_partition(user_id)
                )
        except CosmosResourceNotFoundError:
            return None
        return Receipt.model_validate(found["receipt"])

    async def list_for(
        self, user_id: str, *, limit: int, continuation: str | None = None
    ) -> tuple[list[Receipt], str | None]:
        after = decode_continuation(continuation) if continuation else None
        query = "SELECT TOP @n c.sortKey, c.receipt FROM c WHERE c.kind = 'receipt'"
        parameters: list[dict[str, Any]] = [{"name": "@n", "value": limit + 1}]
        if after is not None:
            query += " AND c.sortKey < @after"
            parameters.append({"name": "@after", "value": after})
        query += " ORDER BY c.sortKey DESC"
        found: list[Document] = []
        async with guarded(self._timeout * 4):
            async for item in self._c.query_items(
                query, parameters=parameters, partition_key=user_partition(user_id)
            ):
                found.append(item)
        page = found[:limit]
        more = len(found) > limit
        token = encode_continuation(page[-1]["sortKey"]) if more and page else None
        return [Receipt.model_validate(item["receipt"]) for item in page], token
