"""In-memory fakes of the notice index's ports: its store, pages as the Cosmos store's."""

from __future__ import annotations

import copy
from datetime import datetime

from shared.auth.secrets import LocalSecrets
from shared.auth.user_ids import SECRET_NAME, UserIds
from shared.notices.times import fixed_time
from shared.payments.index import Document, debtor_partition
from shared.platform.cosmos import StaleDocument

USER_ID_KEY = "test-user-id-key-of-at-least-32-characters"


def user_ids() -> UserIds:
    return UserIds(LocalSecrets({SECRET_NAME: USER_ID_KEY}))


class MemoryIndexStore:
    """The index's store in memory: ETags, creates that conflict, keyset pages."""

    def __init__(self) -> None:
        self.documents: dict[tuple[str, str], Document] = {}
        self._version = 0
        self.queries = 0

    async def get(self, user_id: str, doc_id: str) -> Document | None:
        found = self.documents.get((debtor_partition(user_id), doc_id))
        return copy.deepcopy(found) if found is not None else None

    async def put(self, document: Document, etag: str | None) -> Document:
        key = (str(document["pk"]), str(document["id"]))
        current = self.documents.get(key)
        if (etag is None) != (current is None) or (
            current is not None and current["_etag"] != etag
        ):
            raise StaleDocument(document["id"])
        self._version += 1
        written = {**copy.deepcopy(document), "_etag": f"v{self._version}"}
        self.documents[key] = written
        return copy.deepcopy(written)

    async def page(
        self, user_id: str, *, history: bool, now: datetime, limit: int, after: str | None
    ) -> list[Document]:
        self.queries += 1
        moment = fixed_time(now)

        def open_(d: Document) -> bool:
            return bool(d["open"]) and (not d["switchToExpired"] or d["dueDate"] > moment)

        mine = [
            d
            for (pk, _), d in self.documents.items()
            if pk == debtor_partition(user_id) and d["kind"] == "notice"
        ]
        chosen = [d for d in mine if open_(d) != history]
        if after is not None:
            chosen = [d for d in chosen if d["sortKey"] < after]
        chosen.sort(key=lambda d: str(d["sortKey"]), reverse=True)
        return copy.deepcopy(chosen[:limit])
