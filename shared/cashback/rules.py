"""The state cashback's rules as the programme applied them (docs/cashback.md), as pure functions.

Nothing here does I/O or reads a clock: every instant is a parameter, every amount is integer
euro cents, every "day" is a calendar day in Europe/Rome.

- :class:`Period` and :func:`parse_periods`: award periods are configuration (the setting
  ``CASHBACK_PERIODS``, a JSON list; empty means :data:`PRODUCTION_PERIODS`).
- :func:`score`: the scoring rule, ``min(amount x percent, cap)`` rounded to the cent HALF_DOWN.
- :func:`period_of`: the period rule, the period of a transaction, grace days included.
- :func:`instrument_counts` / :func:`enrolled_for`: the activation rule (and T&C).
- :func:`duplicate_key`: the duplicate rule, what makes two lines the same transaction.
- :func:`match_key`, :func:`payment_effect`, :func:`reversal_effect`, :func:`add_effect`: the
  reversal rule (applied to a citizen's documents by :mod:`shared.cashback.drafts`).
- :func:`payout`: the payout rule. :func:`rank_key` / :func:`ranking`: the ranking rule.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_DOWN, Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from shared.cashback.calendar import PRODUCTION_CALENDAR
from shared.platform.clock import ROME

# ---------------------------------------------------------------------------- periods

OperationType = Literal["00", "01", "02", "03"]
PAYMENT: OperationType = "00"
REVERSAL: OperationType = "01"
APPLE_PAY: OperationType = "02"
GOOGLE_PAY: OperationType = "03"


class Period(BaseModel):
    """One award period as configured (money in cents, dates as Europe/Rome calendar days)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: int = Field(ge=1)
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    min_transactions: int = Field(alias="minTransactions", ge=0)
    cashback_percent: int = Field(default=10, alias="cashbackPercent", ge=1, le=100)
    max_per_transaction: int = Field(alias="maxPerTransaction", ge=0)
    max_per_period: int = Field(alias="maxPerPeriod", ge=0)
    super_cashback: int = Field(default=0, alias="superCashback", ge=0)
    top_n: int = Field(default=0, alias="topN", ge=0)
    grace_days: int = Field(alias="graceDays", ge=0, le=366)

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"period {self.id}: 'to' is before 'from'")
        return self


_PERIODS = TypeAdapter(list[Period])

# The programme as it ran (see shared/cashback/calendar.py).
PRODUCTION_PERIODS: tuple[Period, ...] = tuple(_PERIODS.validate_python(PRODUCTION_CALENDAR))


def parse_periods(raw: str) -> tuple[Period, ...]:
    """The periods of the setting ``CASHBACK_PERIODS``: a JSON list, or empty for production.

    Raises:
        ValueError: not a list of periods, duplicate ids, or overlapping days (one sentence
            naming what is wrong).
    """
    if not raw.strip():
        return PRODUCTION_PERIODS
    try:
        periods = sorted(_PERIODS.validate_json(raw), key=lambda p: p.start)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
            for e in error.errors(include_url=False)
        )
        raise ValueError(f"CASHBACK_PERIODS is not a JSON list of periods: {problems}") from None
    if not periods:
        raise ValueError("CASHBACK_PERIODS is an empty list (leave it empty for production)")
    ids = [p.id for p in periods]
    if len(set(ids)) != len(ids):
        raise ValueError("CASHBACK_PERIODS: period ids repeat")
    for before, after in itertools.pairwise(periods):
        if after.start <= before.end:
            raise ValueError(f"CASHBACK_PERIODS: periods {before.id} and {after.id} overlap")
    return tuple(periods)


class PeriodStatus(StrEnum):
    UPCOMING = "UPCOMING"
    ACTIVE = "ACTIVE"
    WAITING = "WAITING"  # after its last day, during the grace days
    CLOSED = "CLOSED"


def last_processing_day(period: Period) -> date:
    """The last day (inclusive) on which a transaction of ``period`` is still accepted."""
    return period.end + timedelta(days=period.grace_days)


def period_status(period: Period, now: datetime) -> PeriodStatus:
    today = rome_day(now)
    if today < period.start:
        return PeriodStatus.UPCOMING
    if today <= period.end:
        return PeriodStatus.ACTIVE
    if today <= last_processing_day(period):
        return PeriodStatus.WAITING
    return PeriodStatus.CLOSED


def rome_day(moment: datetime) -> date:
    """The Europe/Rome calendar day of an aware instant."""
    if moment.tzinfo is None:
        raise ValueError("an instant must be timezone-aware")
    return moment.astimezone(ROME).date()


# ------------------------------ the scoring rule (docs/cashback.md#scoring)

_CENT = Decimal(1)


def score(amount: int, period: Period) -> int:
    """The scoring rule: the cashback of a payment of ``amount`` cents: ``min(amount x %, cap)``,
    rounded to the cent HALF_DOWN (so 0.5 cent goes down)."""
    if amount < 0:
        raise ValueError("an amount is never negative")
    raw = Decimal(amount) * period.cashback_percent / 100
    return min(int(raw.quantize(_CENT, rounding=ROUND_HALF_DOWN)), period.max_per_transaction)


