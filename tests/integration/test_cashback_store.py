"""Cashback's store against the Cosmos emulator: point reads, creates, ETag conditions, the
partition query, and the one-citizen-per-instrument rule under a real race."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.exceptions import ResourceNotFoundError

from local.platform import Platform
from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.acquirer_api import TransactionBatchIn, TransactionIn
from shared.cashback.documents import StoredCitizen, StoredPeriod, dump, hpan_pk, instrument_id
from shared.cashback.intake import Intake
from shared.cashback.payout_files import AzurePayoutFiles
from shared.cashback.ranking import RankingJob
from shared.cashback.rules import PRODUCTION_PERIODS, parse_periods, score
from shared.cashback.scorer import Scorer
from shared.cashback.store import CosmosCashbackStore, StaleDocument
from shared.platform.clients import Clients
from tests.fakes.platform import MemorySender
from tests.unit.cashback.fakes import Scene
from tests.unit.wallet.fakes import CF, NOW, OTHER_CF, fiscal_code


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    settings = platform.provision(f"cashback-{uuid.uuid4().hex[:8]}")
    built = Clients(settings)
    yield built
    await built.close()


@pytest.fixture
def store(clients: Clients) -> CosmosCashbackStore:
    return CosmosCashbackStore(clients.container(clients.settings.cashback_container), 5)


async def test_create_read_replace_and_etag_conditions(store: CosmosCashbackStore) -> None:
    pk = f"pk-{uuid.uuid4().hex}"
    assert await store.get(pk, "citizen") is None
    written = await store.create({"id": "citizen", "pk": pk, "kind": "citizen", "n": 1})
    with pytest.raises(StaleDocument):
        await store.create({"id": "citizen", "pk": pk, "kind": "citizen", "n": 2})
    read = await store.get(pk, "citizen")
    assert read is not None
    assert (read["n"], read["_etag"]) == (1, written["_etag"])
    replaced = await store.replace({**read, "n": 3})
    with pytest.raises(StaleDocument):
        await store.replace({**read, "n": 4})  # the ETag it was read with is gone
    assert replaced["n"] == 3
    with pytest.raises(StaleDocument):
        await store.replace({"id": "missing", "pk": pk, "_etag": "x"})


async def test_the_partition_holds_only_its_own_documents(store: CosmosCashbackStore) -> None:
    pk, other = f"pk-{uuid.uuid4().hex}", f"pk-{uuid.uuid4().hex}"
    for i in range(3):
        await store.create({"id": f"d{i}", "pk": pk, "kind": "instrument"})
    await store.create({"id": "d0", "pk": other, "kind": "instrument"})
    assert sorted(d["id"] for d in await store.partition(pk)) == ["d0", "d1", "d2"]


async def test_a_partition_read_can_leave_the_scoring_documents_out(
    store: CosmosCashbackStore,
) -> None:
    pk = f"pk-{uuid.uuid4().hex}"
    for id_, kind in (
        ("citizen", "citizen"),
        ("i0", "instrument"),
        ("period:2", "period"),
        ("match:k", "match"),
        ("trx:2:x", "transaction"),
    ):
        await store.create({"id": id_, "pk": pk, "kind": kind})
    assert sorted(d["id"] for d in await store.partition(pk, ("citizen", "instrument"))) == [
        "citizen",
        "i0",
    ]
    assert len(await store.partition(pk)) == 5


async def test_two_citizens_racing_for_one_instrument_one_wins(store: CosmosCashbackStore) -> None:
    scene = Scene(now=NOW)  # the wallet on its fakes; cashback on the emulator
    hpan = uuid.uuid4().hex + uuid.uuid4().hex
    cashback = scene.build(store, PRODUCTION_PERIODS)
    scene.cashback = cashback
    for cf in (CF, OTHER_CF):
        await cashback.enroll(cf, now=NOW)
    mine = await scene.onboard(CF, hpan)
    theirs = await scene.onboard(OTHER_CF, hpan)
    for _ in range(3):
        results = await asyncio.gather(
            cashback.enable(CF, mine, now=NOW),
            cashback.enable(OTHER_CF, theirs, now=NOW),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        loser = OTHER_CF if results[0] is winners[0] else CF
        assert type(results[1 if loser == OTHER_CF else 0]).__name__ == "Conflict"
        winner_cf, winner_id = (CF, mine) if loser == OTHER_CF else (OTHER_CF, theirs)
        await cashback.disable(winner_cf, winner_id, now=NOW)


async def test_concurrent_chunks_for_one_citizen_lose_no_update(store: CosmosCashbackStore) -> None:
    """Several chunks touching one citizen's period state at once, each delivered twice."""
    periods = parse_periods(
        json.dumps(
            [
                {
                    "id": 9,
                    "from": "2026-12-01",
                    "to": "2026-12-31",
                    "minTransactions": 3,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 150000,
                    "graceDays": 2,
                }
            ]
        )
    )
    scene = Scene(now=NOW)
    cashback = scene.build(store, periods)
    scene.cashback = cashback
    cf = fiscal_code(int(uuid.uuid4().int % 900) + 50)
    hpans = [uuid.uuid4().hex * 2 for _ in range(3)]
    await cashback.enroll(cf, now=NOW)
    for hpan in hpans:
        await cashback.enable(cf, await scene.onboard(cf, hpan), now=NOW)
    sender = MemorySender()
    intake = Intake(sender, "q", periods)
    received = datetime(2026, 12, 20, tzinfo=UTC)
    lines = [
        {
            "acquirerId": "DEMOACQ",
            "acquirerCode": "12345",
            "idTrxAcquirer": f"t{i}",
            "hpan": hpans[i % 3],
            "operationType": "00",
            "trxDate": "2026-12-15T10:00:00+01:00",
            "amount": 1000 + i,
            "merchantId": "m",
            "terminalId": "t",
            "circuitType": "01",
        }
        for i in range(60)
    ]
    for start in range(0, 60, 10):  # six batches, so six messages
        await intake.submit(
            "DEMOACQ", TransactionBatchIn(transactions=lines[start : start + 10]), now=received
        )
    scorers = [Scorer(store, periods) for _ in range(3)]  # three workers: the ETag decides
    bodies = [m.body for _, m in sender.sent] * 2
    await asyncio.gather(*(scorers[i % 3].process(b) for i, b in enumerate(bodies)))
    shown = await cashback.period(cf, "9", now=received)
    assert shown.count == 60
    assert shown.cashback == sum(score(1000 + i, periods[0]) for i in range(60))


