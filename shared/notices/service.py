"""Use cases of the archive: publish a position, read it, mark it paid, expire what is due.

Who may write: an EC for its own ``paFiscalCode``, and an intermediary (or an EC that brokers)
for the ECs the party registry lists in its ``actsFor``, limited to the segregation codes listed
there; a request's ``segregationCodes`` can only narrow that. The code is checked on every
identifier a request touches: the IUV's first two digits and the nav's two digits after its aux
digit (the nav names the position; a body whose two disagree is refused by the model anyway).

The stand-in capability calls :meth:`NoticeArchive.get` (one point read) and
:meth:`NoticeArchive.mark_paid`; nothing else of this package.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol

from cachetools import TTLCache

from shared.notices import rules
from shared.notices.models import (
    EC_FISCAL_CODE,
    NAV,
    Position,
    PositionIn,
    fixed_time,
    in_utc,
    nav_segregation_code,
    position_id,
    segregation_code,
)
from shared.notices.rules import Document, NotThere, Outcome, Write
from shared.notices.store import NoticeStore
from shared.parties.models import Party
from shared.parties.service import authorize_for_ec
from shared.platform.errors import DependencyError, Forbidden, Invalid, NotFound
from shared.platform.retry import KeptLosing, in_hand_then_read, retry_on_stale
from shared.platform.values import unsafe_character

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""ETag conflicts on one position before a write gives up (503: retry)."""
REGISTRY_CACHE_SIZE = 10_000
"""ECs remembered at most (a bound only: they expire after ``ttl`` anyway)."""
EXPIRY_BATCH = 200
EXPIRY_MAX_BATCHES = 50
_EC = re.compile(EC_FISCAL_CODE)
_NAV = re.compile(NAV)


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


