"""The journal's use cases: record an event once, search an EC's entries, export them.

Entries are created and never changed: :meth:`Journal.record` creates the entry whose id is
the event's id, and a second delivery of the event finds it there and writes nothing. The only
way an entry goes is its ``ttl`` (``JOURNAL_RETENTION_DAYS``), set when it is written.

An EC's entries are partitioned by month, ``journal:<EC>:<yyyy-mm>`` (UTC), so a search is one
single-partition query per month of its date range, newest month first, and no partition grows
without bound. Entries sort on ``sortKey`` (the time, then the id); a page's cursor is the last
key it returned.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from shared.journal.events import JOURNAL_MESSAGE, StationStandIn, UploadFinished, UploadStarted
from shared.journal.models import KINDS, Entry, EntryPage, Kind
from shared.parties.models import Party
from shared.platform.errors import Invalid, NotFound, PermanentError
from shared.platform.values import decode_json

logger = logging.getLogger(__name__)

Document = dict[str, Any]
ROME = ZoneInfo("Europe/Rome")
MAX_PAGE = 100
MAX_DAYS = 400
"""The longest date range one search covers (one query per month of it, at most 14)."""


class JournalStore(Protocol):
    async def create(self, document: Document) -> bool:
        """Create ``document``; False if one with its id exists already (nothing written)."""
        ...

    async def page(
        self,
        partition: str,
        *,
        low: str,
        high: str,
        kind: str | None,
        object_: str | None,
        limit: int,
    ) -> list[Document]:
        """Up to ``limit`` entries of ``partition`` with ``low <= sortKey < high`` (and the
        kind and object given), by ``sortKey`` descending."""
        ...


@dataclass(frozen=True)
class JournalFilter:
    """A search: Europe/Rome days ``since`` to ``until`` (both included)."""

    since: date
    until: date
    kind: str | None = None
    object_: str | None = None


def partition(ec: str, at: datetime) -> str:
    return f"journal:{ec}:{at.astimezone(UTC):%Y-%m}"


def sort_key(at: datetime, entry_id: str) -> str:
    return f"{_stamp(at)}|{entry_id}"


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _months(low: datetime, high: datetime) -> list[datetime]:
    """The first instants of the UTC months from ``high``'s back to ``low``'s."""
    month = high.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = low.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    months = []
    while month >= first:
        months.append(month)
        month = (month - timedelta(days=1)).replace(day=1)
    return months


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at = datetime.strptime(key.split("|", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Invalid(
            "cursor is the nextCursor of a previous page",
            errors=[{"loc": ["query", "cursor"], "type": "pattern", "msg": "a nextCursor"}],
        ) from None
    if "|" not in key or at.year < 2000:
        raise Invalid("cursor is the nextCursor of a previous page")
    return key


class Parties(Protocol):
    async def get(self, party_id: str) -> Party:
        """The registry's party; NotFound if it has none."""
        ...


