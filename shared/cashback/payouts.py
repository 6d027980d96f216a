"""Payouts (rule 5): once a period is closed (its last day + grace days are over), the list of
what each citizen is paid, written once to Blob storage as CSV.

One line per citizen who reached the minimum count and has an IBAN the bank confirmed:
``fiscalCode,iban,amountCents,typology``, typology ``01`` (normal) or ``03`` (it includes the
super cashback: rank <= top N, on the final ranking). Citizens who qualify without a confirmed
IBAN are counted in the run's record (``withheld``), not paid.

Written once: the blob is created only if it does not exist, and a record document
(``payout:<period>``) says the period is done, so later runs skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from azure.core.exceptions import (
    ResourceExistsError,
)
from azure.storage.blob.aio import BlobServiceClient
from pydantic import BaseModel, ConfigDict, Field

from shared.cashback import rules
from shared.cashback.models import dump
from shared.cashback.ranking import rank_standings
from shared.cashback.store import CashbackStore, StaleDocument
from shared.storage import guarded_blob

logger = logging.getLogger(__name__)

Typology = Literal["01", "03"]
NORMAL: Typology = "01"
WITH_SUPER: Typology = "03"
HEADER = ("fiscalCode", "iban", "amountCents", "typology")


@dataclass(frozen=True)
class PayoutLine:
    fiscal_code: str
    iban: str
    amount: int
    typology: Typology


@dataclass(frozen=True)
class Qualified:
    """What rule 5 needs of one citizen, with the rank of the final ranking."""

    pk: str
    fiscal_code: str
    count: int
    cashback: int
    rank: int


def payout_lines(period: rules.Period, citizens: Iterable[Qualified],
                 ibans: dict[str, str]) -> tuple[list[PayoutLine], int]:
    """The lines to pay (by rank) and how many qualified without a confirmed IBAN."""
    lines: list[PayoutLine] = []
    withheld = 0
    for citizen in sorted(citizens, key=lambda c: c.rank):
        amount = rules.payout(citizen.count, citizen.cashback, citizen.rank, period)
        if amount is None or amount <= 0:
            continue
        iban = ibans.get(citizen.pk)
        if iban is None:
            withheld += 1
            continue
        with_super = period.top_n > 0 and citizen.rank <= period.top_n
        lines.append(PayoutLine(citizen.fiscal_code, iban, amount,
                                WITH_SUPER if with_super else NORMAL))
    return lines, withheld


def to_csv(lines: Iterable[PayoutLine]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for line in lines:
        writer.writerow((line.fiscal_code, line.iban, line.amount, line.typology))
    return out.getvalue().encode()


class PayoutFiles(Protocol):
    async def write_once(self, name: str, data: bytes) -> bool:
        """Create ``name``; False if it exists already (nothing is overwritten)."""
        ...


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
    withheld: int
    written_at: datetime = Field(alias="writtenAt")


def payout_pk(period: int) -> str:
    return f"payout:{period}"


class PayoutJob:
    def __init__(self, store: CashbackStore, files: PayoutFiles,
                 periods: tuple[rules.Period, ...]) -> None:
        self._store = store
        self._files = files
        self._periods = periods

    async def run(self, *, now: datetime) -> dict[int, int]:
        """Pay every closed period not paid yet; period id -> lines written."""
        done: dict[int, int] = {}
        for period in self._periods:
            if rules.period_status(period, now) is not rules.PeriodStatus.CLOSED:
                continue
            if await self._store.get(payout_pk(period.id), payout_pk(period.id)) is not None:
                continue
            done[period.id] = await self.pay(period, now=now)
        return done

    async def pay(self, period: rules.Period, *, now: datetime) -> int:
        rows, holders = await asyncio.gather(self._store.standings(period.id),
                                             self._store.confirmed_ibans())
        ranked = rank_standings(rows, now=now)
        citizens = [Qualified(pk=r.pk, fiscal_code=r.fiscal_code or r.pk, count=r.count,
                              cashback=r.cashback, rank=rank) for rank, r in ranked]
        ibans = {h["pk"]: h["iban"] for h in holders if h.get("iban")}
        lines, withheld = payout_lines(period, citizens, ibans)
        name = f"period-{period.id}/payouts.csv"
        if not await self._files.write_once(name, to_csv(lines)):
            logger.info("period %s: payouts written before", period.id)
        record = StoredPayout(id=payout_pk(period.id), pk=payout_pk(period.id),
                              period=period.id, blob=name, lines=len(lines),
                              total=sum(line.amount for line in lines), withheld=withheld,
                              written_at=now)
        with contextlib.suppress(StaleDocument):  # another run recorded it first
            await self._store.create(dump(record))
        logger.info("period %s: %s payouts, %s withheld", period.id, len(lines), withheld)
        return len(lines)


class AzurePayoutFiles:
    """Payout files in one container of the process's shared BlobServiceClient."""

    def __init__(self, service: Callable[[], BlobServiceClient], container: str,
                 timeout: float = 60.0) -> None:
        self._service = service
        self._container = container
        self._timeout = timeout

    async def write_once(self, name: str, data: bytes) -> bool:
        container = self._service().get_container_client(self._container)
        with contextlib.suppress(ResourceExistsError):
            async with guarded_blob(self._timeout):
                await container.create_container()
        try:
            async with guarded_blob(self._timeout):
                await container.get_blob_client(name).upload_blob(
                    data, overwrite=False, length=len(data))
        except ResourceExistsError:
            return False
        return True


class MemoryPayoutFiles:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    async def write_once(self, name: str, data: bytes) -> bool:
        if name in self.files:
            return False
        self.files[name] = bytes(data)
        return True