class EcDirectory:
    """ECs' names and default IBANs from the party registry, cached for ``ttl`` seconds."""

    def __init__(
        self,
        parties: Parties,
        *,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._parties = parties
        self._cache: TTLCache[str, Party, float] = TTLCache(
            REGISTRY_CACHE_SIZE, ttl=ttl, timer=monotonic
        )

    async def get(self, fiscal_code: str) -> Party:
        """The EC ``fiscal_code``; Invalid (422) if the registry has no such EC."""
        cached = self._cache.get(fiscal_code)
        if cached is not None:
            return cached
        try:
            party = await self._parties.get(fiscal_code)
        except NotFound:
            party = None
        if party is None or party.role != "ec":
            raise Invalid(
                f"{fiscal_code} is not a creditor institution of the registry",
                status=422,
                errors=[
                    {
                        "loc": ["paFiscalCode"],
                        "type": "unknown_ec",
                        "msg": "not a registered creditor institution",
                    }
                ],
            )
        self._cache[fiscal_code] = party
        return party


def _kept_changing(doc_id: str) -> DependencyError:
    """What a write gets after MAX_ATTEMPTS lost races: 503, retry (not the caller's fault)."""
    return DependencyError("cosmos", f"position {doc_id} kept changing", retry_after=1)


def parse_segregation_codes(raw: str | None) -> list[str] | None:
    """``"01,02"`` -> ``["01", "02"]``; None when absent; Invalid (400) when malformed."""
    if raw is None:
        return None
    codes = [code.strip() for code in raw.split(",")]
    bad = [code for code in codes if len(code) != 2 or not code.isascii() or not code.isdigit()]
    if bad or not codes:
        raise Invalid(
            "segregationCodes must be comma-separated two-digit codes, e.g. 01,02",
            errors=[
                {
                    "loc": ["query", "segregationCodes"],
                    "type": "pattern",
                    "msg": "comma-separated two-digit codes",
                }
            ],
        )
    return sorted(set(codes))


def authorize_write(
    party: Party, position: PositionIn, segregation_codes: Sequence[str] | None
) -> None:
    """Raise Forbidden unless ``party`` may write ``position``: the segregation code of each of
    its identifiers (the IUV, the nav) must be one the registry gives the party for that EC
    and, if the request names some, one of those (the request narrows what the registry allows,
    never widens it)."""
    codes = {
        "IUV": segregation_code(position.iuv),
        "nav": nav_segregation_code(position.the_nav),
    }
    if segregation_codes is not None:
        for name, code in codes.items():
            if code not in segregation_codes:
                raise Forbidden(
                    f"the {name}'s segregation code {code!r} is not among the request's "
                    f"segregationCodes ({','.join(segregation_codes)})"
                )
    authorize_for_ec(party, position.pa_fiscal_code, codes.values())


def check_keys(pa_fiscal_code: str, nav: str) -> None:
    """Invalid (400) unless the route names a position: 11 and 18 digits."""
    errors = []
    if not _EC.fullmatch(pa_fiscal_code):
        errors.append({"loc": ["path", "paFiscalCode"], "type": "pattern", "msg": "11 digits"})
    if not _NAV.fullmatch(nav):
        errors.append({"loc": ["path", "nav"], "type": "pattern", "msg": "18 digits"})
    if errors:
        raise Invalid(
            "a position is named by an 11-digit paFiscalCode and an 18-digit nav", errors=errors
        )


class NoticeArchive:
    """The archive of one process, on its store and the EC directory."""

    def __init__(self, store: NoticeStore, ecs: EcDirectory) -> None:
        self._store = store
        self.ecs = ecs

    # ------------------------------------------------------------------ writes
    async def publish(
        self,
        party: Party,
        position: PositionIn,
        *,
        segregation_codes: Sequence[str] | None,
        now: datetime,
    ) -> Position:
        """paCreatePosition: create, update or invalidate one position; returns it as stored."""
        authorize_write(party, position, segregation_codes)
        ec = await self.ecs.get(position.pa_fiscal_code)
        write = Write(
            position=position,
            key=rules.order_key(now, rules.new_source()),
            by=party.party_id,
            at=now,
            source=rules.API_SOURCE,
            company_name=ec.name,
            default_iban=ec.default_iban,
        )
        _, document = await self.apply(write, assume_absent=position.amount > 0)
        if not rules.is_present(document):  # an older amount 0 behind a newer one
            raise NotThere(document)
        return rules.as_position(document, now=now)

    async def apply(self, write: Write, *, assume_absent: bool = False) -> tuple[Outcome, Document]:
        """Apply ``write`` with ETag concurrency; returns its outcome and the stored document.

        ``assume_absent`` tries a create before any read (one round trip for a new position).

        Raises:
            NotThere: amount 0 for a position that is not there (its tombstone is stored).
            Conflict: the position is PAID.
            DependencyError: Cosmos is unavailable, or the position kept changing.
        """
        read = partial(self._store.get, write.doc_id)
        current = in_hand_then_read(None, read) if assume_absent else read

        async def step() -> tuple[Outcome, Document]:
            document = await current()
            try:
                decision = rules.decide(document, write)
            except NotThere as refusal:
                await self._put(document, refusal.tombstone)
                raise
            if decision.document is None:
                assert document is not None
                return decision.outcome, document
            return decision.outcome, await self._put(document, decision.document)

        return await retry_on_stale(
            step, conflict=_kept_changing(write.doc_id), attempts=MAX_ATTEMPTS
        )

    async def _put(self, current: Document | None, document: Document) -> Document:
        if current is None:
            return await self._store.create(document)
        return await self._store.replace(document, current["_etag"])

    # ------------------------------------------------------------------ reads
    async def get(self, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position:
        """The position (one point read), its status as of ``now``; NotFound if absent."""
        check_keys(pa_fiscal_code, nav)
        document = await self._store.get(position_id(pa_fiscal_code, nav))
        if document is None or not rules.is_present(document):
            raise NotFound(f"no position {nav} of {pa_fiscal_code}")
        return rules.as_position(document, now=now)

    async def read(self, party: Party, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position:
        """The position, for the EC itself or a party that acts for it on its codes."""
        check_keys(pa_fiscal_code, nav)
        # the nav's code before the store is asked: a notice of another code is 403 whether
        # it exists or not
        authorize_for_ec(party, pa_fiscal_code, [nav_segregation_code(nav)])
        position = await self.get(pa_fiscal_code, nav, now=now)
        # and the IUV's: a notice stored before the two had to agree may differ
        authorize_for_ec(party, pa_fiscal_code, [segregation_code(position.iuv)])
        return position

    # ------------------------------------------------------------------ lifecycle
    async def mark_paid(
        self,
        pa_fiscal_code: str,
        nav: str,
        *,
        receipt_id: str,
        paid_at: datetime,
        by: str,
        stand_in: bool,
        now: datetime,
        check_payable: bool | None = None,
    ) -> Position:
        """Record a payment: the position becomes PAID with ``receipt_id`` (the same receipt
        again changes nothing). For the payment gateway, in stand-in and normal mode alike.

        ``check_payable`` (default: ``stand_in``): refuse a position not payable in stand-in.
        The gateway checks that when it activates and records the outcome without it: the
        citizen has paid by then, whatever happened to the position meanwhile.

        Raises:
            NotFound: no such position.
            Conflict: paid already with another receipt; in stand-in, not payable.
        """
        check_keys(pa_fiscal_code, nav)
        if not receipt_id or len(receipt_id) > 255 or unsafe_character(receipt_id):
            raise Invalid("receipt_id must be 1 to 255 characters, with no NUL")
        try:
            in_utc(paid_at)
        except ValueError as error:
            raise Invalid(f"paid_at: {error}") from None
        doc_id = position_id(pa_fiscal_code, nav)

        async def step() -> Document:
            current = await self._store.get(doc_id)
            paid = rules.pay(
                current,
                receipt_id=receipt_id,
                paid_at=paid_at,
                by=by,
                stand_in=stand_in,
                now=now,
                check_payable=stand_in if check_payable is None else check_payable,
            )
            assert current is not None
            if paid is None:
                return current
            return await self._store.replace(paid, current["_etag"])

        written = await retry_on_stale(step, conflict=_kept_changing(doc_id), attempts=MAX_ATTEMPTS)
        return rules.as_position(written, now=now)

    async def expire_due(self, *, now: datetime, concurrency: int = 16) -> int:
        """Store EXPIRED on every VALID position past its date with switchToExpired; returns
        how many it expired (bounded per run: the next run goes on)."""
        expired = 0
        slots = asyncio.Semaphore(concurrency)

        async def one(document: Document) -> bool:
            async with slots:
                return await self._expire_one(document, now=now)

        for _ in range(EXPIRY_MAX_BATCHES):
            due = await self._store.due_to_expire(fixed_time(now), EXPIRY_BATCH)
            results = await asyncio.gather(*(one(d) for d in due))
            expired += sum(results)
            if len(due) < EXPIRY_BATCH or not any(results):
                break
        if expired:
            logger.info("expired %d positions", expired)
        return expired

    async def _expire_one(self, due: Document, *, now: datetime) -> bool:
        in_hand: Document | None = due
        current = in_hand_then_read(in_hand, partial(self._store.get, due["id"]))

        async def step() -> bool:
            document = await current()
            updated = None if document is None else rules.expire(document, now=now)
            if document is None or updated is None:
                return False
            await self._store.replace(updated, document["_etag"])
            return True

        try:
            return await retry_on_stale(step, conflict=KeptLosing(), attempts=MAX_ATTEMPTS)
        except KeptLosing:
            return False  # the next run looks at it again
