"""Payouts (docs/cashback.md#payouts): once a period's last day + grace days are over, the list of
what each citizen is paid, written once to Blob storage as CSV.

One line per citizen who reached the minimum count and has a usable IBAN (the bank confirmed
it, ``OK``, or could not be asked, ``UNKNOWN_PSP``: pagoPA paid both):
``fiscalCode,iban,amountCents,typology``, typology ``01`` (normal) or ``03`` (it includes the
super cashback: rank <= top N, on the final ranking).

Written once: the blob is created only if it does not exist, and a record document
(``payout:<period>``) says the period is done, so later runs skip it. A run that finds the list
written already (a run before it died) takes who is paid from that list.

Citizens who qualify without a usable IBAN are withheld: each gets a document in their own
partition (``withheld:<period>``: amount, typology, why: ``NO_IBAN``, ``IBAN_PENDING``
(``IBAN_KO``, ``IBAN_UNKNOWN_PSP`` in documents written before either became what it is now);
``LIST_WRITTEN_BEFORE`` when its IBAN became usable after
the period's list was written by a run that then died) and a line in
``period-<id>/withheld.csv`` (fiscalCode, amountCents, typology, reason). Every run of the job
then pays, once, those whose IBAN has become usable since, in a list of their own
(``period-<id>/payouts-late-<run>.csv``, same columns): each withheld document is first marked
for that run (ETag), then the run's list is written once from exactly the documents marked for
it, then they are marked paid; a run that dies midway is finished by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.cashback import rules
from shared.cashback.alerts import Alerts
from shared.cashback.awards import Awards
from shared.cashback.documents import CITIZEN_DOCUMENT_ID, StoredCitizen, dump
from shared.cashback.models import USABLE
from shared.cashback.payout_files import PayoutFiles
from shared.cashback.ranking import rank_standings
from shared.cashback.store import CashbackStore, Document, StaleDocument, fixed_time
from shared.platform.errors import Conflict
from shared.platform.retry import retry_on_stale

logger = logging.getLogger(__name__)

Typology = Literal["01", "03"]
NORMAL: Typology = "01"
WITH_SUPER: Typology = "03"
HEADER = ("fiscalCode", "iban", "amountCents", "typology")
WITHHELD_HEADER = ("fiscalCode", "amountCents", "typology", "reason")
WithheldReason = Literal[
    "NO_IBAN", "IBAN_PENDING", "IBAN_KO", "IBAN_UNKNOWN_PSP", "LIST_WRITTEN_BEFORE"
]
_ATTEMPTS = 5


@dataclass(frozen=True)
class PayoutLine:
    fiscal_code: str
    iban: str
    amount: int
    typology: Typology


@dataclass(frozen=True)
class Qualified:
    """What the payout rule needs of one citizen, with the rank of the final ranking."""

    citizen_id: str
    fiscal_code: str
    count: int
    cashback: int
    rank: int


@dataclass(frozen=True)
class Withheld:
    """A citizen who qualified without a confirmed IBAN: what they are owed."""

    citizen_id: str
    fiscal_code: str
    amount: int
    typology: Typology


def payout_lines(
    period: rules.Period, citizens: Iterable[Qualified], ibans: dict[str, str]
) -> tuple[list[PayoutLine], list[Withheld]]:
    """The lines to pay (by rank) and who qualified without a confirmed IBAN (by rank);
    ``ibans``: the confirmed IBAN of each citizen id that has one."""
    lines: list[PayoutLine] = []
    withheld: list[Withheld] = []
    for citizen in sorted(citizens, key=lambda c: c.rank):
        amount = rules.payout(citizen.count, citizen.cashback, citizen.rank, period)
        if amount is None or amount <= 0:
            continue
        with_super = period.top_n > 0 and citizen.rank <= period.top_n
        typology = WITH_SUPER if with_super else NORMAL
        iban = ibans.get(citizen.citizen_id)
        if iban is None:
            withheld.append(Withheld(citizen.citizen_id, citizen.fiscal_code, amount, typology))
            continue
        lines.append(PayoutLine(citizen.fiscal_code, iban, amount, typology))
    return lines, withheld


def withheld_reason(citizen: Document | None) -> WithheldReason:
    """Why a qualified citizen is not paid, from their enrollment document."""
    status = citizen.get("ibanStatus") if citizen else None
    if citizen is None or not citizen.get("iban") or status is None:
        return "NO_IBAN"
    if status == "KO":
        return "IBAN_KO"
    if status in ("OK", "UNKNOWN_PSP"):  # usable since the period's list was written
        return "LIST_WRITTEN_BEFORE"
    return "IBAN_PENDING"


def to_csv(lines: Iterable[PayoutLine]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for line in lines:
        writer.writerow((line.fiscal_code, line.iban, line.amount, line.typology))
    return out.getvalue().encode()


def paid_in(data: bytes) -> set[str]:
    """The fiscal codes of a payout list."""
    rows = csv.reader(io.StringIO(data.decode()))
    next(rows, None)
    return {row[0] for row in rows if row}


def withheld_csv(items: Iterable[StoredWithheld]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WITHHELD_HEADER)
    for item in items:
        writer.writerow((item.fiscal_code, item.amount, item.typology, item.reason))
    return out.getvalue().encode()


class StoredPayout(BaseModel):
    """The record of a period's payout run."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    pk: str
    kind: Literal["payout"] = "payout"
    period: int
    blob: str
    lines: int
    total: int = Field(description="Cents")
    withheld: int = Field(
        description="How many qualified without a confirmed IBAN (listed "
        "in withheld.csv and their withheld documents)"
    )
    written_at: datetime = Field(alias="writtenAt")


