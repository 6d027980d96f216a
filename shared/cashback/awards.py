"""Payout records, as pagoPA's award-winner service kept them: one per citizen and period (and
one per integrative payment), with the bank transfer's outcome and reference.

- When a period's payout list (or a late list) is handed to the paying agent, each line gets a
  record ``award:<period>:payout`` in the citizen's partition: amount, IBAN, typology, the
  file it travelled in, status ``SENT``.
- The paying agent answers with an outcomes file (:func:`parse_outcomes`, format in
  docs/cashback.md#payout-outcomes): per line ``OK`` with the transfer's reference (CRO) and
  execution date, or ``KO`` with a reason. ``KO`` makes the record ``RECOVERY``: it is sent
  again, once the citizen has a usable IBAN, in the next run's file of corrections.
- An operator adds an integrative payment (a complaint upheld, a correction of the amount):
  ``award:<period>:integration:<complaint>``, status ``NEW``, sent in the next run's file.

Files of corrections and integrations are ``period-<id>/awards-<run>.csv`` in the payout
container: ``fiscalCode,iban,amountCents,typology,award`` (``award``: the record's kind and
key, echoed back in the outcomes).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback.documents import CITIZEN_DOCUMENT_ID, StoredCitizen, dump
from shared.cashback.iban import masked
from shared.cashback.models import USABLE
from shared.cashback.payout_files import PayoutFiles
from shared.cashback.store import CashbackStore, StaleDocument, fixed_time
from shared.platform.errors import Invalid
from shared.platform.pan import NoPanText
from shared.platform.values import SafeText

logger = logging.getLogger(__name__)

AwardStatus = Literal["NEW", "SENT", "RECOVERY"]
AwardKind = Literal["PAYOUT", "INTEGRATION"]
OUTCOME_HEADER = (
    "fiscalCode",
    "period",
    "award",
    "amountCents",
    "result",
    "resultReason",
    "cro",
    "executionDate",
)
AWARDS_HEADER = ("fiscalCode", "iban", "amountCents", "typology", "award")


def award_id(period: int, key: str = "payout") -> str:
    return f"award:{period}:{key}"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class StoredAward(_Model):
    """A citizen's payout of a period, or an integrative payment, and how the transfer went."""

    id: str
    pk: str
    kind: Literal["award"] = "award"
    award_kind: AwardKind = Field(alias="awardKind")
    period: int
    fiscal_code: str = Field(alias="fiscalCode")
    amount: int = Field(description="Cents")
    typology: str
    iban: str | None = None
    status: AwardStatus
    file: str | None = Field(default=None, description="The paying agent's file it went in")
    result: Literal["OK", "KO"] | None = None
    result_reason: str | None = Field(default=None, alias="resultReason")
    cro: str | None = Field(default=None, description="The bank transfer's reference")
    execution_date: date | None = Field(default=None, alias="executionDate")
    reason: str | None = Field(default=None, description="Why an integrative payment")
    complaint_id: str | None = Field(default=None, alias="complaintId")
    sent_times: int = Field(default=0, alias="sentTimes")
    updated_at: datetime = Field(alias="updatedAt")

    @property
    def key(self) -> str:
        return self.id.split(":", 2)[2]


class AwardView(_Model):
    """A payout record as the citizen (and operators) see it."""

    period: int
    kind: AwardKind
    amount: int = Field(description="Cents")
    typology: str
    iban: str | None = Field(default=None, description="Masked")
    status: AwardStatus
    result: Literal["OK", "KO"] | None = None
    result_reason: str | None = Field(default=None, alias="resultReason")
    cro: str | None = None
    execution_date: date | None = Field(default=None, alias="executionDate")
    reason: str | None = None


class AwardList(_Model):
    awards: list[AwardView]


def award_view(item: StoredAward) -> AwardView:
    return AwardView(
        period=item.period,
        kind=item.award_kind,
        amount=item.amount,
        typology=item.typology,
        iban=masked(item.iban) if item.iban else None,
        status=item.status,
        result=item.result,
        result_reason=item.result_reason,
        cro=item.cro,
        execution_date=item.execution_date,
        reason=item.reason,
    )