class Journal:
    def __init__(
        self, store: JournalStore, *, retention_days: int, parties: Parties | None = None
    ) -> None:
        """``parties``: the party registry, where a station's ECs are looked up."""
        self._store = store
        self._ttl = retention_days * 86_400
        self._parties = parties

    async def record(self, entry: Entry) -> bool:
        """Write ``entry`` unless its id is in the journal already; True if it was written."""
        document: Document = {
            **entry.model_dump(mode="json", by_alias=True),
            "pk": partition(entry.ec, entry.at),
            "sortKey": sort_key(entry.at, entry.id),
            "ttl": self._ttl,
        }
        written = await self._store.create(document)
        if not written:
            logger.info("journal entry %s exists already: nothing written", entry.id)
        return written

    async def take_event(self, body: bytes) -> list[Entry]:
        """Record one message of the journal's queue (:mod:`shared.journal.events`) and
        return its entries (a station's change: one per EC it acts for).

        Raises:
            PermanentError: not a message the journal reads.
            DependencyError: the journal's store or the registry is down (try again).
        """
        try:
            event = JOURNAL_MESSAGE.validate_python(decode_json(body))
        except Invalid as error:
            raise PermanentError(f"not a journal event: {error.detail}") from None
        except ValidationError as error:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            raise PermanentError(f"not a journal event (check {', '.join(fields)[:300]})") from None
        if isinstance(event, StationStandIn):
            named = event.data.ec_fiscal_code
            ecs = [named] if named else await self._ecs_of(event.data.station_id)
            entries = [event.entry_for(ec) for ec in ecs]
        elif isinstance(event, UploadStarted | UploadFinished):
            entries = [event.entry_for(ec) for ec in event.data.ecs()]
        else:
            entries = [event.entry()]
        for entry in entries:
            await self.record(entry)
        return entries

    async def _ecs_of(self, station_id: str) -> list[str]:
        """The ECs the station acts for now (the registry's ``actsFor``); none if the registry
        has no such station."""
        if self._parties is None:
            raise PermanentError("the journal was built without the party registry")
        try:
            party = await self._parties.get(station_id)
        except NotFound:
            party = None
        if party is None or party.role != "station":
            logger.warning("station %s is not in the registry: no entry", station_id)
            return []
        return sorted(party.acts_for)

    async def search(
        self, ec: str, where: JournalFilter, *, cursor: str | None, limit: int
    ) -> EntryPage:
        """A page of ``ec``'s entries matching ``where``, newest first."""
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"pageSize is 1 to {MAX_PAGE}")
        low, high = _bounds(where)
        if cursor is not None:
            key = decode_cursor(cursor)
            high_key = key
            top = datetime.strptime(key.split("|", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            high = min(high, top.replace(tzinfo=UTC) + timedelta(microseconds=1))
        else:
            high_key = _stamp(high)
        found: list[Document] = []
        for month in _months(low, high - timedelta(microseconds=1)):
            found += await self._store.page(
                partition(ec, month),
                low=_stamp(low),
                high=high_key,
                kind=where.kind,
                object_=where.object_,
                limit=limit + 1 - len(found),
            )
            if len(found) > limit:
                break
        items = [Entry.model_validate(d) for d in found[:limit]]
        more = len(found) > limit
        last = found[limit - 1]["sortKey"] if more else None
        return EntryPage(items=items, next_cursor=encode_cursor(last) if last else None)

    async def every(self, ec: str, where: JournalFilter) -> AsyncIterator[Entry]:
        """Every entry matching ``where``, newest first, a page at a time (the CSV export)."""
        cursor: str | None = None
        while True:
            page = await self.search(ec, where, cursor=cursor, limit=MAX_PAGE)
            for entry in page.items:
                yield entry
            if page.next_cursor is None:
                return
            cursor = page.next_cursor


def _bounds(where: JournalFilter) -> tuple[datetime, datetime]:
    """The UTC instants of ``where``'s first day's start and the day after its last."""
    if where.until < where.since:
        raise Invalid(
            "the range ends before it starts",
            errors=[{"loc": ["query", "to"], "type": "range", "msg": "on or after from"}],
        )
    if (where.until - where.since).days > MAX_DAYS:
        raise Invalid(
            f"a search covers {MAX_DAYS} days at most",
            errors=[{"loc": ["query", "from"], "type": "range", "msg": f"{MAX_DAYS} days"}],
        )
    low = datetime.combine(where.since, time(), ROME).astimezone(UTC)
    high = datetime.combine(where.until + timedelta(days=1), time(), ROME).astimezone(UTC)
    return low, high


def checked_kind(kind: str | None) -> Kind | None:
    """``kind`` checked against the journal's kinds."""
    if kind is None:
        return None
    if kind not in KINDS:
        raise Invalid(
            f"kind is one of {', '.join(KINDS)}",
            errors=[{"loc": ["query", "kind"], "type": "enum", "msg": ", ".join(KINDS)}],
        )
    return kind  # type: ignore[return-value]
