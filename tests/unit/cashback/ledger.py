"""The reversals' reference model: one citizen's transactions in one period, applied in arrival
order, as the rules read (no documents, no batches, no caches).

It is the oracle of the scorer's property tests: the same random transactions fed to the
scorer (:mod:`shared.cashback.scorer`) on the in-memory store, in any order and any
chunking, must give the totals this ledger gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.cashback.rules import (
    Effect,
    MatchKey,
    Period,
    Tally,
    Transaction,
    add_effect,
    match_key,
    payment_effect,
    pending_until,
    reversal_effect,
    set_aside,
)


@dataclass(frozen=True)
class Scored:
    """A payment already counted: what is left of it to reverse."""

    id: str
    key: MatchKey
    at: datetime
    remaining: int


@dataclass(frozen=True)
class Pending:
    """A reversal that arrived before its payment (or after its payment was all reversed)."""

    txn: Transaction
    until: datetime


@dataclass(frozen=True)
class Ledger:
    """One citizen's transactions in one period, applied in arrival order.

    The reversals' reference model: the same transactions in any order give the same count and
    cashback once all have arrived (partial reversals telescope) as long as no reversal is
    set aside (one of more than is left of its payment: which one is depends on the order),
    and a transaction applied twice counts once.
    """

    period: Period
    tally: Tally = field(default_factory=Tally)
    payments: tuple[Scored, ...] = ()
    pending: tuple[Pending, ...] = ()
    seen: frozenset[str] = frozenset()
    expired: tuple[str, ...] = ()  # reversals that waited a month in vain
    set_aside: tuple[str, ...] = ()  # reversals of more than was left of their payment
    # What the last apply() did, in order: (transaction id, its effect); a payment may also
    # apply reversals that were waiting for it. Not part of the state.
    applied: tuple[tuple[str, Effect], ...] = field(default=(), compare=False)

    def apply(self, txn: Transaction, *, processed_at: datetime) -> Ledger:
        if txn.id in self.seen:
            return replace(self, applied=())
        ledger = replace(self, seen=self.seen | {txn.id}, applied=())._expire(processed_at)
        if txn.is_reversal:
            return ledger._reverse(txn, processed_at)
        return ledger._pay(txn)

    def _pay(self, txn: Transaction) -> Ledger:
        effect = payment_effect(txn.amount, self.period)
        tally = add_effect(self.tally, effect, txn, self.period)
        ledger = replace(
            self,
            tally=tally,
            payments=(
                *self.payments,
                Scored(id=txn.id, key=match_key(txn), at=txn.at, remaining=effect.remaining),
            ),
            applied=(*self.applied, (txn.id, effect)),
        )
        # Reversals that were waiting for this payment apply now, in their order of arrival.
        for waiting in self.pending:
            if match_key(waiting.txn) != match_key(txn):
                continue
            if pick_payment(ledger.payments, match_key(txn)) is None:
                break  # nothing left of it: the others keep waiting
            ledger = replace(
                ledger, pending=tuple(p for p in ledger.pending if p is not waiting)
            )._reverse_now(waiting.txn)
        return ledger

    def _reverse(self, txn: Transaction, processed_at: datetime) -> Ledger:
        if pick_payment(self.payments, match_key(txn)) is None:
            return replace(
                self, pending=(*self.pending, Pending(txn=txn, until=pending_until(processed_at)))
            )
        return self._reverse_now(txn)

    def _reverse_now(self, txn: Transaction) -> Ledger:
        target = pick_payment(self.payments, match_key(txn))
        assert target is not None, "callers pick a payment first"
        if set_aside(target.remaining, txn.amount):
            return replace(self, set_aside=(*self.set_aside, txn.id))
        effect = reversal_effect(target.remaining, txn.amount, self.period)
        payments = tuple(
            replace(p, remaining=effect.remaining) if p is target else p for p in self.payments
        )
        return replace(
            self,
            tally=add_effect(self.tally, effect, txn, self.period),
            payments=payments,
            applied=(*self.applied, (txn.id, effect)),
        )

    def _expire(self, now: datetime) -> Ledger:
        gone = tuple(p for p in self.pending if p.until < now)
        if not gone:
            return self
        return replace(
            self,
            pending=tuple(p for p in self.pending if p.until >= now),
            expired=(*self.expired, *(p.txn.id for p in gone)),
        )


def pick_payment(payments: Iterable[Scored], key: MatchKey) -> Scored | None:
    """The payment a reversal with ``key`` applies to: the earliest one with something left."""
    candidates = [p for p in payments if p.key == key and p.remaining > 0]
    return min(candidates, key=lambda p: (p.at, p.id)) if candidates else None


def totals(ledger: Ledger) -> tuple[int, int]:
    """Count and cashback of a ledger (the figures the order of arrival must not change)."""
    return ledger.tally.count, ledger.tally.cashback


def apply_all(period: Period, txns: Sequence[Transaction], processed_at: datetime) -> Ledger:
    """``period``'s ledger after ``txns`` in their order, all processed at ``processed_at``."""
    ledger = Ledger(period=period)
    for txn in txns:
        ledger = ledger.apply(txn, processed_at=processed_at)
    return ledger