class Outcome(_Model):
    """One line of the paying agent's outcomes file."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    fiscal_code: SafeText = Field(alias="fiscalCode", pattern=r"^[A-Z0-9]{11,16}$")
    period: int = Field(ge=1)
    award: SafeText = Field(pattern=r"^(payout|integration:[A-Za-z0-9._-]{1,64})$")
    amount: int = Field(alias="amountCents", ge=0)
    result: Literal["OK", "KO"]
    result_reason: SafeText | None = Field(default=None, alias="resultReason", max_length=140)
    cro: SafeText | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,35}$")
    execution_date: date | None = Field(default=None, alias="executionDate")


class OutcomesApplied(_Model):
    applied: int
    rejected: list[str] = Field(description="Lines not applied, each with why")


class IntegrationIn(BaseModel):
    """An integrative payment an operator adds (a complaint upheld)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    fiscal_code: SafeText = Field(alias="fiscalCode", pattern=r"^[A-Z0-9]{11,16}$")
    period: int = Field(ge=1)
    amount: int = Field(alias="amountCents", ge=1, le=100_000_000)
    reason: NoPanText = Field(min_length=1, max_length=140)
    complaint_id: SafeText = Field(alias="complaintId", pattern=r"^[A-Za-z0-9._-]{1,64}$")


class OutcomesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(pattern=r"^[A-Za-z0-9._-]{1,128}$")
    csv: str = Field(max_length=8 * 1024 * 1024, description="The outcomes file, as received")


def parse_outcomes(data: str) -> tuple[list[Outcome], list[str]]:
    """The outcomes file's lines, and the lines refused with why (line numbers from 2).

    Raises:
        Invalid: not the outcomes file (its header).
    """
    # newline="": a lone CR is a line end, not an error ("new-line character seen in unquoted
    # field"), whichever line ending the paying agent's system writes
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise Invalid(f"not a CSV file: {error}") from None
    if header is None or tuple(header) != OUTCOME_HEADER:
        raise Invalid(f"an outcomes file starts with {','.join(OUTCOME_HEADER)}")
    outcomes: list[Outcome] = []
    refused: list[str] = []
    number = 1
    while True:
        number += 1
        try:
            row = next(reader, None)
        except csv.Error as error:  # the reader moves past the broken line
            refused.append(f"line {number}: {error}")
            continue
        if row is None:
            break
        fields = dict(zip(OUTCOME_HEADER, (v or None for v in row), strict=False))
        try:
            if len(row) != len(OUTCOME_HEADER):
                raise ValueError(f"{len(OUTCOME_HEADER)} fields expected")
            outcomes.append(Outcome.model_validate(fields))
        except (ValidationError, ValueError) as error:
            refused.append(f"line {number}: {str(error).splitlines()[0]}")
    return outcomes, refused


