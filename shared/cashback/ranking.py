"""The ranking job (the ranking rule): orders every citizen of each open period, stores the ranks.

One cross-partition read per period gives what the rule orders by (it travels with each
citizen's counters); the order is computed in memory (200,000 citizens take well under a
second); the ranks are written in :data:`~shared.cashback.documents.RANK_BUCKETS` bucket documents
by the first two hex digits of the citizen's id, so a citizen's rank is one point read and a run
is a bounded number of writes, whatever the number of citizens.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.cashback import rules
from shared.cashback.documents import RANK_BUCKETS, StoredRanks, dump, rank_bucket_pk
from shared.cashback.store import CashbackStore, Document

logger = logging.getLogger(__name__)

_RANKED_STATUSES = (rules.PeriodStatus.ACTIVE, rules.PeriodStatus.WAITING)
_WRITERS = 16


class Standing(BaseModel):
    """A citizen's row of the standings query."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    citizen_id: str = Field(alias="pk")
    fiscal_code: str | None = Field(default=None, alias="fiscalCode")
    count: int
    cashback: int = 0
    last_transaction_at: datetime | None = Field(default=None, alias="lastTransactionAt")
    terms_accepted_at: datetime | None = Field(default=None, alias="termsAcceptedAt")


def bucket_names() -> list[str]:
    return [f"{i:02x}" for i in range(RANK_BUCKETS)]


_ROWS = TypeAdapter(list[Standing])


def rank_standings(rows: list[Document], *, now: datetime) -> list[tuple[int, Standing]]:
    """The ranking rule over the standings query's rows: (rank from 1, row), best first."""
    parsed = {r.citizen_id: r for r in _ROWS.validate_python(rows)}  # one call: no per-row overhead

    def key(r: Standing) -> tuple[int, datetime, datetime, str]:
        count, last, accepted, code = rules.rank_key(
            rules.Standing(
                fiscal_code=r.fiscal_code or r.citizen_id,
                count=r.count,
                last_transaction_at=r.last_transaction_at or now,
                tc_accepted_at=r.terms_accepted_at or now,
            )
        )
        # The same order with naive UTC instants: comparing aware ones costs ten times more.
        return count, _naive(last), _naive(accepted), code

    order = sorted(parsed.values(), key=key)
    return list(enumerate(order, start=1))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class RankingJob:
    def __init__(self, store: CashbackStore, periods: tuple[rules.Period, ...]) -> None:
        self._store = store
        self._periods = periods

    async def run(self, *, now: datetime) -> dict[int, int]:
        """Rank every period still taking transactions; period id -> citizens ranked."""
        ranked: dict[int, int] = {}
        for period in self._periods:
            if rules.period_status(period, now) in _RANKED_STATUSES:
                ranked[period.id] = await self.rank(period, now=now)
        return ranked

    async def rank(self, period: rules.Period, *, now: datetime) -> int:
        ranked = rank_standings(await self._store.standings(period.id), now=now)
        buckets: dict[str, dict[str, int]] = defaultdict(dict)
        for rank, row in ranked:
            buckets[row.citizen_id[:2]][row.citizen_id] = rank
        limit = asyncio.Semaphore(_WRITERS)

        async def write(bucket: str) -> None:
            pk = rank_bucket_pk(period.id, bucket)
            document = StoredRanks(
                id=pk,
                pk=pk,
                period=period.id,
                ranks=buckets.get(bucket, {}),
                ranked=len(ranked),
                computed_at=now,
            )
            async with limit:
                await self._store.upsert(dump(document))

        # Every bucket, empty ones too: a citizen who dropped out loses an old rank.
        await asyncio.gather(*(write(b) for b in bucket_names()))
        logger.info("period %s: %s citizens ranked", period.id, len(ranked))
        return len(ranked)
