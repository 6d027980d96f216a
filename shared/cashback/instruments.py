"""A citizen's instruments for cashback: listing, enabling and disabling them, and following the
wallet's events about them.

- Only a VALIDATED instrument of the caller's own wallet can be enabled: the wallet's service
  says so (never its documents). Cashback learns an instrument's hpan from the wallet's events
  (which name the citizen by the wallet's user id: :mod:`shared.cashback.wallet_users`), or
  from the wallet's service when it enables one no event told of yet,
  and keeps its activation history by hpan, so a replacement in the wallet (same hpan, new
  walletId) keeps the original activation date.
- One instrument is enabled for one citizen at a time: the hpan's document says who; anyone
  else is told 409 without being told who (:mod:`shared.cashback.hpans` keeps the two in step).
- The wallet's events are applied idempotently and out of order: an event older than the last
  one applied to the instrument changes nothing. ``InstrumentDeleted`` disables the instrument
  at the deletion's instant.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from functools import partial
from typing import Protocol

from pydantic import ValidationError

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.documents import (
    PROFILE_KINDS,
    Span,
    StoredCitizen,
    StoredInstrument,
    dump,
    instrument_id,
    instruments_in,
)
from shared.cashback.hpans import Hpans, closed_at, synced_spans
from shared.cashback.models import (
    CashbackInstrument,
    CashbackInstrumentList,
    WalletEvent,
    WalletEventData,
)
from shared.cashback.store import CashbackStore, StaleDocument, retrying
from shared.cashback.views import instrument_view
from shared.cashback.wallet_users import WalletUsers
from shared.platform.errors import Conflict, NotFound, PermanentError, TransientError

logger = logging.getLogger(__name__)

_WALLET_LAG_SECONDS = "2"


class HeldInstrument(Protocol):
    """What the wallet's service says of an instrument (its ``HeldInstrument``)."""

    @property
    def wallet_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def hpan(self) -> str | None: ...
    @property
    def brand(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


class WalletStatus(Protocol):
    """What the wallet says of one of the caller's instruments (the service adapts the
    wallet's service to it: :class:`shared.cashback.service.WalletReader`)."""

    async def __call__(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> HeldInstrument:
        """The instrument in the caller's wallet; NotFound if it is not theirs."""
        ...


class Instruments:
    """Citizens' instruments for cashback, on their ports."""

    def __init__(
        self,
        *,
        store: CashbackStore,
        wallet_status: WalletStatus,
        hpans: Hpans,
        users: WalletUsers,
    ) -> None:
        self._store = store
        self._wallet_status = wallet_status
        self._hpans = hpans
        self._users = users

    async def of_citizen(self, fiscal_code: str) -> CashbackInstrumentList:
        """The caller's instruments, the latest the wallet told of first."""
        documents = await self._store.partition(fiscal_code_hash(fiscal_code), PROFILE_KINDS)
        items = instruments_in(documents)
        items.sort(key=lambda i: i.wallet_event_at, reverse=True)
        return CashbackInstrumentList(instruments=[instrument_view(i) for i in items])

    async def enable(
        self, fiscal_code: str, wallet_id: str, *, now: datetime
    ) -> CashbackInstrument:
        """Enable a validated instrument of the caller's wallet; enabled already: as it is.

        Raises:
            NotFound: not an instrument of the caller's wallet.
            Conflict: not enrolled; not VALIDATED in the wallet; not yet known to cashback
                (the wallet's event is on its way: retry); enabled by another citizen.
        """
        citizen_id = fiscal_code_hash(fiscal_code)
        documents, held = await asyncio.gather(
            self._store.partition(citizen_id, PROFILE_KINDS),
            self._wallet_status(fiscal_code, wallet_id, now=now),
        )
        status = held.status
        raw_citizen = next((d for d in documents if d.get("kind") == "citizen"), None)
        if raw_citizen is None or raw_citizen.get("status") != "ENROLLED":
            raise Conflict("enroll in cashback (PUT /api/v1/cashback/citizen) first")
        citizen = StoredCitizen.model_validate(raw_citizen)
        if status != "VALIDATED":
            raise Conflict(
                f"the instrument is {status}: only a validated instrument "
                "can be enabled for cashback"
            )
        known = next((i for i in instruments_in(documents) if i.wallet_id == wallet_id), None)
        if known is None:
            known = await self._learn(citizen_id, held, now)
        if known.status == "ENABLED":
            return instrument_view(known)
        if citizen.hpans_behind:  # an enrollment interrupted before the hpans learnt of it
            citizen = await self._hpans.catch_up(citizen, now)
        spans = await self._hpans.claim(known, citizen, now)
        enabled = await retrying(partial(self._take_claimed_spans, known, spans, now))
        return instrument_view(enabled)

    async def _learn(
        self, citizen_id: str, held: HeldInstrument, now: datetime
    ) -> StoredInstrument:
        """An instrument the wallet's events have not told of (validated before cashback met
        its citizen, or the event is on its way): learnt from the wallet's service."""
        if held.hpan is None:
            raise Conflict(
                "the wallet has not yet told cashback about this instrument; retry in a moment",
                headers={"Retry-After": _WALLET_LAG_SECONDS},
            )
        raw = await self._store.get(citizen_id, instrument_id(held.hpan))
        if raw is not None:  # the same card under an older walletId: the event is on its way
            raise Conflict(
                "the wallet has not yet told cashback about this instrument; retry in a moment",
                headers={"Retry-After": _WALLET_LAG_SECONDS},
            )
        learnt = StoredInstrument(
            id=instrument_id(held.hpan),
            pk=citizen_id,
            hpan=held.hpan,
            wallet_id=held.wallet_id,
            type=held.type,
            brand=held.brand,
            wallet_status="VALIDATED",
            wallet_event_at=held.updated_at,
            updated_at=now,
        )
        try:
            await self._store.create(dump(learnt))
        except StaleDocument:  # the event arrived meanwhile
            raise Conflict("the instrument changed meanwhile; retry") from None
        return learnt

    async def _take_claimed_spans(
        self, known: StoredInstrument, spans: list[Span], now: datetime
    ) -> StoredInstrument:
        """The instrument with the spans as the claim left them: the new one with the claim's
        instant (a disabling that came in between closed it here already, and wins)."""
        raw = await self._store.get(known.pk, known.id)
        if raw is None:
            raise NotFound(f"no instrument {known.wallet_id}")
        item = StoredInstrument.model_validate(raw)
        synced = synced_spans(item, spans, now)
        if synced is item:
            return item
        await self._store.replace(dump(synced, raw))
        logger.info("instrument %s enabled for cashback", known.wallet_id)
        return synced

    async def disable(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> None:
        """Disable one of the caller's instruments; disabled already: nothing changes."""
        citizen_id = fiscal_code_hash(fiscal_code)
        documents = await self._store.partition(citizen_id, PROFILE_KINDS)
        known = next((i for i in instruments_in(documents) if i.wallet_id == wallet_id), None)
        if known is None:
            raise NotFound(f"no cashback instrument {wallet_id[:64]}")
        await self._hpans.end_span(citizen_id, known.hpan, now)

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
        citizen_id = await self._users.citizen_of(data.user_id)
        if citizen_id is None:
            # Not a citizen cashback has met: enabling learns the instrument from the wallet.
            logger.info("wallet event %s %s: user not in cashback", event.type, event.id)
            return
        deleted = event.type == "InstrumentDeleted"
        # A deletion ends a span the hpan's document holds even if the instrument does not
        # show it yet (an enabling interrupted after its claim).
        spans = await self._hpans.spans(data.hpan, citizen_id) if deleted else []
        try:
            closed = await retrying(
                partial(self._apply_event, data, citizen_id, event.created_at, deleted, spans, now)
            )
        except Conflict as error:
            raise TransientError(error.detail) from None
        if closed is not None:
            await self._hpans.release(data.hpan, citizen_id, closed, now)
        logger.info("wallet event %s %s applied", event.type, event.id)

    async def _apply_event(
        self,
        data: WalletEventData,
        citizen_id: str,
        at: datetime,
        deleted: bool,
        spans: list[Span],
        now: datetime,
    ) -> list[Span] | None:
        """The instrument after the event of ``at``; its spans if it was deleted (to copy on
        the hpan's document), else None (also when the event changed nothing)."""
        raw = await self._store.get(citizen_id, instrument_id(data.hpan))
        item = StoredInstrument.model_validate(raw) if raw else None
        if item is not None and at < item.wallet_event_at:
            return None  # older than what is applied already
        if deleted:
            if item is not None and item.wallet_id != data.wallet_id:
                return None  # an instrument the wallet replaced since
            synced = synced_spans(item, spans, now) if item is not None else None
            changed = _wallet_deleted(synced, citizen_id, data, at, now)
        else:
            changed = _wallet_validated(item, citizen_id, data, at, now)
        if raw is None:
            await self._store.create(dump(changed))
        else:
            await self._store.replace(dump(changed, raw))
        return changed.history if deleted else None


def _wallet_validated(
    item: StoredInstrument | None,
    citizen_id: str,
    data: WalletEventData,
    at: datetime,
    now: datetime,
) -> StoredInstrument:
    """The instrument after the wallet said it is validated (new, replaced or changed)."""
    if item is None:
        return StoredInstrument(
            id=instrument_id(data.hpan),
            pk=citizen_id,
            hpan=data.hpan,
            wallet_id=data.wallet_id,
            type=data.type,
            brand=data.brand,
            wallet_status="VALIDATED",
            wallet_event_at=at,
            updated_at=now,
        )
    return item.model_copy(
        update={
            "wallet_id": data.wallet_id,
            "type": data.type,
            "brand": data.brand or item.brand,
            "wallet_status": "VALIDATED",
            "wallet_event_at": at,
            "updated_at": now,
        }
    )


def _wallet_deleted(
    item: StoredInstrument | None,
    citizen_id: str,
    data: WalletEventData,
    at: datetime,
    now: datetime,
) -> StoredInstrument:
    """The instrument after the wallet deleted it: disabled at the deletion's instant. Known
    only from this event (it overtook the validation), it is kept so the older event that
    arrives next changes nothing."""
    if item is None:
        return StoredInstrument(
            id=instrument_id(data.hpan),
            pk=citizen_id,
            hpan=data.hpan,
            wallet_id=data.wallet_id,
            type=data.type,
            wallet_status="DELETED",
            wallet_event_at=at,
            updated_at=now,
        )
    if item.status == "ENABLED":
        item = closed_at(item, at)
    return item.model_copy(
        update={"wallet_status": "DELETED", "wallet_event_at": at, "updated_at": now}
    )