class Awards:
    """Payout records on the cashback store, and the files to and from the paying agent."""

    def __init__(self, store: CashbackStore, files: PayoutFiles) -> None:
        self._store = store
        self._files = files

    async def sent(
        self,
        period: int,
        lines: list[tuple[str, str, int, str]],
        file: str,
        *,
        now: datetime,
    ) -> None:
        """Records for the lines ``(fiscal code, iban, cents, typology)`` of ``file``."""

        async def one(line: tuple[str, str, int, str]) -> None:
            fiscal_code, iban, amount, typology = line
            item = StoredAward(
                id=award_id(period),
                pk=fiscal_code_hash(fiscal_code),
                award_kind="PAYOUT",
                period=period,
                fiscal_code=fiscal_code,
                amount=amount,
                typology=typology,
                iban=iban,
                status="SENT",
                file=file,
                sent_times=1,
                updated_at=now,
            )
            with contextlib.suppress(StaleDocument):  # recorded by a run before this one
                await self._store.create(dump(item))

        await asyncio.gather(*(one(line) for line in lines))

    async def integrate(self, request: IntegrationIn, *, now: datetime) -> StoredAward:
        """An integrative payment, sent in the next run's file (the same complaint again:
        the record as it is)."""
        item = StoredAward(
            id=award_id(request.period, f"integration:{request.complaint_id}"),
            pk=fiscal_code_hash(request.fiscal_code),
            award_kind="INTEGRATION",
            period=request.period,
            fiscal_code=request.fiscal_code,
            amount=request.amount,
            typology="01",
            status="NEW",
            reason=request.reason,
            complaint_id=request.complaint_id,
            updated_at=now,
        )
        try:
            await self._store.create(dump(item))
        except StaleDocument:
            raw = await self._store.get(item.pk, item.id)
            assert raw is not None, "a create that finds the record"
            return StoredAward.model_validate(raw)
        return item

    async def of_citizen(self, fiscal_code: str) -> list[StoredAward]:
        found = await self._store.partition(fiscal_code_hash(fiscal_code), ("award",))
        return sorted(
            (StoredAward.model_validate(d) for d in found), key=lambda a: (a.period, a.id)
        )

    async def apply_outcomes(
        self, name: str, data: str, *, now: datetime
    ) -> tuple[OutcomesApplied, list[StoredAward]]:
        """Record the paying agent's outcomes (a line applied again changes nothing); what
        was applied, and the records whose transfer this file newly says was made."""
        outcomes, rejected = parse_outcomes(data)
        applied = 0
        paid: list[StoredAward] = []
        for outcome in outcomes:
            why = await self._apply(outcome, name, now, paid)
            if why is None:
                applied += 1
            else:
                rejected.append(f"{outcome.fiscal_code[:6]}... {outcome.award}: {why}")
        logger.info("outcomes %s: %s applied, %s rejected", name, applied, len(rejected))
        return OutcomesApplied(applied=applied, rejected=rejected), paid

    async def _apply(
        self, outcome: Outcome, name: str, now: datetime, paid: list[StoredAward]
    ) -> str | None:
        pk = fiscal_code_hash(outcome.fiscal_code)
        raw = await self._store.get(pk, award_id(outcome.period, outcome.award))
        if raw is None:
            return "no such payout"
        item = StoredAward.model_validate(raw)
        if item.amount != outcome.amount:
            return f"amount {outcome.amount} is not the {item.amount} sent"
        if item.result is not None and item.result == outcome.result:
            return None  # applied already (the same file again)
        if item.status != "SENT":
            return f"it is {item.status}"
        changed = item.model_copy(
            update={
                "result": outcome.result,
                "result_reason": outcome.result_reason,
                "cro": outcome.cro,
                "execution_date": outcome.execution_date,
                # A refused transfer is sent again once the IBAN is usable (a correction).
                "status": "RECOVERY" if outcome.result == "KO" else "SENT",
                "updated_at": now,
            }
        )
        try:
            await self._store.replace(dump(changed, raw))
        except StaleDocument:
            return "changed meanwhile: send the line again"
        if changed.result == "OK":
            paid.append(changed)
        return None

    async def send_pending(self, *, now: datetime) -> dict[int, int]:
        """Integrations (``NEW``) and refused transfers (``RECOVERY``) whose citizen has a
        usable IBAN go in one file per period; period id -> lines."""
        pending = [StoredAward.model_validate(d) for d in await self._store.awards_to_send()]
        by_period: dict[int, list[tuple[StoredAward, str]]] = {}
        for item in pending:
            raw = await self._store.get(item.pk, CITIZEN_DOCUMENT_ID)
            citizen = StoredCitizen.model_validate(raw) if raw else None
            if citizen is None or citizen.iban is None or citizen.iban_status not in USABLE:
                continue
            by_period.setdefault(item.period, []).append((item, citizen.iban))
        run = fixed_time(now)[:19].replace(":", "")
        sent: dict[int, int] = {}
        for period, items in sorted(by_period.items()):
            name = f"period-{period}/awards-{run}.csv"
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(AWARDS_HEADER)
            for item, iban in items:
                writer.writerow((item.fiscal_code, iban, item.amount, item.typology, item.key))
            await self._files.write_once(name, out.getvalue().encode())
            for item, iban in items:
                await self._mark_sent(item, iban, name, now)
            sent[period] = len(items)
        return sent

    async def _mark_sent(self, item: StoredAward, iban: str, name: str, now: datetime) -> None:
        raw = await self._store.get(item.pk, item.id)
        if raw is None:
            return
        current = StoredAward.model_validate(raw)
        if current.status not in ("NEW", "RECOVERY"):
            return
        changed = current.model_copy(
            update={
                "status": "SENT",
                "iban": iban,
                "file": name,
                "result": None,
                "result_reason": None,
                "cro": None,
                "execution_date": None,
                "sent_times": current.sent_times + 1,
                "updated_at": now,
            }
        )
        try:
            await self._store.replace(dump(changed, raw))
        except StaleDocument:
            logger.warning("award %s of %s changed while sent", item.id, item.pk[:12])
