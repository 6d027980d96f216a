"""In-memory fakes of the payments capability's stores."""

from __future__ import annotations

from shared.payments.receipt_model import Receipt
from shared.payments.receipts_store import (
    decode_continuation,
    encode_continuation,
    receipt_documents,
)


class FakeReceiptStore:
    """The receipts' store in memory, filing and paging as the Cosmos store does."""

    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], dict[str, object]] = {}

    async def record(self, receipt: Receipt) -> None:
        for document in receipt_documents(receipt):
            self.documents.setdefault((str(document["pk"]), str(document["id"])), document)

    async def get_for(self, user_id: str, receipt_id: str) -> Receipt | None:
        found = self.documents.get((f"user:{user_id}", f"receipt:{receipt_id}"))
        return None if found is None else Receipt.model_validate(found["receipt"])

    async def list_for(
        self, user_id: str, *, limit: int, continuation: str | None = None
    ) -> tuple[list[Receipt], str | None]:
        after = decode_continuation(continuation) if continuation else None
        mine = sorted(
            (d for (pk, _), d in self.documents.items() if pk == f"user:{user_id}"),
            key=lambda d: str(d["sortKey"]),
            reverse=True,
        )
        if after is not None:
            mine = [d for d in mine if str(d["sortKey"]) < after]
        page = mine[:limit]
        token = encode_continuation(str(page[-1]["sortKey"])) if len(mine) > limit else None
        return [Receipt.model_validate(d["receipt"]) for d in page], token
