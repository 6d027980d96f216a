"""What the citizen endpoints return, made from what is stored: the enrollment (IBAN masked),
the instruments with their activations, and a period with the citizen's state and rank."""

from __future__ import annotations

from datetime import datetime

from shared.cashback import iban, rules
from shared.cashback.documents import StoredCitizen, StoredInstrument, StoredPeriod, StoredRanks
from shared.cashback.models import (
    Activation,
    AlertsIn,
    CashbackInstrument,
    Citizen,
    Milestones,
    PeriodState,
)
from shared.cashback.store import Document


def citizen_view(item: StoredCitizen) -> Citizen:
    return Citizen(
        status=item.status,
        terms_accepted_at=item.terms_accepted_at,
        enrolled_at=item.enrolled_at,
        withdrawn_at=item.withdrawn_at,
        iban=iban.masked(item.iban) if item.iban else None,
        iban_owner_name=item.iban_owner,
        iban_status=item.iban_status,
        account_holder=item.account_holder,
        iban_refused=iban.masked(item.iban_refused) if item.iban_refused else None,
        iban_refused_at=item.iban_refused_at,
        alerts=AlertsIn.of(item.alerts_off),
    )


def instrument_view(item: StoredInstrument) -> CashbackInstrument:
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


def period_view(period: rules.Period, state: StoredPeriod | None, now: datetime) -> PeriodState:
    """``period`` as configured, with the citizen's state in it (none: all zero)."""
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


def ranked_view(
    shown: PeriodState,
    period: rules.Period,
    citizen_id: str,
    bucket: Document | None,
    withdrawn_at: datetime | None = None,
) -> PeriodState:
    """``shown`` with the citizen's rank from the last ranking's bucket, if any (none from a
    ranking computed before the citizen withdrew)."""
    if bucket is None:
        return shown
    ranks = StoredRanks.model_validate(bucket)
    rank = ranks.ranks.get(citizen_id)
    if withdrawn_at is not None and ranks.computed_at <= withdrawn_at:
        rank = None
    return shown.model_copy(
        update={
            "rank": rank,
            "ranked_at": ranks.computed_at,
            "in_top_n": rank is not None and period.top_n > 0 and rank <= period.top_n,
        }
    )
