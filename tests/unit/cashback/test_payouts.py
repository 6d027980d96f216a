"""Payouts (the payout rule): who is paid what, typology 01/03 on the final ranking, the CSV, and a
period's list written once."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.documents import StoredCitizen, StoredPeriod, dump
from shared.cashback.payouts import PayoutJob, PayoutLine, Qualified, Withheld, payout_lines, to_csv
from shared.cashback.rules import parse_periods
from shared.platform.clock import ROME
from tests.fakes.cashback import MemoryCashbackStore, MemoryPayoutFiles
from tests.unit.wallet.fakes import fiscal_code

PERIODS = parse_periods(
    json.dumps(
        [
            {
                "id": 9,
                "from": "2026-12-01",
                "to": "2026-12-31",
                "minTransactions": 3,
                "maxPerTransaction": 1500,
                "maxPerPeriod": 15000,
                "superCashback": 150000,
                "topN": 1,
                "graceDays": 2,
            }
        ]
    )
)
PERIOD = PERIODS[0]
T0 = datetime(2026, 12, 10, tzinfo=UTC)
CLOSED = datetime(2027, 1, 3, tzinfo=ROME)  # 2 January (Rome) was the last day of grace
IBAN = "IT60X0542811101000000123456"


def test_who_is_paid_what() -> None:
    citizens = [
        Qualified("p1", "CF1", count=10, cashback=20000, rank=1),  # capped + super
        Qualified("p2", "CF2", count=5, cashback=900, rank=2),  # normal
        Qualified("p3", "CF3", count=2, cashback=900, rank=3),  # below the minimum
        Qualified("p4", "CF4", count=4, cashback=700, rank=4),
    ]  # no confirmed IBAN
    lines, withheld = payout_lines(PERIOD, citizens, {"p1": "I1", "p2": "I2", "p3": "I3"})
    assert lines == [
        PayoutLine("CF1", "I1", 15000 + 150000, "03"),
        PayoutLine("CF2", "I2", 900, "01"),
    ]
    assert withheld == [Withheld("p4", "CF4", 700, "01")]


def test_the_csv_has_a_header_and_one_line_per_citizen() -> None:
    data = to_csv([PayoutLine("CF1", "I1", 165000, "03"), PayoutLine("CF2", "I2", 900, "01")])
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows == [
        ["fiscalCode", "iban", "amountCents", "typology"],
        ["CF1", "I1", "165000", "03"],
        ["CF2", "I2", "900", "01"],
    ]


async def put(
    store: MemoryCashbackStore,
    cf: str,
    count: int,
    cashback: int,
    *,
    last: datetime,
    iban_ok: bool = True,
) -> None:
    citizen_id = fiscal_code_hash(cf)
    await store.create(
        dump(
            StoredPeriod(
                id="period:9",
                pk=citizen_id,
                period=9,
                fiscal_code=cf,
                terms_accepted_at=T0,
                count=count,
                cashback=cashback,
                last_transaction_at=last,
                updated_at=T0,
            )
        )
    )
    await store.create(
        dump(
            StoredCitizen(
                pk=citizen_id,
                fiscal_code=cf,
                status="ENROLLED",
                terms_accepted_at=T0,
                enrolled_at=T0,
                iban=IBAN,
                iban_owner="X",
                iban_status="OK" if iban_ok else "KO",
                updated_at=T0,
            )
        )
    )


async def test_a_closed_period_is_paid_once_on_its_final_ranking() -> None:
    store = MemoryCashbackStore()
    files = MemoryPayoutFiles()
    a, b, c, d = (fiscal_code(n) for n in (1, 2, 3, 4))
    await put(store, a, 8, 3000, last=T0 + timedelta(hours=1))
    await put(store, b, 8, 2000, last=T0)  # same count, earlier: first
    await put(store, c, 2, 500, last=T0)  # below the minimum
    await put(store, d, 9, 4000, last=T0, iban_ok=False)  # first, but no confirmed IBAN
    job = PayoutJob(store, files, PERIODS)
    assert await job.run(now=CLOSED - timedelta(seconds=1)) == {}  # still in grace
    assert await job.run(now=CLOSED) == {9: 2}
    rows = list(csv.reader(io.StringIO(files.files["period-9/payouts.csv"].decode())))
    # d ranks 1 (the super cashback is not paid without an IBAN); b 2, a 3: top N is 1
    assert rows[1:] == [[b, IBAN, "2000", "01"], [a, IBAN, "3000", "01"]]
    record = store.items[("payout:9", "payout:9")]
    assert (record["lines"], record["total"], record["withheld"]) == (2, 5000, 1)
    assert await job.run(now=CLOSED + timedelta(days=1)) == {}  # once


async def test_a_second_run_after_a_crash_writes_nothing_new() -> None:
    store = MemoryCashbackStore()
    files = MemoryPayoutFiles()
    await put(store, fiscal_code(1), 8, 3000, last=T0)
    job = PayoutJob(store, files, PERIODS)
    await job.pay(PERIOD, now=CLOSED)
    first = files.files["period-9/payouts.csv"]
    del store.items[("payout:9", "payout:9")]  # as if the run died before its record
    await put(store, fiscal_code(2), 9, 3000, last=T0)
    # The list says who was paid: the newcomer is withheld, and paid at once in a late list.
    assert await job.run(now=CLOSED) == {9: 2}
    assert files.files["period-9/payouts.csv"] == first  # the file is never rewritten
    [late] = [name for name in files.files if "late" in name]
    assert rows_of(files, late) == [[fiscal_code(2), IBAN, "153000", "03"]]  # ranks first
    assert rows_of(files, "period-9/withheld.csv") == [
        [fiscal_code(2), "153000", "03", "LIST_WRITTEN_BEFORE"]
    ]


def rows_of(files: MemoryPayoutFiles, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(files.files[name].decode())))[1:]


async def set_iban(
    store: MemoryCashbackStore, cf: str, *, iban: str | None, status: str | None
) -> None:
    key = (fiscal_code_hash(cf), "citizen")
    document = await store.get(*key)
    assert document is not None
    await store.replace({**document, "iban": iban, "ibanStatus": status})


async def withheld_paid(store: MemoryCashbackStore) -> dict[str, tuple[str, str | None]]:
    return {
        d["fiscalCode"]: (d["status"], d["reason"])
        for d in store.items.values()
        if d.get("kind") == "withheld"
    }


async def test_withheld_citizens_are_listed_with_why_and_paid_once_confirmed() -> None:
    store = MemoryCashbackStore()
    files = MemoryPayoutFiles()
    a, b, c, d = (fiscal_code(n) for n in (1, 2, 3, 4))
    await put(store, a, 8, 3000, last=T0)
    await put(store, b, 9, 4000, last=T0, iban_ok=False)  # KO: ranks 1, super
    await put(store, c, 8, 2000, last=T0 + timedelta(hours=1))
    await set_iban(store, c, iban=None, status=None)  # never gave one
    await put(store, d, 8, 1000, last=T0 + timedelta(hours=2))
    await set_iban(store, d, iban=IBAN, status="PENDING")
    job = PayoutJob(store, files, PERIODS)
    assert await job.run(now=CLOSED) == {9: 1}
    assert rows_of(files, "period-9/payouts.csv") == [[a, IBAN, "3000", "01"]]
    assert rows_of(files, "period-9/withheld.csv") == [
        [b, "154000", "03", "IBAN_KO"],
        [c, "2000", "01", "NO_IBAN"],
        [d, "1000", "01", "IBAN_PENDING"],
    ]
    assert await withheld_paid(store) == {
        b: ("WITHHELD", "IBAN_KO"),
        c: ("WITHHELD", "NO_IBAN"),
        d: ("WITHHELD", "IBAN_PENDING"),
    }
    assert await job.run(now=CLOSED + timedelta(days=1)) == {}  # nothing confirmed yet

    await set_iban(store, b, iban=IBAN, status="OK")
    await set_iban(store, d, iban=IBAN, status="OK")
    assert await job.run(now=CLOSED + timedelta(days=2)) == {9: 2}
    [late] = [name for name in files.files if "late" in name]
    assert rows_of(files, late) == sorted([[b, IBAN, "154000", "03"], [d, IBAN, "1000", "01"]])
    assert (await withheld_paid(store))[b][0] == "PAID"
    assert (await withheld_paid(store))[c][0] == "WITHHELD"
    before = dict(files.files)
    assert await job.run(now=CLOSED + timedelta(days=3)) == {}  # paid once
    assert files.files == before


class FailingLateFiles(MemoryPayoutFiles):
    """Payout files whose late lists cannot be written (the run dies there)."""

    async def write_once(self, name: str, data: bytes) -> bool:
        if "late" in name:
            raise RuntimeError("storage down")
        return await super().write_once(name, data)


async def test_a_late_run_that_died_midway_is_finished_by_the_next_exactly_once() -> None:
    store = MemoryCashbackStore()
    files = FailingLateFiles()
    a = fiscal_code(1)
    await put(store, a, 8, 3000, last=T0, iban_ok=False)
    job = PayoutJob(store, files, PERIODS)
    await job.run(now=CLOSED)
    await set_iban(store, a, iban=IBAN, status="OK")
    with pytest.raises(RuntimeError):
        await job.run(now=CLOSED + timedelta(days=1))
    assert await withheld_paid(store) == {a: ("SCHEDULED", "IBAN_KO")}
    working = MemoryPayoutFiles()
    working.files = dict(files.files)
    next_run = PayoutJob(store, working, PERIODS)
    assert await next_run.run(now=CLOSED + timedelta(days=2)) == {9: 1}
    late = [name for name in working.files if "late" in name]
    assert len(late) == 1
    assert rows_of(working, late[0]) == [[a, IBAN, "153000", "03"]]  # the only one: top N
    assert await next_run.run(now=CLOSED + timedelta(days=3)) == {}
    assert await withheld_paid(store) == {a: ("PAID", "IBAN_KO")}
