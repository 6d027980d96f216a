"""The cashback's use cases: enrollment, enabling instruments, and the wallet's events.

Rules (issue 7; the arithmetic lives in :mod:`shared.cashback.rules`):

- A citizen enrolls by accepting the terms and conditions (the time is kept: transactions count
  only strictly after it). Withdrawing disables every instrument and keeps what was earned.
- Only a VALIDATED instrument of the caller's own wallet can be enabled: the wallet's service
  says so (never its documents). Cashback learns an instrument's hpan from the wallet's events,
  and keeps its activation history by hpan, so a replacement in the wallet (same hpan, new
  walletId) keeps the original activation date.
- One instrument is enabled for one citizen at a time: the hpan's document says who; anyone
  else is told 409 without being told who.
- An IBAN is validated here (Italian, mod-97, CIN) and checked with the bank asynchronously:
  the request leaves through the citizen document's outbox to ``IBAN_CHECK_QUEUE``.
- The wallet's events are applied idempotently and out of order: an event older than the last
  one applied to the instrument changes nothing. ``InstrumentDeleted`` disables the instrument
  at the deletion's instant.

The hpan's document also holds, per citizen who enabled it, what scoring needs (their spans,
T&C time and fiscal code: :class:`StoredHolder`), so the scorer reads that document alone. It
lives in another partition than the citizen's instrument, so the two are written one after
the other, in an order that a retry completes:

- Enabling writes the hpan's document first (the claim decides the 409), the new span
  included; the instrument then takes its spans from there (a retry reuses the same instant).
- Disabling (and withdrawing, and the wallet's deletion) closes the span on the instrument
  first; the hpan's document then copies that instant.
- Each write merges both sides' spans (:func:`_merged`: by when they began; closed wins), so
  whatever was written before a crash is completed by the next enabling or disabling.
- Enrolling again after a withdrawal changes the T&C time: the citizen's document records it
  with ``hpansBehind``, the hpans' documents are updated, then the flag is cleared; an
  interrupted update is completed by the next enroll or enable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from pydantic import ValidationError

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import iban, rules
from shared.cashback.bank import BankCheck
from shared.cashback.documents import (
    CITIZEN_ID,
    Span,
    StoredCitizen,
    StoredHolder,
    StoredHpan,
    StoredInstrument,
    StoredPeriod,
    StoredRanks,
    StoredTransactionRecord,
    dump,
    hpan_pk,
    instrument_id,
    period_id,
    rank_bucket_pk,
)
from shared.cashback.models import (
    Activation,
    CashbackInstrument,
    CashbackInstrumentList,
    CashbackStatus,
    Citizen,
    IbanCheckRequest,
    IbanIn,
    Milestones,
    PeriodList,
    PeriodState,
    ScoredTransaction,
    TransactionPage,
    WalletEvent,
)
from shared.cashback.store import CashbackStore, Document
from shared.platform.errors import (
    Conflict,
    DependencyError,
    Invalid,
    NotFound,
    PermanentError,
    RescheduleLater,
    TransientError,
)
from shared.platform.outbox import Event, add_events
from shared.platform.retry import retry_on_stale
from shared.wallet.models import Instrument

logger = logging.getLogger(__name__)

T = TypeVar("T")
PAGE_SIZE = 50
_LAST_KEY = "\uffff"  # sorts after every stored sort key
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[A-Za-z0-9._:-]{3,130}$")
_WALLET_LAG_SECONDS = "2"
# What the citizen endpoints read of a partition (not the period states, match documents and
# listing records a heavy user has thousands of).
_PROFILE = ("citizen", "instrument")


class WalletReader(Protocol):
    """The part of the wallet's service cashback uses."""

    async def get(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> Instrument:
        """The caller's instrument as the wallet sees it; NotFound if not theirs."""
        ...


class Publisher(Protocol):
    async def publish(self, document: Document) -> bool:
        """Send the document's outbox and clear it; False if it must wait for the sweep."""
        ...


class Cashback:
    """The state cashback, on its ports."""

    def __init__(
        self,
        *,
        store: CashbackStore,
        wallet: WalletReader,
        periods: tuple[rules.Period, ...],
        publisher: Publisher,
        bank: BankCheck,
        iban_queue: str,
    ) -> None:
        self._store = store
        self._wallet = wallet
        self.calendar = periods
        self._publisher = publisher
        self._bank = bank
        self._iban_queue = iban_queue

    # ------------------------------------------------------------------ enrollment
    async def enroll(self, fiscal_code: str, *, now: datetime) -> Citizen:
        """Enroll (accepting T&C now); enrolling again changes nothing, after a withdrawal
        the terms are accepted again."""
        pk = fiscal_code_hash(fiscal_code)

        async def attempt() -> StoredCitizen:
            raw = await self._store.get(pk, CITIZEN_ID)
            if raw is None:
                item = StoredCitizen(
                    pk=pk,
                    fiscal_code=fiscal_code,
                    status="ENROLLED",
                    terms_accepted_at=now,
                    enrolled_at=now,
                    updated_at=now,
                )
                await self._store.create(dump(item))
                logger.info("citizen %s enrolled", pk[:12])
                return item
            item = StoredCitizen.model_validate(raw)
            if item.status == "ENROLLED":
                return item
            # The hpans' documents learn the new T&C time next (see the module docstring).
            item = item.model_copy(
                update={
                    "status": "ENROLLED",
                    "terms_accepted_at": now,
                    "enrolled_at": now,
                    "withdrawn_at": None,
                    "hpans_behind": True,
                    "updated_at": now,
                }
            )
            await self._store.replace(dump(item, raw))
            return item

        item = await _retrying(attempt)
        if item.hpans_behind:  # just now, or by an enrollment interrupted before it ended
            item = await self._catch_up_hpans(item, now)
        return _citizen_view(item)

    async def citizen(self, fiscal_code: str) -> Citizen:
        raw = await self._store.get(fiscal_code_hash(fiscal_code), CITIZEN_ID)
        if raw is None:
            raise NotFound("not enrolled in cashback")
        return _citizen_view(StoredCitizen.model_validate(raw))

    async def set_iban(self, fiscal_code: str, request: IbanIn, *, now: datetime) -> Citizen:
        """Record where payouts go and ask the bank, asynchronously, whether it is the
        citizen's: ``PENDING`` until it answers. The same IBAN and name again (pending or
        confirmed) changes nothing.

        Raises:
            Invalid: (422) not an Italian IBAN (length, mod-97, CIN).
            Conflict: not enrolled.
        """
        value = iban.normalized(request.iban)
        reason = iban.problem(value)
        if reason is not None:
            raise Invalid(
                f"iban: {reason}",
                status=422,
                errors=[{"loc": ["iban"], "msg": reason, "type": "value_error"}],
            )
        owner = " ".join(request.owner_name.split())
        pk = fiscal_code_hash(fiscal_code)

        async def attempt() -> tuple[StoredCitizen, Document | None]:
            raw = await self._store.get(pk, CITIZEN_ID)
            if raw is None or raw.get("status") != "ENROLLED":
                raise Conflict("enroll in cashback (PUT /api/v1/cashback/citizen) first")
            item = StoredCitizen.model_validate(raw)
            if (item.iban, item.iban_owner) == (value, owner) and item.iban_status in (
                "PENDING",
                "OK",
            ):
                return item, None
            request_id = str(uuid.uuid4())
            item = item.model_copy(
                update={
                    "iban": value,
                    "iban_owner": owner,
                    "iban_status": "PENDING",
                    "iban_request": request_id,
                    "iban_checked_at": None,
                    "updated_at": now,
                }
            )
            check = IbanCheckRequest(
                request_id=request_id,
                citizen_id=pk,
                fiscal_code=fiscal_code,
                iban=value,
                owner_name=owner,
            )
            document = add_events(
                dump(item, raw),
                [
                    Event.new(
                        "IbanCheckRequested",
                        self._iban_queue,
                        check.model_dump(mode="json", by_alias=True),
                        now=now,
                    )
                ],
            )
            return item, await self._store.replace(document)

        item, written = await _retrying(attempt)
        if written is not None:
            await self._publisher.publish(written)
        return _citizen_view(item)

    async def on_iban_check(self, body: bytes, *, now: datetime) -> None:
        """Ask the bank about a pending IBAN and record its answer (once; a check that a
        newer IBAN superseded is dropped).

        Raises:
            PermanentError: not an IBAN check request.
            RescheduleLater: the bank-check service is unavailable.
        """
        try:
            payload = json.loads(body)  # an outbox event: {id, type, createdAt, data}
            check = IbanCheckRequest.model_validate(
                payload.get("data") if isinstance(payload, dict) else None
            )
        except ValueError as error:  # bad JSON, or a ValidationError
            raise PermanentError(f"not an IBAN check request: {error}") from None
        pk = check.citizen_id

        def current(raw: Document | None) -> StoredCitizen | None:
            if raw is None or raw.get("ibanRequest") != check.request_id:
                return None
            item = StoredCitizen.model_validate(raw)
            return item if item.iban_status == "PENDING" else None

        if current(await self._store.get(pk, CITIZEN_ID)) is None:
            return  # superseded, or answered already
        try:
            result = await self._bank.check(
                iban=check.iban, fiscal_code=check.fiscal_code, owner_name=check.owner_name
            )
        except DependencyError as error:
            raise RescheduleLater(
                f"bank check: {error.detail}", delay_seconds=error.retry_after
            ) from None

        async def attempt() -> None:
            raw = await self._store.get(pk, CITIZEN_ID)
            item = current(raw)
            if item is None:
                return
            item = item.model_copy(
                update={"iban_status": result, "iban_checked_at": now, "updated_at": now}
            )
            await self._store.replace(dump(item, raw))
            logger.info("IBAN check %s: %s", check.request_id, result)

        try:
            await _retrying(attempt)
        except Conflict as error:
            raise TransientError(error.detail) from None

    async def withdraw(self, fiscal_code: str, *, now: datetime) -> None:
        """Withdraw: every instrument is disabled now; what was earned stays. Again: no-op."""
        pk = fiscal_code_hash(fiscal_code)

        async def attempt() -> None:
            raw = await self._store.get(pk, CITIZEN_ID)
            if raw is None:
                raise NotFound("not enrolled in cashback")
            item = StoredCitizen.model_validate(raw)
            if item.status == "WITHDRAWN":
                return
            item = item.model_copy(
                update={"status": "WITHDRAWN", "withdrawn_at": now, "updated_at": now}
            )
            await self._store.replace(dump(item, raw))

        await _retrying(attempt)
        # Always, even when already withdrawn: a withdrawal interrupted here completes. Every
        # instrument, not only those shown enabled: an enabling interrupted after its claim
        # left the span on the hpan's document alone, and it must end too.
        instruments = _instruments(await self._store.partition(pk, _PROFILE))
        await asyncio.gather(*(self._disable(pk, i.hpan, now) for i in instruments))

    # ------------------------------------------------------------------ instruments
    async def instruments(self, fiscal_code: str) -> CashbackInstrumentList:
        items = _instruments(await self._store.partition(fiscal_code_hash(fiscal_code), _PROFILE))
        items.sort(key=lambda i: i.wallet_event_at, reverse=True)
        return CashbackInstrumentList(instruments=[_instrument_view(i) for i in items])

    async def enable(
        self, fiscal_code: str, wallet_id: str, *, now: datetime
    ) -> CashbackInstrument:
        """Enable a validated instrument of the caller's wallet; enabled already: as it is.

        Raises:
            NotFound: not an instrument of the caller's wallet.
            Conflict: not enrolled; not VALIDATED in the wallet; not yet known to cashback
                (the wallet's event is on its way: retry); enabled by another citizen.
        """
        pk = fiscal_code_hash(fiscal_code)
        documents, shown = await asyncio.gather(
            self._store.partition(pk, _PROFILE), self._wallet.get(fiscal_code, wallet_id, now=now)
        )
        raw_citizen = next((d for d in documents if d.get("kind") == "citizen"), None)
        if raw_citizen is None or raw_citizen.get("status") != "ENROLLED":
            raise Conflict("enroll in cashback (PUT /api/v1/cashback/citizen) first")
        citizen = StoredCitizen.model_validate(raw_citizen)
        if shown.status != "VALIDATED":
            raise Conflict(
                f"the instrument is {shown.status}: only a validated instrument "
                "can be enabled for cashback"
            )
        known = next((i for i in _instruments(documents) if i.wallet_id == wallet_id), None)
        if known is None:
            raise Conflict(
                "the wallet has not yet told cashback about this instrument; retry in a moment",
                headers={"Retry-After": _WALLET_LAG_SECONDS},
            )
        if known.status == "ENABLED":
            return _instrument_view(known)
        if citizen.hpans_behind:  # an enrollment interrupted before the hpans learnt of it
            citizen = await self._catch_up_hpans(citizen, now)
        spans = await self._claim(known, citizen, now)

        async def attempt() -> StoredInstrument:
            raw = await self._store.get(pk, known.id)
            if raw is None:
                raise NotFound(f"no instrument {wallet_id}")
            item = StoredInstrument.model_validate(raw)
            # The spans as the claim left them: the new one with the claim's instant (a
            # disabling that came in between closed it here already, and wins).
            synced = _synced(item, spans, now)
            if synced is item:
                return item
            await self._store.replace(dump(synced, raw))
            logger.info("instrument %s enabled for cashback", wallet_id)
            return synced

        return _instrument_view(await _retrying(attempt))

    async def disable(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> None:
        """Disable one of the caller's instruments; disabled already: nothing changes."""
        pk = fiscal_code_hash(fiscal_code)
        known = next(
            (
                i
                for i in _instruments(await self._store.partition(pk, _PROFILE))
                if i.wallet_id == wallet_id
            ),
            None,
        )
        if known is None:
            raise NotFound(f"no cashback instrument {wallet_id[:64]}")
        await self._disable(pk, known.hpan, now)

    # ------------------------------------------------------------------ periods
    async def periods(self, fiscal_code: str, *, now: datetime) -> PeriodList:
        """The calendar, newest first, with the caller's state and rank in each period."""
        pk = fiscal_code_hash(fiscal_code)
        calendar = sorted(self.calendar, key=lambda p: p.start, reverse=True)
        # The states by id: the partition also holds a record per transaction and a match
        # document per match key, which a heavy user has by the thousand.
        documents, ranks = await asyncio.gather(
            self._store.get_all(pk, [period_id(p.id) for p in calendar]),
            asyncio.gather(
                *(
                    self._store.get(rank_bucket_pk(p.id, pk), rank_bucket_pk(p.id, pk))
                    for p in calendar
                )
            ),
        )
        states = {d["period"]: StoredPeriod.model_validate(d) for d in documents if d}
        return PeriodList(
            periods=[
                _ranked(_period_view(p, states.get(p.id), now), p, pk, r)
                for p, r in zip(calendar, ranks, strict=True)
            ]
        )

    async def period(self, fiscal_code: str, period: str, *, now: datetime) -> PeriodState:
        found = next((p for p in self.calendar if str(p.id) == period), None)
        if found is None:
            raise NotFound(f"no period {period[:16]}")
        pk = fiscal_code_hash(fiscal_code)
        raw, ranks = await asyncio.gather(
            self._store.get(pk, period_id(found.id)),
            self._store.get(rank_bucket_pk(found.id, pk), rank_bucket_pk(found.id, pk)),
        )
        shown = _period_view(found, StoredPeriod.model_validate(raw) if raw else None, now)
        return _ranked(shown, found, pk, ranks)

    async def transactions(
        self, fiscal_code: str, period: str, *, continuation: str | None = None
    ) -> TransactionPage:
        """The caller's scored transactions in ``period``, newest first, a page at a time.

        Raises:
            NotFound: no such period.
            Invalid: a continuation token this API did not give.
        """
        found = next((p for p in self.calendar if str(p.id) == period), None)
        if found is None:
            raise NotFound(f"no period {period[:16]}")
        before = _LAST_KEY
        if continuation is not None:
            try:
                before = base64.urlsafe_b64decode(continuation.encode() + b"==").decode()
            except (ValueError, UnicodeDecodeError):
                before = ""
            if not _SORT_KEY.match(before):
                raise Invalid("continuationToken: not one this API gave")
        rows = await self._store.transactions(
            fiscal_code_hash(fiscal_code), found.id, before=before, limit=PAGE_SIZE + 1
        )
        page = [StoredTransactionRecord.model_validate(r) for r in rows[:PAGE_SIZE]]
        token = None
        if len(rows) > PAGE_SIZE:
            token = base64.urlsafe_b64encode(page[-1].sort_key.encode()).decode().rstrip("=")
        return TransactionPage(
            transactions=[ScoredTransaction.model_validate(r.model_dump()) for r in page],
            continuation_token=token,
        )

    # ------------------------------------------------------------------ the wallet's events
    async def on_wallet_event(self, body: bytes, *, now: datetime) -> None:
        """Apply one of the wallet's events (see the module docstring).

        Raises:
            PermanentError: not a wallet event.
            TransientError: the instrument kept changing under us.
        """
        try:
            event = WalletEvent.model_validate_json(body)
        except ValidationError as error:
            raise PermanentError(
                f"not a wallet event: {error.error_count()} problem(s), "
                f"first: {error.errors()[0]['msg']}"
            ) from None
        data = event.data
        pk, hpan = data.citizen_id, data.hpan
        at = event.created_at
        deleted = event.type == "InstrumentDeleted"
        # A deletion ends a span the hpan's document holds even if the instrument does not
        # show it yet (an enabling interrupted after its claim).
        spans = await self._spans(hpan, pk) if deleted else []

        async def attempt() -> list[Span] | None:
            raw = await self._store.get(pk, instrument_id(hpan))
            item = StoredInstrument.model_validate(raw) if raw else None
            if item is not None and at < item.wallet_event_at:
                return None  # older than what is applied already
            if deleted:
                if item is not None and item.wallet_id != data.wallet_id:
                    return None  # an instrument the wallet replaced since
                synced = _synced(item, spans, now) if item is not None else None
                changed = _wallet_deleted(synced, pk, hpan, data.wallet_id, data.type, at, now)
            else:
                changed = _wallet_validated(
                    item, pk, hpan, data.wallet_id, data.type, data.brand, at, now
                )
            if raw is None:
                await self._store.create(dump(changed))
            else:
                await self._store.replace(dump(changed, raw))
            return changed.history if deleted else None

        try:
            closed = await _retrying(attempt)
        except Conflict as error:
            raise TransientError(error.detail) from None
        if closed is not None:
            await self._release(hpan, pk, closed, now)
        logger.info("wallet event %s %s applied", event.type, event.id)

    # ------------------------------------------------------------------ helpers
    async def _disable(self, pk: str, hpan: str, now: datetime) -> None:
        """End ``pk``'s span of ``hpan``: on the instrument first, then on the hpan's document
        with the same instant (see the module docstring)."""
        spans = await self._spans(hpan, pk)

        async def attempt() -> list[Span]:
            raw = await self._store.get(pk, instrument_id(hpan))
            if raw is None:
                return []
            item = StoredInstrument.model_validate(raw)
            synced = _synced(item, spans, now)
            if synced.status == "ENABLED":
                synced = _closed(synced, now)
            if synced is not item:
                await self._store.replace(dump(synced, raw))
            return synced.history

        closed = await _retrying(attempt)
        # Always: a disabling interrupted before this completes when asked again.
        await self._release(hpan, pk, closed, now)

    async def _spans(self, hpan: str, pk: str) -> list[Span]:
        """``pk``'s spans of ``hpan`` as the hpan's document holds them ([]: none kept)."""
        raw = await self._store.get(hpan_pk(hpan), hpan)
        holder = StoredHpan.model_validate(raw).holders.get(pk) if raw else None
        return holder.history if holder is not None else []

    async def _claim(
        self, known: StoredInstrument, citizen: StoredCitizen, now: datetime
    ) -> list[Span]:
        """Make ``citizen`` the one citizen with the instrument enabled, a span open from
        ``now`` (or the one already open: a retry keeps its instant) on the hpan's document
        with what scoring needs; Conflict if someone else has it. Returns the spans written."""
        hpan, pk = known.hpan, citizen.pk

        async def attempt() -> list[Span]:
            raw = await self._store.get(hpan_pk(hpan), hpan)
            item = (
                StoredHpan.model_validate(raw)
                if raw is not None
                else StoredHpan(id=hpan, pk=hpan_pk(hpan), updated_at=now)
            )
            if item.active is not None and item.active != pk:
                raise Conflict("this instrument is enabled for cashback by another citizen")
            before = item.holders.get(pk)
            # The instrument's spans too: a disabling that died before its write here closed
            # the span on the instrument only (closed wins).
            spans = _merged(before.history if before else [], known.history)
            if not spans or spans[-1].disabled_at is not None:
                spans = [*spans, Span(enabled_at=now)]
            holder = StoredHolder(
                fiscal_code=citizen.fiscal_code,
                terms_accepted_at=citizen.terms_accepted_at,
                history=spans,
            )
            citizens = item.citizens if pk in item.citizens else [*item.citizens, pk]
            if raw is not None and (item.active, item.citizens, before) == (pk, citizens, holder):
                return spans
            item = item.model_copy(
                update={
                    "active": pk,
                    "citizens": citizens,
                    "holders": {**item.holders, pk: holder},
                    "updated_at": now,
                }
            )
            if raw is None:
                await self._store.create(dump(item))
            else:
                await self._store.replace(dump(item, raw))
            return spans

        return await _retrying(attempt)

    async def _release(self, hpan: str, pk: str, closed: list[Span], now: datetime) -> None:
        """The hpan's document after ``pk``'s instrument was closed (``closed``: its spans):
        the same instants, and free for others unless a span is still open there (an
        enabling that claimed it since)."""

        async def attempt() -> None:
            raw = await self._store.get(hpan_pk(hpan), hpan)
            if raw is None:
                return
            item = StoredHpan.model_validate(raw)
            update: dict[str, object] = {}
            holder = item.holders.get(pk)
            still_open = False
            if holder is not None:
                spans = _merged(holder.history, closed)
                still_open = bool(spans) and spans[-1].disabled_at is None
                if spans != holder.history:
                    update["holders"] = {
                        **item.holders,
                        pk: holder.model_copy(update={"history": spans}),
                    }
            if item.active == pk and not still_open:
                update["active"] = None
            if not update:
                return
            await self._store.replace(
                dump(item.model_copy(update={**update, "updated_at": now}), raw)
            )

        await _retrying(attempt)

    async def _catch_up_hpans(self, citizen: StoredCitizen, now: datetime) -> StoredCitizen:
        """Give the hpans' documents ``citizen``'s T&C time (it changed: enrolled again), then
        clear ``hpansBehind``. Returns the citizen as stored after."""
        pk, accepted_at = citizen.pk, citizen.terms_accepted_at

        async def one(hpan: str) -> None:
            async def attempt() -> None:
                raw = await self._store.get(hpan_pk(hpan), hpan)
                holder = StoredHpan.model_validate(raw).holders.get(pk) if raw else None
                # Never back: a late writer for an earlier enrollment leaves a later time be.
                if raw is None or holder is None or holder.terms_accepted_at >= accepted_at:
                    return
                item = StoredHpan.model_validate(raw)
                changed = holder.model_copy(update={"terms_accepted_at": accepted_at})
                await self._store.replace(
                    dump(
                        item.model_copy(
                            update={"holders": {**item.holders, pk: changed}, "updated_at": now}
                        ),
                        raw,
                    )
                )

            await _retrying(attempt)

        hpans = [i.hpan for i in _instruments(await self._store.partition(pk, _PROFILE))]
        await asyncio.gather(*(one(hpan) for hpan in hpans))

        async def cleared() -> StoredCitizen:
            raw = await self._store.get(pk, CITIZEN_ID)
            item = StoredCitizen.model_validate(raw) if raw else None
            if item is None or not item.hpans_behind or item.terms_accepted_at != accepted_at:
                return item or citizen  # enrolled again meanwhile: that one catches up
            item = item.model_copy(update={"hpans_behind": False, "updated_at": now})
            await self._store.replace(dump(item, raw))
            return item

        return await _retrying(cleared)


def _merged(*histories: list[Span]) -> list[Span]:
    """The spans of all ``histories`` by when they began, each once: closed if any closed it
    (the instrument closes first, the hpan's document copies its instant), at the earliest."""
    spans: dict[datetime, Span] = {}
    for history in histories:
        for span in history:
            known = spans.get(span.enabled_at)
            if known is None or (
                span.disabled_at is not None
                and (known.disabled_at is None or span.disabled_at < known.disabled_at)
            ):
                spans[span.enabled_at] = span
    return [spans[at] for at in sorted(spans)]


def _synced(item: StoredInstrument, spans: list[Span], now: datetime) -> StoredInstrument:
    """``item`` with the spans the hpan's document holds for it too (the same object when
    nothing changes): ENABLED while the last span is open."""
    history = _merged(item.history, spans)
    status: CashbackStatus = (
        "ENABLED" if history and history[-1].disabled_at is None else "DISABLED"
    )
    if (history, status) == (item.history, item.status):
        return item
    return item.model_copy(update={"history": history, "status": status, "updated_at": now})


def _closed(item: StoredInstrument, at: datetime) -> StoredInstrument:
    """``item`` disabled at ``at`` (never before its span began)."""
    last = item.history[-1]
    span = last.model_copy(update={"disabled_at": max(at, last.enabled_at)})
    return item.model_copy(
        update={"status": "DISABLED", "updated_at": at, "history": [*item.history[:-1], span]}
    )


def _wallet_validated(
    item: StoredInstrument | None,
    pk: str,
    hpan: str,
    wallet_id: str,
    type_: str,
    brand: str | None,
    at: datetime,
    now: datetime,
) -> StoredInstrument:
    """The instrument after the wallet said it is validated (new, replaced or changed)."""
    if item is None:
        return StoredInstrument(
            id=instrument_id(hpan),
            pk=pk,
            hpan=hpan,
            wallet_id=wallet_id,
            type=type_,
            brand=brand,
            wallet_status="VALIDATED",
            wallet_event_at=at,
            updated_at=now,
        )
    return item.model_copy(
        update={
            "wallet_id": wallet_id,
            "type": type_,
            "brand": brand or item.brand,
            "wallet_status": "VALIDATED",
            "wallet_event_at": at,
            "updated_at": now,
        }
    )


def _wallet_deleted(
    item: StoredInstrument | None,
    pk: str,
    hpan: str,
    wallet_id: str,
    type_: str,
    at: datetime,
    now: datetime,
) -> StoredInstrument:
    """The instrument after the wallet deleted it: disabled at the deletion's instant. Known
    only from this event (it overtook the validation), it is kept so the older event that
    arrives next changes nothing."""
    if item is None:
        return StoredInstrument(
            id=instrument_id(hpan),
            pk=pk,
            hpan=hpan,
            wallet_id=wallet_id,
            type=type_,
            wallet_status="DELETED",
            wallet_event_at=at,
            updated_at=now,
        )
    if item.status == "ENABLED":
        item = _closed(item, at)
    return item.model_copy(
        update={"wallet_status": "DELETED", "wallet_event_at": at, "updated_at": now}
    )


def _period_view(period: rules.Period, state: StoredPeriod | None, now: datetime) -> PeriodState:
    state = state or StoredPeriod.empty("", period.id, now)
    return PeriodState(
        id=period.id,
        start=period.start,
        end=period.end,
        status=rules.period_status(period, now),
        last_processing_day=rules.last_processing_day(period),
        min_transactions=period.min_transactions,
        cashback_percent=period.cashback_percent,
        max_per_transaction=period.max_per_transaction,
        max_per_period=period.max_per_period,
        super_cashback=period.super_cashback,
        top_n=period.top_n,
        grace_days=period.grace_days,
        count=state.count,
        cashback=state.cashback,
        min_reached=state.count >= period.min_transactions,
        cap_reached=state.cashback >= period.max_per_period,
        last_transaction_at=state.last_transaction_at,
        milestones=Milestones(
            min_reached_by=state.min_reached_by, cap_crossed_by=state.cap_crossed_by
        ),
    )


def _ranked(
    shown: PeriodState, period: rules.Period, pk: str, bucket: Document | None
) -> PeriodState:
    """``shown`` with the citizen's rank from the last ranking's bucket, if any."""
    if bucket is None:
        return shown
    ranks = StoredRanks.model_validate(bucket)
    rank = ranks.ranks.get(pk)
    return shown.model_copy(
        update={
            "rank": rank,
            "ranked_at": ranks.computed_at,
            "in_top_n": rank is not None and period.top_n > 0 and rank <= period.top_n,
        }
    )


def _instruments(documents: list[Document]) -> list[StoredInstrument]:
    return [StoredInstrument.model_validate(d) for d in documents if d.get("kind") == "instrument"]


def _citizen_view(item: StoredCitizen) -> Citizen:
    return Citizen(
        status=item.status,
        terms_accepted_at=item.terms_accepted_at,
        enrolled_at=item.enrolled_at,
        withdrawn_at=item.withdrawn_at,
        iban=iban.masked(item.iban) if item.iban else None,
        iban_owner_name=item.iban_owner,
        iban_status=item.iban_status,
    )


def _instrument_view(item: StoredInstrument) -> CashbackInstrument:
    current = item.history[-1] if item.status == "ENABLED" and item.history else None
    return CashbackInstrument(
        wallet_id=item.wallet_id,
        type=item.type,
        brand=item.brand,
        wallet_status=item.wallet_status,
        status=item.status,
        activated_at=current.enabled_at if current else None,
        counts_from=rules.counts_from(current.enabled_at) if current else None,
        history=[
            Activation(
                enabled_at=s.enabled_at,
                disabled_at=s.disabled_at,
                counts_from=rules.counts_from(s.enabled_at),
            )
            for s in item.history
        ],
    )


async def _retrying(step: Callable[[], Awaitable[T]]) -> T:
    return await retry_on_stale(
        step, conflict="the cashback state is being changed concurrently; retry"
    )