async def test_the_ranking_reads_standings_and_writes_buckets(store: CosmosCashbackStore) -> None:
    period = 1000 + uuid.uuid4().int % 100000  # a period of its own in the shared container
    periods = parse_periods(
        json.dumps(
            [
                {
                    "id": period,
                    "from": "2026-12-01",
                    "to": "2026-12-31",
                    "minTransactions": 1,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 15000,
                    "topN": 2,
                    "graceDays": 2,
                }
            ]
        )
    )
    now = datetime(2026, 12, 20, tzinfo=UTC)
    for n, count in enumerate((3, 9, 0, 5)):
        cf = fiscal_code(n + 10)
        await store.create(
            dump(
                StoredPeriod(
                    id=f"period:{period}",
                    pk=fiscal_code_hash(cf),
                    period=period,
                    fiscal_code=cf,
                    terms_accepted_at=now,
                    count=count,
                    last_transaction_at=now,
                    updated_at=now,
                )
            )
        )
    rows = await store.standings(period)
    assert sorted(r["count"] for r in rows) == [3, 5, 9]
    assert await RankingJob(store, periods).run(now=now) == {period: 3}
    scene = Scene(now=now)
    cashback = scene.build(store, periods)
    ranks = [
        (await cashback.period(fiscal_code(n + 10), str(period), now=now)).rank for n in range(4)
    ]
    assert ranks == [3, 1, None, 2]


async def test_payout_files_are_written_once_in_blob_storage(clients: Clients) -> None:
    container = f"payouts-{uuid.uuid4().hex[:8]}"
    files = AzurePayoutFiles(clients.blob_service, container)
    # The adapter never creates its container (the infra declares it): a missing one fails.
    with pytest.raises(ResourceNotFoundError):
        await files.write_once("period-9/payouts.csv", b"a,b\n")
    await clients.blob_service().create_container(container)
    assert await files.write_once("period-9/payouts.csv", b"a,b\n") is True
    assert await files.write_once("period-9/payouts.csv", b"other\n") is False
    blob = clients.blob_service().get_blob_client(container, "period-9/payouts.csv")
    assert await (await blob.download_blob()).readall() == b"a,b\n"
    assert await files.read("period-9/payouts.csv") == b"a,b\n"
    assert await files.read("period-9/missing.csv") is None
    await files.write("period-9/withheld.csv", b"one\n")
    await files.write("period-9/withheld.csv", b"two\n")  # a listing: overwritten
    assert await files.read("period-9/withheld.csv") == b"two\n"