# ------------------------------ the period rule (docs/cashback.md#period-of-a-transaction)


class Rejection(StrEnum):
    """Why a transaction does not count."""

    NO_PERIOD = "NO_PERIOD"  # its day is in no period
    PERIOD_CLOSED = "PERIOD_CLOSED"  # processed after the period's last day + grace
    INSTRUMENT_NOT_ACTIVE = "INSTRUMENT_NOT_ACTIVE"  # not enabled for cashback on its day
    NOT_ENROLLED = "NOT_ENROLLED"  # T&C not accepted strictly before it
    NO_MATCHING_PAYMENT = "NO_MATCHING_PAYMENT"  # a reversal waited a month in vain


def period_of(
    periods: Iterable[Period], at: datetime, processed_at: datetime
) -> Period | Rejection:
    """The period rule: the period whose days contain ``at``'s day, if ``processed_at``'s day is at
    most its last day + grace days; otherwise why not."""
    day = rome_day(at)
    for period in periods:
        if period.start <= day <= period.end:
            if rome_day(processed_at) > last_processing_day(period):
                return Rejection.PERIOD_CLOSED
            return period
    return Rejection.NO_PERIOD


def accepts(period: Period, processed_at: datetime) -> bool:
    """The period rule: ``period`` still takes transactions processed at ``processed_at``."""
    return rome_day(processed_at) <= last_processing_day(period)


def previous_period(periods: Iterable[Period], at: datetime) -> Period | None:
    """The latest period that ended before ``at``'s day: a reversal on that day may take back
    a payment scored there (the reversal rule matches it in its payment's period)."""
    day = rome_day(at)
    before = [p for p in periods if p.end < day]
    return max(before, key=lambda p: p.end) if before else None


# ------------------------------ the activation rule (docs/cashback.md#activation)


@dataclass(frozen=True)
class Activation:
    """One span during which an instrument was enabled for cashback (``disabled_at`` None:
    still enabled)."""

    enabled_at: datetime
    disabled_at: datetime | None = None


def counts_from(enabled_at: datetime) -> date:
    """The first day whose transactions count: the midnight (Europe/Rome) after enabling."""
    return rome_day(enabled_at) + timedelta(days=1)


def instrument_counts(history: Iterable[Activation], at: datetime) -> bool:
    """The activation rule: a transaction counts if its day is strictly after a span's enabling
    day and up to and including its disabling day."""
    day = rome_day(at)
    for span in history:
        if day <= rome_day(span.enabled_at):
            continue
        if span.disabled_at is None or day <= rome_day(span.disabled_at):
            return True
    return False


def enrolled_for(tc_accepted_at: datetime | None, at: datetime) -> bool:
    """The activation rule: T&C were accepted strictly before the transaction's instant."""
    return tc_accepted_at is not None and tc_accepted_at < at


def eligibility(
    periods: Iterable[Period],
    *,
    at: datetime,
    processed_at: datetime,
    history: Iterable[Activation],
    tc_accepted_at: datetime | None,
) -> Period | Rejection:
    """Rules 2 and 3 together: the period a transaction counts in, or the first reason not."""
    found = period_of(periods, at, processed_at)
    if isinstance(found, Rejection):
        return found
    if not instrument_counts(history, at):
        return Rejection.INSTRUMENT_NOT_ACTIVE
    if not enrolled_for(tc_accepted_at, at):
        return Rejection.NOT_ENROLLED
    return found


# ------------------------------ the reversal rule (docs/cashback.md#reversals)


@dataclass(frozen=True)
class Transaction:
    """An acquirer's transaction, as far as the rules care."""

    id: str
    hpan: str
    operation: OperationType
    amount: int
    at: datetime
    acquirer_id: str
    acquirer_code: str
    merchant_id: str
    terminal_id: str
    correlation_id: str | None = None

    @property
    def is_reversal(self) -> bool:
        return self.operation == REVERSAL

    @property
    def id_trx_acquirer(self) -> str:
        """The acquirer's own transaction id (the second part of :func:`duplicate_key`; the
        whole id of one built by hand)."""
        parts = self.id.split(":")
        return parts[1] if len(parts) > 1 else self.id


def duplicate_key(
    *,
    acquirer_id: str,
    id_trx_acquirer: str,
    acquirer_code: str,
    operation: OperationType,
    at: datetime,
) -> str:
    """The duplicate rule: what makes two lines the same transaction, as pagoPA's winning
    transactions were keyed: the acquirer's transaction id, acquirer code, date and time and
    operation type, and the acquirer id. A reversal that reuses its payment's id is another
    transaction; the same instant written with another offset is the same one.

    ``acquirerId:idTrxAcquirer:acquirerCode:operationType:UTC time`` (none of the parts holds
    a colon: their patterns forbid it).
    """
    instant = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{acquirer_id}:{id_trx_acquirer}:{acquirer_code}:{operation}:{instant}"


MatchKey = tuple[str, ...]


