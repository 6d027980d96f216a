"""The hpan's document, kept in step with the citizens' own documents.

The hpan's document says who has the instrument enabled (one citizen at a time) and holds, per
citizen who enabled it, what scoring needs (their spans, T&C time and fiscal code:
:class:`~shared.cashback.documents.StoredHolder`), so the scorer reads that document alone. It
lives in another partition than the citizen's instrument, so the two are written one after the
other, in an order that a retry completes:

- Enabling writes the hpan's document first (the claim decides the 409), the new span
  included; the instrument then takes its spans from there (a retry reuses the same instant).
- Disabling (and withdrawing, and the wallet's deletion) closes the span on the instrument
  first; the hpan's document then copies that instant.
- Each write merges both sides' spans (:func:`merged`: by when they began; closed wins), so
  whatever was written before a crash is completed by the next enabling or disabling.
- Enrolling again after a withdrawal changes the T&C time: the citizen's document records it
  with ``hpansBehind``, the hpans' documents are updated, then the flag is cleared; an
  interrupted update is completed by the next enroll or enable.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import partial

from shared.cashback.documents import (
    CITIZEN_DOCUMENT_ID,
    PROFILE_KINDS,
    Span,
    StoredCitizen,
    StoredHolder,
    StoredHpan,
    StoredInstrument,
    dump,
    hpan_pk,
    instrument_id,
    instruments_in,
)
from shared.cashback.models import CashbackStatus
from shared.cashback.store import CashbackStore, retrying
from shared.platform.errors import Conflict


class Hpans:
    """Writes the hpans' documents, and the instrument's spans that go with them."""

    def __init__(self, store: CashbackStore) -> None:
        self._store = store

    async def spans(self, hpan: str, citizen_id: str) -> list[Span]:
        """The citizen's spans of ``hpan`` as the hpan's document holds them ([]: none)."""
        raw = await self._store.get(hpan_pk(hpan), hpan)
        holder = StoredHpan.model_validate(raw).holders.get(citizen_id) if raw else None
        return holder.history if holder is not None else []

    async def claim(
        self, known: StoredInstrument, citizen: StoredCitizen, now: datetime
    ) -> list[Span]:
        """Make ``citizen`` the one citizen with the instrument enabled, a span open from
        ``now`` (or the one already open: a retry keeps its instant) on the hpan's document
        with what scoring needs; Conflict if someone else has it. Returns the spans written."""
        return await retrying(partial(self._claim_once, known, citizen, now))

    async def _claim_once(
        self, known: StoredInstrument, citizen: StoredCitizen, now: datetime
    ) -> list[Span]:
        hpan, citizen_id = known.hpan, citizen.pk
        raw = await self._store.get(hpan_pk(hpan), hpan)
        item = (
            StoredHpan.model_validate(raw)
            if raw is not None
            else StoredHpan(id=hpan, pk=hpan_pk(hpan), updated_at=now)
        )
        if item.active is not None and item.active != citizen_id:
            raise Conflict("this instrument is enabled for cashback by another citizen")
        before = item.holders.get(citizen_id)
        # The instrument's spans too: a disabling that died before its write here closed the
        # span on the instrument only (closed wins).
        spans = merged(before.history if before else [], known.history)
        if not spans or spans[-1].disabled_at is not None:
            spans = [*spans, Span(enabled_at=now)]
        holder = StoredHolder(
            fiscal_code=citizen.fiscal_code,
            terms_accepted_at=citizen.terms_accepted_at,
            history=spans,
        )
        citizens = item.citizens if citizen_id in item.citizens else [*item.citizens, citizen_id]
        if raw is not None and (item.active, item.citizens, before) == (
            citizen_id,
            citizens,
            holder,
        ):
            return spans
        item = item.model_copy(
            update={
                "active": citizen_id,
                "citizens": citizens,
                "holders": {**item.holders, citizen_id: holder},
                "updated_at": now,
            }
        )
        if raw is None:
            await self._store.create(dump(item))
        else:
            await self._store.replace(dump(item, raw))
        return spans

    async def end_span(self, citizen_id: str, hpan: str, now: datetime) -> None:
        """End the citizen's span of ``hpan``: on the instrument first, then on the hpan's
        document with the same instant (see the module docstring)."""
        spans = await self.spans(hpan, citizen_id)
        closed = await retrying(partial(self._close_instrument, citizen_id, hpan, spans, now))
        # Always: a disabling interrupted before this completes when asked again.
        await self.release(hpan, citizen_id, closed, now)

    async def _close_instrument(
        self, citizen_id: str, hpan: str, spans: list[Span], now: datetime
    ) -> list[Span]:
        """The instrument with the hpan's ``spans`` merged in and its open span closed at
        ``now``; its spans as written ([]: no such instrument)."""
        raw = await self._store.get(citizen_id, instrument_id(hpan))
        if raw is None:
            return []
        item = StoredInstrument.model_validate(raw)
        synced = synced_spans(item, spans, now)
        if synced.status == "ENABLED":
            synced = closed_at(synced, now)
        if synced is not item:
            await self._store.replace(dump(synced, raw))
        return synced.history

    async def release(self, hpan: str, citizen_id: str, closed: list[Span], now: datetime) -> None:
        """The hpan's document after the citizen's instrument was closed (``closed``: its
        spans): the same instants, and free for others unless a span is still open there (an
        enabling that claimed it since)."""
        await retrying(partial(self._release_once, hpan, citizen_id, closed, now))

    async def _release_once(
        self, hpan: str, citizen_id: str, closed: list[Span], now: datetime
    ) -> None:
        raw = await self._store.get(hpan_pk(hpan), hpan)
        if raw is None:
            return
        item = StoredHpan.model_validate(raw)
        update: dict[str, object] = {}
        holder = item.holders.get(citizen_id)
        still_open = False
        if holder is not None:
            spans = merged(holder.history, closed)
            still_open = bool(spans) and spans[-1].disabled_at is None
            if spans != holder.history:
                update["holders"] = {
                    **item.holders,
                    citizen_id: holder.model_copy(update={"history": spans}),
                }
        if item.active == citizen_id and not still_open:
            update["active"] = None
        if not update:
            return
        await self._store.replace(dump(item.model_copy(update={**update, "updated_at": now}), raw))

    async def catch_up(self, citizen: StoredCitizen, now: datetime) -> StoredCitizen:
        """Give the hpans' documents ``citizen``'s T&C time (it changed: enrolled again), then
        clear ``hpansBehind``. Returns the citizen as stored after."""
        citizen_id = citizen.pk
        partition = await self._store.partition(citizen_id, PROFILE_KINDS)
        hpans = [i.hpan for i in instruments_in(partition)]
        await asyncio.gather(
            *(retrying(partial(self._give_terms_time, hpan, citizen, now)) for hpan in hpans)
        )
        return await retrying(partial(self._clear_behind, citizen, now))

    async def terms_from(
        self, citizen: StoredCitizen, hpans: list[str], at: datetime, now: datetime
    ) -> None:
        """Nothing before ``at`` counts for ``citizen`` any more: the ``hpans``' documents take
        ``at`` as their T&C time (a withdrawal: transactions before it that arrive later do
        not count, as pagoPA disabled a withdrawn citizen's ranking)."""
        moved = citizen.model_copy(update={"terms_accepted_at": at})
        await asyncio.gather(
            *(retrying(partial(self._give_terms_time, hpan, moved, now)) for hpan in hpans)
        )

    async def _give_terms_time(self, hpan: str, citizen: StoredCitizen, now: datetime) -> None:
        citizen_id, accepted_at = citizen.pk, citizen.terms_accepted_at
        raw = await self._store.get(hpan_pk(hpan), hpan)
        holder = StoredHpan.model_validate(raw).holders.get(citizen_id) if raw else None
        # Never back: a late writer for an earlier enrollment leaves a later time be.
        if raw is None or holder is None or holder.terms_accepted_at >= accepted_at:
            return
        item = StoredHpan.model_validate(raw)
        changed = holder.model_copy(update={"terms_accepted_at": accepted_at})
        await self._store.replace(
            dump(
                item.model_copy(
                    update={"holders": {**item.holders, citizen_id: changed}, "updated_at": now}
                ),
                raw,
            )
        )

    async def _clear_behind(self, citizen: StoredCitizen, now: datetime) -> StoredCitizen:
        raw = await self._store.get(citizen.pk, CITIZEN_DOCUMENT_ID)
        item = StoredCitizen.model_validate(raw) if raw else None
        if (
            item is None
            or not item.hpans_behind
            or item.terms_accepted_at != citizen.terms_accepted_at
        ):
            return item or citizen  # enrolled again meanwhile: that one catches up
        item = item.model_copy(update={"hpans_behind": False, "updated_at": now})
        await self._store.replace(dump(item, raw))
        return item


def merged(*histories: list[Span]) -> list[Span]:
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


def synced_spans(item: StoredInstrument, spans: list[Span], now: datetime) -> StoredInstrument:
    """``item`` with the spans the hpan's document holds for it too (the same object when
    nothing changes): ENABLED while the last span is open."""
    history = merged(item.history, spans)
    status: CashbackStatus = (
        "ENABLED" if history and history[-1].disabled_at is None else "DISABLED"
    )
    if (history, status) == (item.history, item.status):
        return item
    return item.model_copy(update={"history": history, "status": status, "updated_at": now})


def closed_at(item: StoredInstrument, at: datetime) -> StoredInstrument:
    """``item`` disabled at ``at`` (never before its span began)."""
    last = item.history[-1]
    span = last.model_copy(update={"disabled_at": max(at, last.enabled_at)})
    return item.model_copy(
        update={"status": "DISABLED", "updated_at": at, "history": [*item.history[:-1], span]}
    )