async def test_unpaid_withheld_payouts_are_read_across_partitions(
    store: CosmosCashbackStore,
) -> None:
    mine = {}
    for status in ("WITHHELD", "SCHEDULED", "PAID"):
        pk = f"pk-{uuid.uuid4().hex}"
        mine[pk] = status
        await store.create(
            {"id": "withheld:9", "pk": pk, "kind": "withheld", "period": 9, "status": status}
        )
    found = {r["pk"] for r in await store.withheld() if r["pk"] in mine}
    assert found == {pk for pk, status in mine.items() if status != "PAID"}


async def test_confirmed_ibans_are_read_across_partitions(store: CosmosCashbackStore) -> None:
    now = datetime(2026, 12, 20, tzinfo=UTC)
    mine = {}
    for n, status in enumerate(("OK", "KO", "PENDING", "OK")):
        pk = f"pk-{uuid.uuid4().hex}"
        mine[pk] = status
        await store.create(
            dump(
                StoredCitizen(
                    pk=pk,
                    fiscal_code=fiscal_code(n),
                    status="ENROLLED",
                    terms_accepted_at=now,
                    enrolled_at=now,
                    iban="IT60X0542811101000000123456",
                    iban_owner="X",
                    iban_status=status,
                    updated_at=now,
                )
            )
        )
    found = {r["pk"] for r in await store.confirmed_ibans() if r["pk"] in mine}
    assert found == {pk for pk, status in mine.items() if status == "OK"}


async def test_the_listing_query_pages_newest_first(store: CosmosCashbackStore) -> None:
    pk = f"pk-{uuid.uuid4().hex}"
    for i in range(7):
        key = f"2026-12-1{i}T10:00:00.000000Z|DEMOACQ:t{i}"
        await store.create(
            {
                "id": f"trx:9:DEMOACQ:t{i}",
                "pk": pk,
                "kind": "transaction",
                "period": 9,
                "sortKey": key,
            }
        )
    await store.create(
        {
            "id": "trx:4:x",
            "pk": pk,
            "kind": "transaction",
            "period": 4,
            "sortKey": "2026-12-19T10:00:00.000000Z|x",
        }
    )
    first = await store.transactions(pk, 9, before="\uffff", limit=3)
    assert [d["id"][-2:] for d in first] == ["t6", "t5", "t4"]
    rest = await store.transactions(pk, 9, before=first[-1]["sortKey"], limit=10)
    assert [d["id"][-2:] for d in rest] == ["t3", "t2", "t1", "t0"]


async def test_several_documents_of_a_partition_in_one_read(store: CosmosCashbackStore) -> None:
    pk = f"pk-{uuid.uuid4().hex}"
    for name in ("citizen", "instrument:x"):
        await store.create({"id": name, "pk": pk, "kind": name})
    both = await store.get_all(pk, ["citizen", "instrument:x"])
    assert [d["id"] if d else None for d in both] == ["citizen", "instrument:x"]
    one = await store.get_all(pk, ["citizen", "instrument:y"])  # a missing one: None
    assert [d["id"] if d else None for d in one] == ["citizen", None]


async def test_a_batch_of_writes_upserts_and_deletes_is_all_or_nothing(
    store: CosmosCashbackStore,
) -> None:
    pk = f"pk-{uuid.uuid4().hex}"
    state, match, _ = await store.write_batch(
        pk,
        [
            ("write", {"id": "period:9", "pk": pk, "n": 1}),
            ("write", {"id": "match:k", "pk": pk, "n": 1}),
            ("upsert", {"id": "trx:9:r0", "pk": pk, "kind": "transaction"}),
        ],
    )
    assert state is not None
    assert match is not None
    # A create of a document that exists, a replace with an old ETag, a delete of a missing
    # one: each fails the whole batch, and nothing of it is written.
    for failing in (
        ("write", {"id": "match:k", "pk": pk, "n": 2}),
        ("write", {**match, "_etag": state["_etag"], "n": 2}),
        ("delete", {"id": "trx:8:missing", "pk": pk}),
    ):
        with pytest.raises(StaleDocument):
            await store.write_batch(
                pk,
                [("write", {**state, "n": 2}), ("upsert", {"id": "trx:9:r1", "pk": pk}), failing],
            )
    assert [d["n"] if d else None for d in await store.get_all(pk, ["period:9", "match:k"])] == [
        1,
        1,
    ]
    assert await store.get(pk, "trx:9:r1") is None
    # Replaced with their ETags, a record moved (deleted and written elsewhere): all applied.
    written = await store.write_batch(
        pk,
        [
            ("write", {**state, "n": 3}),
            ("write", {**match, "n": 3}),
            ("delete", {"id": "trx:9:r0", "pk": pk}),
            ("upsert", {"id": "trx:8:r0", "pk": pk}),
        ],
    )
    assert written[2] is None
    assert sorted(d["id"] for d in await store.partition(pk)) == ["match:k", "period:9", "trx:8:r0"]
    with pytest.raises(ValueError, match="100"):
        await store.write_batch(pk, [("upsert", {"id": f"x{i}", "pk": pk}) for i in range(101)])