def match_key(txn: Transaction) -> MatchKey:
    """The reversal rule: what a reversal and its payment share. With a correlation id: instrument,
    acquirer id, acquirer code and correlation id; without: instrument, amount, merchant,
    terminal, acquirer id and acquirer code. (A reversal is matched only in its own period:
    the scorer looks for payments of its key there alone.)"""
    if txn.correlation_id:
        return ("c", txn.hpan, txn.acquirer_id, txn.acquirer_code, txn.correlation_id)
    return (
        "a",
        txn.hpan,
        str(txn.amount),
        txn.merchant_id,
        txn.terminal_id,
        txn.acquirer_id,
        txn.acquirer_code,
    )


def set_aside(remaining: int, reversed_amount: int) -> bool:
    """The reversal rule: a reversal of more than is left of its payment is set aside, as
    pagoPA's services did: it changes nothing (neither count nor cashback) and is listed as
    ``SET_ASIDE``."""
    return reversed_amount > remaining


@dataclass(frozen=True)
class Effect:
    """What one transaction changes: the count, the cashback (cents) and, for a reversal,
    the remaining amount of the payment it matched."""

    count: int
    cashback: int
    remaining: int = 0


def payment_effect(amount: int, period: Period) -> Effect:
    """The reversal rule: a payment is +1 and its score; its whole amount remains to be reversed."""
    return Effect(count=1, cashback=score(amount, period), remaining=amount)


def reversal_effect(remaining: int, reversed_amount: int, period: Period) -> Effect:
    """The reversal rule: a reversal of ``reversed_amount`` against a payment with ``remaining``
    cents.

    It takes back ``score(remaining before) - score(remaining after)``; it is -1 only when
    the remaining amount reaches 0. (Callers set aside a reversal of more than remains:
    :func:`set_aside`; here it would take what remains.)
    """
    if remaining <= 0:
        return Effect(count=0, cashback=0, remaining=0)
    after = max(0, remaining - reversed_amount)
    return Effect(
        count=-1 if after == 0 else 0,
        cashback=score(after, period) - score(remaining, period),
        remaining=after,
    )


def pending_until(processed_at: datetime) -> datetime:
    """A reversal without its payment waits until one calendar month after it arrived."""
    local = processed_at.astimezone(ROME)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, _days_in(year, month))
    return local.replace(year=year, month=month, day=day)


def _days_in(year: int, month: int) -> int:
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - timedelta(days=1)).day


# ---------------------------------------------------------------------------- the tally


@dataclass(frozen=True)
class Tally:
    """A citizen's state in one period."""

    count: int = 0
    cashback: int = 0
    last_transaction_at: datetime | None = None  # the last payment's (reversals leave it)
    min_reached_by: str | None = None  # the transaction whose +1 reached the minimum count
    cap_crossed_by: str | None = None  # the transaction whose score crossed the period cap


def add_effect(tally: Tally, effect: Effect, txn: Transaction, period: Period) -> Tally:
    """The tally after ``effect`` of ``txn``: counters, last time and milestones (each
    milestone is the first transaction that reached it and is kept afterwards)."""
    count = tally.count + effect.count
    cashback = tally.cashback + effect.cashback
    # The ranking's tie-break is the last PAYMENT's time, as pagoPA's ranking had it: a
    # reversal (a refund days later) does not move a citizen down among equals.
    last = tally.last_transaction_at
    if not txn.is_reversal:
        last = txn.at if last is None else max(last, txn.at)
    min_by = tally.min_reached_by
    if min_by is None and count >= period.min_transactions > tally.count:
        min_by = txn.id
    cap_by = tally.cap_crossed_by
    if cap_by is None and cashback >= period.max_per_period > tally.cashback:
        cap_by = txn.id
    return Tally(
        count=count,
        cashback=cashback,
        last_transaction_at=last,
        min_reached_by=min_by,
        cap_crossed_by=cap_by,
    )


# ---------------------------------------------------------------------------- rules 5 and 6


@dataclass(frozen=True)
class Standing:
    """What the ranking knows of a citizen in a period."""

    fiscal_code: str
    count: int
    last_transaction_at: datetime
    tc_accepted_at: datetime


def rank_key(s: Standing) -> tuple[int, datetime, datetime, str]:
    """The ranking rule: count descending, then the last payment's time (reversals do not move
    it), T&C acceptance, fiscal code ascending."""
    return (-s.count, s.last_transaction_at, s.tc_accepted_at, s.fiscal_code)


def ranking(standings: Iterable[Standing]) -> list[Standing]:
    """The ranking rule: everyone in order; the rank of the i-th (from 0) is i + 1."""
    return sorted(standings, key=rank_key)


def payout(count: int, cashback: int, rank: int | None, period: Period) -> int | None:
    """The payout rule: the period's payout in cents, or None below the minimum count.

    ``min(cashback, max per period)``, plus the super cashback when ``rank <= top N``.
    """
    if count < period.min_transactions:
        return None
    amount = max(0, min(cashback, period.max_per_period))
    if rank is not None and period.top_n > 0 and 1 <= rank <= period.top_n:
        amount += period.super_cashback
    return amount
