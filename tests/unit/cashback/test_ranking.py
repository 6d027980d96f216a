"""Ranking job: the ranking rule over every citizen of an open period, ranks stored in buckets and
shown in the citizen's period view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.acquirer_api import TransactionIn
from shared.cashback.documents import RANK_BUCKETS, StoredPeriod, dump
from shared.cashback.ranking import RankingJob
from shared.cashback.rules import parse_periods
from shared.cashback.scorer import Scorer
from tests.fakes.cashback import MemoryCashbackStore
from tests.unit.cashback.fakes import HPAN_A, Scene
from tests.unit.wallet.fakes import CF, fiscal_code

PERIODS = parse_periods(
    json.dumps(
        [
            {
                "id": 9,
                "from": "2026-12-01",
                "to": "2026-12-31",
                "minTransactions": 2,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 15000,
                "superCashback": 150000,
                "topN": 2,
                "graceDays": 2,
            }
        ]
    )
)
NOW = datetime(2026, 12, 20, 12, tzinfo=UTC)
T0 = datetime(2026, 12, 10, 12, tzinfo=UTC)


async def put_state(
    store: MemoryCashbackStore, cf: str, count: int, last: datetime, terms: datetime
) -> None:
    state = StoredPeriod(
        id="period:9",
        pk=fiscal_code_hash(cf),
        period=9,
        fiscal_code=cf,
        terms_accepted_at=terms,
        count=count,
        cashback=count * 100,
        last_transaction_at=last,
        updated_at=NOW,
    )
    await store.create(dump(state))


async def test_ranks_follow_rule_6_and_the_view_shows_them() -> None:
    scene = Scene(now=NOW, periods=PERIODS)
    store = scene.store
    assert isinstance(store, MemoryCashbackStore)
    a, b, c, d, e = (fiscal_code(n) for n in (1, 2, 3, 4, 5))
    await put_state(store, a, 5, T0, T0)
    await put_state(store, b, 7, T0 + timedelta(hours=1), T0)
    await put_state(store, c, 7, T0, T0 + timedelta(minutes=1))  # earlier last: first of 7s
    await put_state(store, d, 7, T0, T0 + timedelta(minutes=1))  # same as c: fiscal code
    await put_state(store, e, 0, T0, T0)  # nothing counted: not ranked
    assert await RankingJob(store, PERIODS).run(now=NOW) == {9: 4}
    views = {cf: await scene.cashback.period(cf, "9", now=NOW) for cf in (a, b, c, d, e)}
    assert {cf: (v.rank, v.in_top_n) for cf, v in views.items()} == {
        c: (1, True),
        d: (2, True),
        b: (3, False),
        a: (4, False),
        e: (None, False),
    }
    assert views[a].ranked_at == NOW
    [listed] = (await scene.cashback.periods(c, now=NOW)).periods
    assert (listed.rank, listed.in_top_n) == (1, True)
    buckets = [k for k in store.items if k[0].startswith("ranking:9:")]
    assert len(buckets) == RANK_BUCKETS


async def test_a_new_run_replaces_the_ranks_and_closed_periods_are_left_alone() -> None:
    scene = Scene(now=NOW, periods=PERIODS)
    store = scene.store
    assert isinstance(store, MemoryCashbackStore)
    a, b = fiscal_code(1), fiscal_code(2)
    await put_state(store, a, 5, T0, T0)
    await put_state(store, b, 3, T0, T0)
    job = RankingJob(store, PERIODS)
    await job.run(now=NOW)
    raw = store.items[(fiscal_code_hash(b), "period:9")]
    await store.replace({**raw, "count": 9})
    later = NOW + timedelta(hours=1)
    await job.run(now=later)
    assert (await scene.cashback.period(b, "9", now=later)).rank == 1
    assert await job.run(now=datetime(2027, 1, 3, tzinfo=UTC)) == {}  # closed: not ranked


async def test_the_scorer_records_what_the_ranking_orders_by() -> None:
    scene = Scene(now=datetime(2026, 12, 8, 9, 30, tzinfo=UTC), periods=PERIODS)
    await scene.cashback.enroll(CF, now=scene.now)
    wallet_id = await scene.onboard(CF, HPAN_A)
    await scene.cashback.enable(CF, wallet_id, now=scene.now)
    line = TransactionIn.model_validate(
        {
            "acquirerId": "DEMOACQ",
            "acquirerCode": "12345",
            "idTrxAcquirer": "t1",
            "hpan": HPAN_A,
            "operationType": "00",
            "trxDate": "2026-12-10T12:00:00+01:00",
            "amount": 1000,
            "merchantId": "m",
            "terminalId": "t",
            "circuitType": "01",
        }
    )
    await Scorer(scene.store, PERIODS).score(line, received_at=NOW)
    [row] = await scene.store.standings(9)
    assert (row["fiscalCode"], row["count"]) == (CF, 1)
    assert datetime.fromisoformat(row["termsAcceptedAt"]) == scene.now
    await RankingJob(scene.store, PERIODS).run(now=NOW)
    shown = await scene.cashback.period(CF, "9", now=NOW)
    assert (shown.rank, shown.in_top_n) == (1, True)
