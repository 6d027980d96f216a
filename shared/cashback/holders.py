"""Whose a transaction is: the citizens who held its instrument, as the hpan's document says.

The hpan's document lists everyone who ever enabled the instrument and holds, for each, what
scoring needs (:class:`~shared.cashback.documents.StoredHolder`: their activation spans, T&C
time and fiscal code), so the scorer reads that one document per hpan and chunk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from shared.cashback import rules
from shared.cashback.documents import StoredHpan, hpan_pk
from shared.cashback.store import CashbackStore


@dataclass(frozen=True)
class RankingFields:
    """What a citizen's period state carries for the ranking (None: not known)."""

    fiscal_code: str | None = None
    terms_accepted_at: datetime | None = None


@dataclass(frozen=True)
class Holding:
    """One citizen's hold of one instrument: when they accepted T&C, and the spans during
    which they had it enabled."""

    terms_accepted_at: datetime
    activations: list[rules.Activation]


class Holders:
    """The hpans' documents a chunk needs, each read once."""

    def __init__(self, store: CashbackStore, *, concurrency: int) -> None:
        self._store = store
        self._concurrency = concurrency
        self._citizens: dict[str, list[str]] = {}
        self._holdings: dict[tuple[str, str], Holding] = {}
        self._ranking_fields: dict[str, RankingFields] = {}

    async def read(self, hpans: list[str]) -> None:
        """Read the hpans' documents, ``concurrency`` at a time (the chunk is then resolved
        line by line, in order, from what was read)."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(hpan: str) -> None:
            async with limit:
                await self.citizens(hpan)

        await asyncio.gather(*(one(hpan) for hpan in hpans))

    async def citizens(self, hpan: str) -> list[str]:
        """Who ever enabled ``hpan`` (ids of citizens), in the order they first did; what
        scoring needs of each is known from then on without another read."""
        if hpan not in self._citizens:
            raw = await self._store.get(hpan_pk(hpan), hpan)
            stored = StoredHpan.model_validate(raw) if raw else None
            self._citizens[hpan] = stored.citizens if stored is not None else []
            for citizen_id, holder in stored.holders.items() if stored is not None else ():
                self._holdings[(citizen_id, hpan)] = Holding(
                    holder.terms_accepted_at,
                    [rules.Activation(s.enabled_at, s.disabled_at) for s in holder.history],
                )
                self._ranking_fields.setdefault(
                    citizen_id, RankingFields(holder.fiscal_code, holder.terms_accepted_at)
                )
        return self._citizens[hpan]

    def holding(self, citizen_id: str, hpan: str) -> Holding | None:
        """``citizen_id``'s hold of ``hpan`` as its document says (read by :meth:`citizens`
        first); None if it says none."""
        return self._holdings.get((citizen_id, hpan))

    def ranking_fields(self, citizen_id: str) -> RankingFields:
        return self._ranking_fields.get(citizen_id, RankingFields())


async def whose(
    txn: rules.Transaction, period: rules.Period, received_at: datetime, holders: Holders
) -> str | rules.Rejection:
    """Whose transaction it is (a citizen id): the citizen for whom the instrument counted
    that day.

    A reversal needs no activation on its own day (a refund after disabling must still take
    the cashback back): it goes to whoever had the instrument enabled before that day, the
    latest first, where it finds its payment or waits for it.
    """
    reason: rules.Rejection | None = None  # the latest citizen's, if none accepts it
    fallback: str | None = None
    for citizen_id in reversed(await holders.citizens(txn.hpan)):  # the latest first
        holding = holders.holding(citizen_id, txn.hpan)
        if holding is None:
            continue
        if txn.is_reversal:
            day = rules.rome_day(txn.at)
            if any(rules.rome_day(s.enabled_at) < day for s in holding.activations):
                return citizen_id
            fallback = fallback or citizen_id
            continue
        verdict = rules.eligibility(
            [period],
            at=txn.at,
            processed_at=received_at,
            history=holding.activations,
            tc_accepted_at=holding.terms_accepted_at,
        )
        if not isinstance(verdict, rules.Rejection):
            return citizen_id
        reason = reason or verdict
    if fallback is not None:
        return fallback
    return reason or rules.Rejection.INSTRUMENT_NOT_ACTIVE
