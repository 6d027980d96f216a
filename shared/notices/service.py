"""Use cases of the archive: publish a position, read it, mark it paid, expire what is due.

``paCreatePosition`` decides as pagoPA does (docs/aca-contract.md): an unknown EC is a 404; a
party that may not act for the EC at all is a 403 (pagoPA's spec is silent: its gateway refuses
such a key before the service); a segregation code the party may not use is pagoPA's 409
"Unauthorized action"; what the archive will not take although the schema allows it is a 422;
then the rules (:mod:`shared.notices.rules`): 409 for an INVALID or PAID position, 422 for
amount 0 on an absent one.

Who may write or read what: :mod:`shared.notices.access`.

A position is found by its nav (the stand-in, payments, reads) in one point read when the nav is
``"3" + iuv``; another nav is looked up through its claim document (:func:`nav_claim_id`), which
also keeps two positions of an EC from holding the same nav (409, as pagoPA's GPD does).

The stand-in capability calls :meth:`NoticeArchive.get` (one point read) and
:meth:`NoticeArchive.mark_paid`; nothing else of this package.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from cachetools import TTLCache

from shared.notices import rules
from shared.notices.access import EC, NODE_NAV, authorize_write, check_keys, check_read_keys
from shared.notices.events import ArchiveEvents, WriteNote
from shared.notices.identity import (
    AUX_DIGIT,
    default_nav,
    is_registry_id,
    legacy_position_id,
    nav_claim_id,
    nav_segregation_code,
    position_id,
    segregation_code,
)
from shared.notices.models import (
    DebtPositionResponse,
    PaidWith,
    Position,
    PositionIn,
    accept,
    answer_of,
)
from shared.notices.rules import Document, NotThere, Outcome, Write
from shared.notices.store import NoticeStore
from shared.notices.times import fixed_time, in_utc
from shared.parties.models import Party
from shared.parties.service import authorize_for_ec
from shared.platform.errors import Conflict, DependencyError, Invalid, NotFound
from shared.platform.retry import KeptLosing, in_hand_then_read, retry_on_stale
from shared.platform.values import unsafe_character

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""ETag conflicts on one position before a write gives up (503: retry)."""
REGISTRY_CACHE_SIZE = 10_000
"""ECs remembered at most (a bound only: they expire after ``ttl`` anyway)."""
EXPIRY_BATCH = 200
EXPIRY_MAX_BATCHES = 50
REKEY_BATCH = 200
CLAIM_SETTLES = timedelta(seconds=60)
"""How long a nav's claim by a position that is not stored yet is left to its creator."""


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
        """The EC ``fiscal_code``; NotFound (404, as pagoPA's) if the registry has no such EC."""
        cached = self._cache.get(fiscal_code)
        if cached is not None:
            return cached
        party = None
        if is_registry_id(fiscal_code):  # anything else names no party: no store to ask
            try:
                party = await self._parties.get(fiscal_code)
            except NotFound:
                party = None
        if party is None or party.role != "ec":
            raise NotFound(
                f"No creditor institution {fiscal_code!r} in the registry",
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


class NoticeArchive:
    """The archive of one process, on its store and the EC directory."""

    def __init__(
        self, store: NoticeStore, ecs: EcDirectory, *, events: ArchiveEvents | None = None
    ) -> None:
        """``events``: where the archive's events go (:mod:`shared.notices.events`); None
        publishes none (tests of the archive alone)."""
        self._store = store
        self.ecs = ecs
        self._events = events

    async def _write(
        self,
        current: Document | None,
        document: Document,
        now: datetime,
        note: WriteNote | None = None,
    ) -> Document:
        """Store ``document`` over ``current`` (None: create) with the events of the change
        (and ``note``'s) in its outbox, then hand them to the publisher."""
        events = self._events.stamp(current, document, now=now) if self._events else []
        if note is not None and self._events is not None:
            events += self._events.noted(document, note, now=now)
        written = await self._put(current, document)
        if self._events is not None:
            self._events.publish(written, events)
        return written

    # ------------------------------------------------------------------ writes
    async def publish(
        self,
        party: Party,
        position: PositionIn,
        *,
        segregation_codes: Sequence[str] | None,
        now: datetime,
        note: WriteNote | None = None,
    ) -> DebtPositionResponse:
        """paCreatePosition: create, update or invalidate one position; returns it as pagoPA's
        ``DebtPositionResponse``. ``note``: who asked, written with the position (even a
        write that changes nothing stores it)."""
        ec = await self.ecs.get(position.pa_fiscal_code)
        authorize_write(party, position, segregation_codes)
        accept(position)
        write = Write(
            position=position,
            key=rules.order_key(now, rules.new_source()),
            by=party.party_id,
            at=now,
            source=rules.API_SOURCE,
            company_name=ec.name,
            default_iban=ec.default_iban,
        )
        _, document = await self.apply(write, assume_absent=position.amount > 0, note=note)
        if not rules.is_present(document):  # an older amount 0 behind a newer one
            raise NotThere(document)
        return answer_of(document, rules.effective_status(document, now=now))

    async def apply(
        self, write: Write, *, assume_absent: bool = False, note: WriteNote | None = None
    ) -> tuple[Outcome, Document]:
        """Apply ``write`` with ETag concurrency; returns its outcome and the stored document.

        ``assume_absent`` tries a create before any read (one round trip for a new position
        whose nav is ``"3" + iuv``; another nav is claimed first).

        Raises:
            NotThere: amount 0 for a position that is not there (its tombstone is stored).
            Conflict: the position is INVALID or PAID, or its nav is another position's.
            DependencyError: Cosmos is unavailable, or the position kept changing.
        """
        claims_nav = write.position.the_nav != default_nav(write.position.iuv)
        read = partial(self._store.get, write.doc_id)
        first_guess = assume_absent and not claims_nav
        current = in_hand_then_read(None, read) if first_guess else read

        async def step() -> tuple[Outcome, Document]:
            document = await current()
            try:
                decision = rules.decide(document, write)
            except NotThere as refusal:
                await self._put(document, refusal.tombstone)
                raise
            if decision.document is None:
                assert document is not None
                if note is None or self._events is None:
                    return decision.outcome, document
                # nothing changes, but the person's write is noted all the same
                return decision.outcome, await self._write(document, dict(document), write.at, note)
            if claims_nav and not rules.is_present(document):  # it creates the position
                await self._claim_nav(write)
            return decision.outcome, await self._write(document, decision.document, write.at, note)

        return await retry_on_stale(
            step, conflict=_kept_changing(write.doc_id), attempts=MAX_ATTEMPTS
        )

    async def _put(self, current: Document | None, document: Document) -> Document:
        if current is None:
            return await self._store.create(document)
        return await self._store.replace(document, current["_etag"])

    async def _claim_nav(self, write: Write) -> None:
        """Make ``write``'s position the holder of its nav (created with it), or raise Conflict
        (409) if another position of the EC holds it."""
        pa, nav = write.position.pa_fiscal_code, write.position.the_nav
        claim_id = nav_claim_id(pa, nav)
        claim = {
            "id": claim_id,
            "pk": claim_id,
            "kind": "nav",
            "paFiscalCode": pa,
            "nav": nav,
            "position": write.doc_id,
            "at": fixed_time(write.at),
        }

        async def step() -> None:
            current = await self._store.get(claim_id)
            if current is None:
                await self._store.create(claim)
                return
            if current["position"] == write.doc_id:
                return
            holder = await self._store.get(current["position"])
            settling = current["at"] > fixed_time(write.at - CLAIM_SETTLES)
            if (rules.is_present(holder) and holder is not None and holder["nav"] == nav) or (
                holder is None and settling
            ):
                raise Conflict(
                    f"Error while create new debit position conflict into request: the nav "
                    f"{nav} already names another debt position of {pa}",
                    errors=[{"loc": ["nav"], "type": "nav_taken", "msg": "already in use"}],
                )
            await self._store.replace(claim, current["_etag"])  # a stale claim: taken over

        await retry_on_stale(step, conflict=_kept_changing(claim_id), attempts=MAX_ATTEMPTS)

    # ------------------------------------------------------------------ reads
    async def find(self, pa_fiscal_code: str, nav: str) -> Document | None:
        """The stored position whose nav is ``nav`` (one point read for ``"3" + iuv``)."""
        if nav.startswith(AUX_DIGIT) and len(nav) > 1:
            document = await self._store.get(position_id(pa_fiscal_code, nav[1:]))
            if rules.is_present(document) and document is not None and document["nav"] == nav:
                return document
        claim = await self._store.get(nav_claim_id(pa_fiscal_code, nav))
        if claim is not None:
            document = await self._store.get(claim["position"])
            if rules.is_present(document) and document is not None and document["nav"] == nav:
                return document
        if EC.fullmatch(pa_fiscal_code) and NODE_NAV.fullmatch(nav):
            legacy = await self._store.get(legacy_position_id(pa_fiscal_code, nav))
            if rules.is_present(legacy):
                return legacy  # not re-keyed yet (see rekey)
        return None

    async def stored(self, pa_fiscal_code: str, iuv: str) -> Document | None:
        """The stored document of the position ACA_<pa_fiscal_code>_<iuv> (one point read)."""
        return await self._store.get(position_id(pa_fiscal_code, iuv))

    async def get(self, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position:
        """The notice ``nav`` (18 digits: what the node carries), its status as of ``now``;
        NotFound if absent."""
        check_keys(pa_fiscal_code, nav)
        document = await self.find(pa_fiscal_code, nav)
        if document is None:
            raise NotFound(f"no position {nav} of {pa_fiscal_code}")
        return rules.as_position(document, now=now)

    async def read(self, party: Party, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position:
        """The position with ``nav`` (any nav the ACA contract allows), for the EC itself or a
        party that acts for it on its codes."""
        check_read_keys(pa_fiscal_code, nav)
        # the nav's code before the store is asked: a notice of another code is 403 whether
        # it exists or not
        authorize_for_ec(party, pa_fiscal_code, [nav_segregation_code(nav)])
        document = await self.find(pa_fiscal_code, nav)
        if document is None:
            raise NotFound(f"no position {nav} of {pa_fiscal_code}")
        # and the IUV's: a notice stored before the two had to agree may differ
        authorize_for_ec(party, pa_fiscal_code, [segregation_code(document["iuv"])])
        return rules.as_position(document, now=now)

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
        paid_with: PaidWith | None = None,
    ) -> Position:
        """Record a payment: the position becomes PAID with ``receipt_id`` (the same receipt
        again changes nothing). For the payment gateway, in stand-in and normal mode alike.
        ``paid_with``: the method, the PSP's fee and the payer, for the EC's receipts.

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

        async def step() -> Document:
            current = await self.find(pa_fiscal_code, nav)
            paid = rules.pay(
                current,
                receipt_id=receipt_id,
                paid_at=paid_at,
                by=by,
                stand_in=stand_in,
                now=now,
                check_payable=stand_in if check_payable is None else check_payable,
                paid_with=paid_with.model_dump(mode="json", by_alias=True) if paid_with else None,
            )
            assert current is not None
            if paid is None:
                return current
            return await self._write(current, paid, now)

        written = await retry_on_stale(step, conflict=_kept_changing(nav), attempts=MAX_ATTEMPTS)
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
            await self._write(document, updated, now)
            return True

        try:
            return await retry_on_stale(step, conflict=KeptLosing(), attempts=MAX_ATTEMPTS)
        except KeptLosing:
            return False  # the next run looks at it again

    # ------------------------------------------------------------------ migration
    async def rekey(self, *, batch: int = REKEY_BATCH) -> dict[str, Any]:
        """Move up to ``batch`` positions stored under ``<paFiscalCode>:<nav>`` (before positions
        were named by IUPD) to their IUPD, claiming a nav that is not ``"3" + iuv``. Where the
        IUPD already holds a position (two navs of one IUV were two positions then, or a write
        came in meanwhile) the one that saw the newest write stays, and a PAID one always does.
        Idempotent: run it until ``remaining`` is false."""
        legacy = await self._store.legacy_positions(batch)
        moved = merged = 0
        for old in legacy:
            new = rules.rekeyed(old)
            existing = await self._store.get(new["id"])
            if existing is None:
                await self._store.create(new)
                moved += 1
            else:
                if _keeps(new, over=existing):
                    await self._store.replace(new, existing["_etag"])
                merged += 1
            kept = new if existing is None or _keeps(new, over=existing) else existing
            if rules.is_present(kept) and kept["nav"] != default_nav(kept["iuv"]):
                await self._store.put_claim(
                    {
                        "id": nav_claim_id(kept["paFiscalCode"], kept["nav"]),
                        "pk": nav_claim_id(kept["paFiscalCode"], kept["nav"]),
                        "kind": "nav",
                        "paFiscalCode": kept["paFiscalCode"],
                        "nav": kept["nav"],
                        "position": kept["id"],
                        "at": kept["updatedAt"],
                    }
                )
            await self._store.delete(old["id"])
        if legacy:
            logger.info("re-keyed %d positions (%d merged)", moved, merged)
        return {"moved": moved, "merged": merged, "remaining": len(legacy) == batch}


def _keeps(candidate: Document, *, over: Document) -> bool:
    """Whether a re-keyed ``candidate`` replaces the position ``over`` at its IUPD."""
    if over.get("status") == "PAID" or not rules.is_present(candidate):
        return False
    if candidate.get("status") == "PAID" or not rules.is_present(over):
        return True
    return str(candidate.get("version", "")) > str(over.get("version", ""))
