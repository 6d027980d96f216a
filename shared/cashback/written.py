"""The documents this process wrote last (period states, match documents), with their ETags:
a writer starts from one instead of reading it.

Another process may have written since; the ETag then refuses the write and the document is
read again. Bounded by size: about one unit per document and per transaction id it holds, least
recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict

from shared.cashback.documents import StoredMatch, StoredPeriod

# Units of the documents remembered (one per document and per transaction id it holds): a
# match document of one payment is about 1.5 KB as a model, so ~75 MB at most.
REMEMBERED = 100_000

Written = StoredPeriod | StoredMatch


class WrittenDocuments:
    """The documents (period states, match documents) this process wrote last, as models with
    their ETags, least recently used out first, bounded by their size (about one unit per
    transaction id they hold)."""

    def __init__(self, budget: int = REMEMBERED) -> None:
        self._budget = budget
        self._used = 0
        self._docs: OrderedDict[tuple[str, str], tuple[Written, str, int]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[Written, str] | None:
        """The document (pk, id) as written, and its ETag (None: not remembered)."""
        found = self._docs.get(key)
        if found is None:
            return None
        self._docs.move_to_end(key)
        return found[0], found[1]

    def put(self, key: tuple[str, str], model: Written, etag: str, weight: int) -> None:
        """Remember ``model`` (never changed afterwards) as written with ``etag``."""
        self.drop(key)
        if weight > self._budget:
            return
        self._docs[key] = (model, etag, weight)
        self._used += weight
        while self._used > self._budget:
            _, (_, _, dropped) = self._docs.popitem(last=False)
            self._used -= dropped

    def drop(self, key: tuple[str, str]) -> None:
        found = self._docs.pop(key, None)
        if found is not None:
            self._used -= found[2]