async def test_the_scorer_on_cosmos_matches_a_reversal_that_came_before_its_payment(
    store: CosmosCashbackStore,
) -> None:
    """The previous period's payment arrives after its reversal; a chunk of one citizen
    needs several batches; a second scorer (another process) delivers it all again."""
    periods = parse_periods(
        json.dumps(
            [
                {
                    "id": 8,
                    "from": "2026-11-01",
                    "to": "2026-11-30",
                    "minTransactions": 1,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 150000,
                    "graceDays": 10,
                },
                {
                    "id": 9,
                    "from": "2026-12-01",
                    "to": "2026-12-31",
                    "minTransactions": 1,
                    "maxPerTransaction": 1500,
                    "maxPerPeriod": 150000,
                    "graceDays": 10,
                },
            ]
        )
    )
    enabled = datetime(2026, 10, 20, tzinfo=UTC)
    scene = Scene(now=enabled)
    cashback = scene.build(store, periods)
    scene.cashback = cashback
    cf = fiscal_code(int(uuid.uuid4().int % 900) + 50)
    hpan = uuid.uuid4().hex * 2
    await cashback.enroll(cf, now=enabled)
    await cashback.enable(cf, await scene.onboard(cf, hpan), now=enabled)
    received = datetime(2026, 12, 5, tzinfo=UTC)

    def line(n: int | str, day: str, amount: int, op: str = "00") -> TransactionIn:
        return TransactionIn.model_validate(
            {
                "acquirerId": "DEMOACQ",
                "acquirerCode": "12345",
                "idTrxAcquirer": f"t{n}",
                "hpan": hpan,
                "operationType": op,
                "trxDate": f"{day}T10:00:00+01:00",
                "amount": amount,
                "merchantId": "m",
                "terminalId": "t",
                "correlationId": f"c{n}".split("-")[0],
                "circuitType": "01",
            }
        )

    assert await Scorer(store, periods).score_all(
        [line("0-r", "2026-12-02", 2000, "01")], received_at=received
    ) == ["PENDING"]
    chunk = [line(0, "2026-11-20", 5000), *(line(i, "2026-12-01", 1000 + i) for i in range(1, 80))]
    first = Scorer(store, periods)
    assert await first.score_all(chunk, received_at=received) == ["COUNTED"] * 80
    assert (
        await Scorer(store, periods).score_all(chunk, received_at=received)
        == ["ALREADY_APPLIED"] * 80
    )
    november = await cashback.period(cf, "8", now=received)
    december = await cashback.period(cf, "9", now=received)
    assert (november.count, november.cashback) == (1, 300)
    assert (december.count, december.cashback) == (
        79,
        sum(score(1000 + i, periods[1]) for i in range(1, 80)),
    )
    moved = (await cashback.transactions(cf, "8")).transactions
    assert [(t.id_trx_acquirer, t.cashback) for t in moved] == [("t0-r", -200), ("t0", 500)]


async def test_the_hpan_holds_the_instruments_spans_on_cosmos(store: CosmosCashbackStore) -> None:
    """Enabling, disabling and enabling again on the emulator: the hpan's document holds the
    same spans as the instrument (instants as Cosmos gives them back), which scoring reads."""
    scene = Scene(now=NOW)
    cashback = scene.build(store, PRODUCTION_PERIODS)
    scene.cashback = cashback
    hpan = uuid.uuid4().hex * 2
    await cashback.enroll(CF, now=NOW)
    wallet_id = await scene.onboard(CF, hpan)
    for minutes, action in ((0, "enable"), (1, "disable"), (2, "enable"), (2, "enable")):
        when = NOW + timedelta(minutes=minutes)
        if action == "enable":
            await cashback.enable(CF, wallet_id, now=when)
        else:
            await cashback.disable(CF, wallet_id, now=when)
    citizen_id = fiscal_code_hash(CF)
    instrument, owner = (
        await store.get(citizen_id, instrument_id(hpan)),
        await store.get(hpan_pk(hpan), hpan),
    )
    assert instrument is not None
    assert owner is not None
    assert owner["holders"][citizen_id]["history"] == instrument["history"]
    assert len(instrument["history"]) == 2
    assert (owner["active"], owner["holders"][citizen_id]["fiscalCode"]) == (citizen_id, CF)
