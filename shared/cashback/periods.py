"""What a citizen sees of the award periods: the calendar with their state and rank in each
period, and the transactions scored for them there, a page at a time."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import datetime

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import rules
from shared.cashback.documents import (
    StoredPeriod,
    StoredTransactionRecord,
    period_id,
    rank_bucket_pk,
)
from shared.cashback.models import PeriodList, PeriodState, ScoredTransaction, TransactionPage
from shared.cashback.store import CashbackStore
from shared.cashback.views import period_view, ranked_view
from shared.platform.errors import Invalid, NotFound

PAGE_SIZE = 50
_LAST_KEY = "\uffff"  # sorts after every stored sort key
_SORT_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z\|[A-Za-z0-9._:-]{3,160}$")


class Periods:
    """The award periods as a citizen sees them, on the store."""

    def __init__(self, *, store: CashbackStore, calendar: tuple[rules.Period, ...]) -> None:
        self._store = store
        self._calendar = calendar

    async def all(self, fiscal_code: str, *, now: datetime) -> PeriodList:
        """The calendar, newest first, with the caller's state and rank in each period."""
        citizen_id = fiscal_code_hash(fiscal_code)
        calendar = sorted(self._calendar, key=lambda p: p.start, reverse=True)
        # The states by id: the partition also holds a record per transaction and a match
        # document per match key, which a heavy user has by the thousand.
        documents, ranks = await asyncio.gather(
            self._store.get_all(citizen_id, [period_id(p.id) for p in calendar]),
            asyncio.gather(
                *(
                    self._store.get(
                        rank_bucket_pk(p.id, citizen_id), rank_bucket_pk(p.id, citizen_id)
                    )
                    for p in calendar
                )
            ),
        )
        states = {d["period"]: StoredPeriod.model_validate(d) for d in documents if d}
        return PeriodList(
            periods=[
                ranked_view(
                    period_view(p, states.get(p.id), now),
                    p,
                    citizen_id,
                    r,
                    _withdrawn_at(states.get(p.id)),
                )
                for p, r in zip(calendar, ranks, strict=True)
            ]
        )

    async def one(self, fiscal_code: str, period: str, *, now: datetime) -> PeriodState:
        """One period with the caller's state and rank; NotFound if there is no such period."""
        found = self._find(period)
        citizen_id = fiscal_code_hash(fiscal_code)
        raw, ranks = await asyncio.gather(
            self._store.get(citizen_id, period_id(found.id)),
            self._store.get(
                rank_bucket_pk(found.id, citizen_id), rank_bucket_pk(found.id, citizen_id)
            ),
        )
        state = StoredPeriod.model_validate(raw) if raw else None
        shown = period_view(found, state, now)
        return ranked_view(shown, found, citizen_id, ranks, _withdrawn_at(state))

    async def transactions(
        self, fiscal_code: str, period: str, *, continuation: str | None = None
    ) -> TransactionPage:
        """The caller's scored transactions in ``period``, newest first, a page at a time.

        Raises:
            NotFound: no such period.
            Invalid: a continuation token this API did not give.
        """
        found = self._find(period)
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

    def _find(self, period: str) -> rules.Period:
        found = next((p for p in self._calendar if str(p.id) == period), None)
        if found is None:
            raise NotFound(f"no period {period[:16]}")
        return found


def _withdrawn_at(state: StoredPeriod | None) -> datetime | None:
    return state.withdrawn_at if state is not None else None