class StoredWithheld(BaseModel):
    """A citizen's payout of a period withheld for want of a confirmed IBAN (in the citizen's
    partition), until a later run pays it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    pk: str
    kind: Literal["withheld"] = "withheld"
    period: int
    fiscal_code: str = Field(alias="fiscalCode")
    amount: int = Field(description="Cents")
    typology: Typology
    reason: WithheldReason
    status: Literal["WITHHELD", "SCHEDULED", "PAID"] = "WITHHELD"
    withheld_at: datetime = Field(alias="withheldAt")
    run: str | None = Field(default=None, description="The later run that pays it")
    iban: str | None = Field(default=None, description="Where that run pays it")
    paid_at: datetime | None = Field(default=None, alias="paidAt")


def payout_pk(period: int) -> str:
    return f"payout:{period}"


def withheld_id(period: int) -> str:
    return f"withheld:{period}"


def late_blob(period: int, run: str) -> str:
    return f"period-{period}/payouts-late-{run}.csv"


class PayoutJob:
    def __init__(
        self,
        store: CashbackStore,
        files: PayoutFiles,
        periods: tuple[rules.Period, ...],
        alerts: Alerts | None = None,
    ) -> None:
        self._store = store
        self._files = files
        self._periods = periods
        self._alerts = alerts or Alerts(store)
        self._awards = Awards(store, files)

    async def run(self, *, now: datetime) -> dict[int, int]:
        """Pay every closed period not paid yet, then the withheld payouts whose IBAN is
        confirmed since; period id -> lines written (in its own list, then in late ones)."""
        done: dict[int, int] = defaultdict(int)
        for period in self._periods:
            if rules.period_status(period, now) is not rules.PeriodStatus.CLOSED:
                continue
            if await self._store.get(payout_pk(period.id), payout_pk(period.id)) is not None:
                continue
            done[period.id] += await self.pay(period, now=now)
        for period_id, lines in (await self.pay_withheld(now=now)).items():
            done[period_id] += lines
        # Integrative payments and transfers to send again (payout records).
        for period_id, lines in (await self._awards.send_pending(now=now)).items():
            done[period_id] += lines
        return dict(done)

    async def pay(self, period: rules.Period, *, now: datetime) -> int:
        rows, confirmed = await asyncio.gather(
            self._store.standings(period.id), self._store.confirmed_ibans()
        )
        ranked = rank_standings(rows, now=now)
        citizens = [
            Qualified(
                citizen_id=r.citizen_id,
                fiscal_code=r.fiscal_code or r.citizen_id,
                count=r.count,
                cashback=r.cashback,
                rank=rank,
            )
            for rank, r in ranked
        ]
        ibans = {row["pk"]: row["iban"] for row in confirmed if row.get("iban")}
        lines, withheld = payout_lines(period, citizens, ibans)
        name = f"period-{period.id}/payouts.csv"
        if not await self._files.write_once(name, to_csv(lines)):
            # A run before this one died after writing it: who it pays is what it says.
            written = await self._files.read(name) or b""
            paid = paid_in(written)
            everyone = [
                *((line.fiscal_code, line.amount, line.typology) for line in lines),
                *((w.fiscal_code, w.amount, w.typology) for w in withheld),
            ]
            citizen_ids = {w.fiscal_code: w.citizen_id for w in withheld} | {
                c.fiscal_code: c.citizen_id for c in citizens
            }
            lines = [line for line in lines if line.fiscal_code in paid]
            withheld = [
                Withheld(citizen_ids[code], code, amount, typology)
                for code, amount, typology in everyone
                if code not in paid
            ]
            logger.info("period %s: payouts written before", period.id)
        listed = await self._withhold(period.id, withheld, now)
        # A listing, not a payment list: a run after one that died writes it whole again.
        await self._files.write(f"period-{period.id}/withheld.csv", withheld_csv(listed))
        # Before the period's record: a run that dies here records them next time.
        await self._awards.sent(
            period.id, [(x.fiscal_code, x.iban, x.amount, x.typology) for x in lines], name, now=now
        )
        record = StoredPayout(
            id=payout_pk(period.id),
            pk=payout_pk(period.id),
            period=period.id,
            blob=name,
            lines=len(lines),
            total=sum(line.amount for line in lines),
            withheld=len(withheld),
            written_at=now,
        )
        with contextlib.suppress(StaleDocument):  # another run recorded it first
            await self._store.create(dump(record))
        logger.info("period %s: %s payouts, %s withheld", period.id, len(lines), len(withheld))
        await self._alerts.add_iban(
            period.id,
            [(w.pk, w.fiscal_code, w.amount) for w in listed if w.reason == "NO_IBAN"],
            now=now,
        )
        return len(lines)

    async def _withhold(
        self, period: int, withheld: list[Withheld], now: datetime
    ) -> list[StoredWithheld]:
        """A withheld document per citizen (kept if a run before wrote it), with why."""
        citizens = await asyncio.gather(
            *(self._store.get(w.citizen_id, CITIZEN_DOCUMENT_ID) for w in withheld)
        )
        items = [
            StoredWithheld(
                id=withheld_id(period),
                pk=w.citizen_id,
                period=period,
                fiscal_code=w.fiscal_code,
                amount=w.amount,
                typology=w.typology,
                reason=withheld_reason(citizen),
                withheld_at=now,
            )
            for w, citizen in zip(withheld, citizens, strict=True)
        ]

        async def create(item: StoredWithheld) -> None:
            with contextlib.suppress(StaleDocument):  # written by a run before this one
                await self._store.create(dump(item))

        await asyncio.gather(*(create(item) for item in items))
        return items

    async def pay_withheld(self, *, now: datetime) -> dict[int, int]:
        """Pay, once, the withheld payouts whose citizen's IBAN is confirmed now (and finish
        a run that died midway); period id -> lines written."""
        waiting = [StoredWithheld.model_validate(d) for d in await self._store.withheld()]
        runs: dict[tuple[int, str], list[StoredWithheld]] = defaultdict(list)
        for item in waiting:
            if item.status == "SCHEDULED" and item.run is not None:
                runs[(item.period, item.run)].append(item)  # a run before this one died
        still_withheld = [item for item in waiting if item.status == "WITHHELD"]
        citizens = await asyncio.gather(
            *(self._store.get(i.pk, CITIZEN_DOCUMENT_ID) for i in still_withheld)
        )
        run = f"{fixed_time(now)[:19].replace(':', '')}-{uuid.uuid4().hex[:8]}"
        for item, raw in zip(still_withheld, citizens, strict=True):
            if raw is None or raw.get("ibanStatus") not in USABLE or not raw.get("iban"):
                continue
            iban = StoredCitizen.model_validate(raw).iban
            scheduled = await self._mark(item, {"status": "SCHEDULED", "run": run, "iban": iban})
            if scheduled is not None:
                runs[(item.period, run)].append(scheduled)
        paid: dict[int, int] = defaultdict(int)
        for (period, name), items in sorted(runs.items()):
            lines = [
                PayoutLine(i.fiscal_code, i.iban or "", i.amount, i.typology)
                for i in sorted(items, key=lambda i: i.fiscal_code)
            ]
            await self._files.write_once(late_blob(period, name), to_csv(lines))
            await self._awards.sent(
                period,
                [(x.fiscal_code, x.iban, x.amount, x.typology) for x in lines],
                late_blob(period, name),
                now=now,
            )
            for item in items:
                await self._mark(item, {"status": "PAID", "paid_at": now})
            paid[period] += len(lines)
            logger.info("period %s: %s withheld payouts paid in run %s", period, len(lines), name)
        return dict(paid)

    async def _mark(self, item: StoredWithheld, change: dict[str, object]) -> StoredWithheld | None:
        """``item`` changed as it was read (ETag); None if it changed meanwhile, or kept
        changing under us."""
        try:
            return await retry_on_stale(
                partial(self._mark_once, item, change),
                conflict=f"withheld payout {item.id} of {item.pk[:12]} kept changing",
                attempts=_ATTEMPTS,
            )
        except Conflict:
            return None

    async def _mark_once(
        self, item: StoredWithheld, change: dict[str, object]
    ) -> StoredWithheld | None:
        raw = await self._store.get(item.pk, item.id)
        if raw is None:
            return None
        current = StoredWithheld.model_validate(raw)
        if (current.status, current.run) != (item.status, item.run):
            return None  # another run took it
        changed = current.model_copy(update=change)
        await self._store.replace(dump(changed, raw))
        return changed
