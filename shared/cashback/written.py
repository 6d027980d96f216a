"""The documents this process wrote last (period states, match documents), with their ETags:
a writer starts from one instead of reading it.

Another process may have written since; the ETag then refuses the write and the document is
read again. Bounded by size: about one unit per document and per transaction id it holds, least
recently used out first (a :class:`cachetools.LRUCache` weighed by that size).
"""

from __future__ import annotations

from cachetools import LRUCache

from shared.cashback.documents import StoredMatch, StoredPeriod

# Units of the documents remembered (one per document and per transaction id it holds): a
# match document of one payment is about 1.5 KB as a model, so ~75 MB at most.
REMEMBERED = 100_000

Written = StoredPeriod | StoredMatch
_Entry = tuple[Written, str, int]  # the model, its ETag, its weight


def _weight(entry: _Entry) -> int:
    return entry[2]


class WrittenDocuments:
    """The documents (period states, match documents) this process wrote last, as models with
    their ETags, least recently used out first, bounded by their size (about one unit per
    transaction id they hold)."""

    def __init__(self, budget: int = REMEMBERED) -> None:
        self._budget = budget
        self._docs: LRUCache[tuple[str, str], _Entry] = LRUCache(maxsize=budget, getsizeof=_weight)

    def get(self, key: tuple[str, str]) -> tuple[Written, str] | None:
        """The document (citizen id, document id) as written, and its ETag (None: not
        remembered)."""
        found: _Entry | None = self._docs.get(key)
        if found is None:
            return None
        return found[0], found[1]

    def put(self, key: tuple[str, str], model: Written, etag: str, weight: int) -> None:
        """Remember ``model`` (never changed afterwards) as written with ``etag``; one
        heavier than the whole budget is not kept."""
        self.drop(key)
        if weight > self._budget:
            return
        self._docs[key] = (model, etag, weight)

    def drop(self, key: tuple[str, str]) -> None:
        self._docs.pop(key, None)
