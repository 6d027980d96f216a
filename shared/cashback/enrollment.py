"""Enrollment and the IBAN: a citizen joins (accepting the terms), withdraws, and says where
payouts go.

- A citizen enrolls by accepting the terms and conditions (the time is kept: transactions count
  only strictly after it). Withdrawing disables every instrument, clears the IBAN and sets
  every period's count, cashback and rank to zero, as pagoPA's citizen service did.
  Enrolling again after a withdrawal accepts the terms again, and the hpans' documents learn
  the new time (:meth:`~shared.cashback.hpans.Hpans.catch_up`).
- An IBAN is validated here (Italian, mod-97, CIN) and checked with the bank asynchronously:
  the request leaves through the citizen document's outbox to ``IBAN_CHECK_QUEUE``, and the
  bank's answer is recorded once (a check that a newer IBAN superseded is dropped). ``OK``
  and ``UNKNOWN_PSP`` keep it (usable for payouts); ``KO`` refuses it and brings back the
  usable IBAN it was to replace, if any.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Protocol

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import iban, rules
from shared.cashback.bank import BankCheck, CheckResult
from shared.cashback.documents import (
    CITIZEN_DOCUMENT_ID,
    PROFILE_KINDS,
    StoredCitizen,
    StoredPayoff,
    StoredPeriod,
    dump,
    instruments_in,
    period_id,
)
from shared.cashback.hpans import Hpans
from shared.cashback.models import USABLE, AccountHolder, Citizen, IbanCheckRequest, IbanIn
from shared.cashback.store import CashbackStore, Document, retrying
from shared.cashback.views import citizen_view
from shared.platform.errors import (
    Conflict,
    DependencyError,
    Invalid,
    NotFound,
    PermanentError,
    RescheduleLater,
    TransientError,
)
from shared.platform.outbox import Event, add_events

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, document: Document) -> bool:
        """Send the document's outbox and clear it; False if it must wait for the sweep."""
        ...


class Enrollments:
    """Citizens' enrollment, withdrawal and IBAN, on their ports."""

    def __init__(
        self,
        *,
        store: CashbackStore,
        hpans: Hpans,
        publisher: Publisher,
        bank: BankCheck,
        iban_queue: str,
    ) -> None:
        self._store = store
        self._hpans = hpans
        self._publisher = publisher
        self._bank = bank
        self._iban_queue = iban_queue

    async def enroll(self, fiscal_code: str, *, now: datetime) -> Citizen:
        """Enroll (accepting T&C now); enrolling again changes nothing, after a withdrawal
        the terms are accepted again."""
        citizen_id = fiscal_code_hash(fiscal_code)
        item = await retrying(partial(self._enroll_once, citizen_id, fiscal_code, now))
        if item.hpans_behind:  # just now, or by an enrollment interrupted before it ended
            item = await self._hpans.catch_up(item, now)
        return citizen_view(item)

    async def _enroll_once(self, citizen_id: str, fiscal_code: str, now: datetime) -> StoredCitizen:
        raw = await self._store.get(citizen_id, CITIZEN_DOCUMENT_ID)
        if raw is None:
            item = StoredCitizen(
                pk=citizen_id,
                fiscal_code=fiscal_code,
                status="ENROLLED",
                terms_accepted_at=now,
                enrolled_at=now,
                updated_at=now,
            )
            await self._store.create(dump(item))
            logger.info("citizen %s enrolled", citizen_id[:12])
            return item
        item = StoredCitizen.model_validate(raw)
        if item.status == "ENROLLED":
            return item
        # The hpans' documents learn the new T&C time next (see the module docstring).
        item = item.model_copy(
            update={
                "status": "ENROLLED",
                "terms_accepted_at": now,
                "enrolled_at": now,
                "withdrawn_at": None,
                "hpans_behind": True,
                "updated_at": now,
            }
        )
        await self._store.replace(dump(item, raw))
        return item

    async def citizen(self, fiscal_code: str) -> Citizen:
        raw = await self._store.get(fiscal_code_hash(fiscal_code), CITIZEN_DOCUMENT_ID)
        if raw is None:
            raise NotFound("not enrolled in cashback")
        return citizen_view(StoredCitizen.model_validate(raw))

    async def withdraw(
        self, fiscal_code: str, calendar: tuple[rules.Period, ...], *, now: datetime
    ) -> None:
        """Withdraw, as pagoPA's citizen service did: every instrument is disabled now, the
        IBAN and its holder are cleared, and in every period the count, cashback, milestones
        and rank are set to zero (nothing before now counts any more). Again: no-op."""
        citizen_id = fiscal_code_hash(fiscal_code)
        item = await retrying(partial(self._withdraw_once, citizen_id, now))
        # Always, even when already withdrawn: a withdrawal interrupted here completes. Every
        # instrument, not only those shown enabled: an enabling interrupted after its claim
        # left the span on the hpan's document alone, and it must end too.
        instruments = instruments_in(await self._store.partition(citizen_id, PROFILE_KINDS))
        await asyncio.gather(*(self._hpans.end_span(citizen_id, i.hpan, now) for i in instruments))
        assert item.withdrawn_at is not None
        # Transactions from before the withdrawal that arrive later find nothing to count.
        await self._hpans.terms_from(item, [i.hpan for i in instruments], item.withdrawn_at, now)
        await asyncio.gather(
            *(
                retrying(partial(self._zero_once, citizen_id, p.id, item.withdrawn_at, now))
                for p in calendar
            )
        )

    async def _withdraw_once(self, citizen_id: str, now: datetime) -> StoredCitizen:
        raw = await self._store.get(citizen_id, CITIZEN_DOCUMENT_ID)
        if raw is None:
            raise NotFound("not enrolled in cashback")
        item = StoredCitizen.model_validate(raw)
        if item.status == "WITHDRAWN":
            return item
        item = item.model_copy(
            update={
                "status": "WITHDRAWN",
                "withdrawn_at": now,
                "iban": None,
                "iban_owner": None,
                "account_holder": None,
                "iban_status": None,
                "iban_request": None,
                "iban_checked_at": None,
                "iban_before": None,
                "updated_at": now,
            }
        )
        await self._store.replace(dump(item, raw))
        return item

    async def _zero_once(
        self, citizen_id: str, period: int, withdrawn_at: datetime, now: datetime
    ) -> None:
        """The citizen's state in ``period`` set to zero as of the withdrawal (once)."""
        raw = await self._store.get(citizen_id, period_id(period))
        if raw is None:
            return
        state = StoredPeriod.model_validate(raw)
        if state.withdrawn_at is not None and state.withdrawn_at >= withdrawn_at:
            return
        zeroed = state.with_tally(
            rules.Tally(), updated_at=now, fiscal_code=None, terms_accepted_at=None
        ).model_copy(update={"withdrawn_at": withdrawn_at})
        await self._store.replace(dump(zeroed, raw))

    async def set_iban(self, fiscal_code: str, request: IbanIn, *, now: datetime) -> Citizen:
        """Record where payouts go and ask the bank, asynchronously, whether it is the
        citizen's: ``PENDING`` until it answers. The same IBAN and name again (pending or
        confirmed) changes nothing.

        Raises:
            Invalid: (422) not an Italian IBAN (length, mod-97, CIN).
            Conflict: not enrolled.
        """
        value = iban.normalized(request.iban)
        reason = iban.problem(value)
        if reason is not None:
            raise Invalid(
                f"iban: {reason}",
                status=422,
                errors=[{"loc": ["iban"], "msg": reason, "type": "value_error"}],
            )
        owner = " ".join(request.owner_name.split())
        holder = _holder(request)
        citizen_id = fiscal_code_hash(fiscal_code)
        item, written = await retrying(
            partial(self._set_iban_once, citizen_id, fiscal_code, value, owner, holder, now)
        )
        if written is not None:
            await self._publisher.publish(written)
        return citizen_view(item)

    async def _set_iban_once(
        self,
        citizen_id: str,
        fiscal_code: str,
        value: str,
        owner: str,
        holder: AccountHolder | None,
        now: datetime,
    ) -> tuple[StoredCitizen, Document | None]:
        """The citizen with the IBAN pending, and the document written with the check's
        event in its outbox (None: the same IBAN is pending or usable already)."""
        raw = await self._store.get(citizen_id, CITIZEN_DOCUMENT_ID)
        if raw is None or raw.get("status") != "ENROLLED":
            raise Conflict("enroll in cashback (PUT /api/v1/cashback/citizen) first")
        item = StoredCitizen.model_validate(raw)
        if (item.iban, item.iban_owner, item.account_holder) == (
            value,
            owner,
            holder,
        ) and item.iban_status in ("PENDING", *USABLE):
            return item, None
        request_id = str(uuid.uuid4())
        # The usable IBAN it replaces comes back if the bank refuses this one (as pagoPA's
        # citizen service kept the old one on a KO).
        before = item.iban_before
        if item.iban is not None and item.iban_status in USABLE:
            assert item.iban_status is not None
            before = StoredPayoff(
                iban=item.iban,
                owner=item.iban_owner,
                status=item.iban_status,
                account_holder=item.account_holder,
            )
        item = item.model_copy(
            update={
                "iban": value,
                "iban_owner": owner,
                "account_holder": holder,
                "iban_status": "PENDING",
                "iban_request": request_id,
                "iban_checked_at": None,
                "iban_before": before,
                "updated_at": now,
            }
        )
        check = IbanCheckRequest(
            request_id=request_id,
            citizen_id=citizen_id,
            fiscal_code=fiscal_code,
            iban=value,
            owner_name=owner,
        )
        document = add_events(
            dump(item, raw),
            [
                Event.new(
                    "IbanCheckRequested",
                    self._iban_queue,
                    check.model_dump(mode="json", by_alias=True),
                    now=now,
                )
            ],
        )
        return item, await self._store.replace(document)

    async def on_iban_check(self, body: bytes, *, now: datetime) -> None:
        """Ask the bank about a pending IBAN and record its answer (once; a check that a
        newer IBAN superseded is dropped).

        Raises:
            PermanentError: not an IBAN check request.
            RescheduleLater: the bank-check service is unavailable.
        """
        try:
            payload = json.loads(body)  # an outbox event: {id, type, createdAt, data}
            check = IbanCheckRequest.model_validate(
                payload.get("data") if isinstance(payload, dict) else None
            )
        except ValueError as error:  # bad JSON, or a ValidationError
            raise PermanentError(f"not an IBAN check request: {error}") from None
        raw = await self._store.get(check.citizen_id, CITIZEN_DOCUMENT_ID)
        if _pending_check(check, raw) is None:
            return  # superseded, or answered already
        try:
            result = await self._bank.check(
                iban=check.iban, fiscal_code=check.fiscal_code, owner_name=check.owner_name
            )
        except DependencyError as error:
            raise RescheduleLater(
                f"bank check: {error.detail}", delay_seconds=error.retry_after
            ) from None
        try:
            await retrying(partial(self._record_answer, check, result, now))
        except Conflict as error:
            raise TransientError(error.detail) from None

    async def _record_answer(
        self, check: IbanCheckRequest, result: CheckResult, now: datetime
    ) -> None:
        raw = await self._store.get(check.citizen_id, CITIZEN_DOCUMENT_ID)
        item = _pending_check(check, raw)
        if item is None:
            return
        if result == "KO":
            item = _refused(item, now)
        else:
            item = item.model_copy(
                update={
                    "iban_status": result,
                    "iban_checked_at": now,
                    "iban_before": None,
                    "updated_at": now,
                }
            )
        await self._store.replace(dump(item, raw))
        logger.info("IBAN check %s: %s", check.request_id, result)


def _pending_check(check: IbanCheckRequest, raw: Document | None) -> StoredCitizen | None:
    """The citizen whose IBAN ``check`` is about, while it waits for this check's answer."""
    if raw is None or raw.get("ibanRequest") != check.request_id:
        return None
    item = StoredCitizen.model_validate(raw)
    return item if item.iban_status == "PENDING" else None


def _holder(request: IbanIn) -> AccountHolder | None:
    """The account's holder as the citizen gave it (None: the citizen alone)."""
    holder = AccountHolder(
        fiscal_code=request.account_holder_fiscal_code,
        name=request.account_holder_name,
        surname=request.account_holder_surname,
        technical=request.technical_account_holder,
    )
    return None if holder == AccountHolder() else holder


def _refused(item: StoredCitizen, now: datetime) -> StoredCitizen:
    """The bank says the pending IBAN is not the citizen's: it is refused (never used), and
    the usable one it was to replace, if any, is back."""
    before = item.iban_before
    return item.model_copy(
        update={
            "iban": before.iban if before else None,
            "iban_owner": before.owner if before else None,
            "account_holder": before.account_holder if before else None,
            "iban_status": before.status if before else None,
            "iban_before": None,
            "iban_refused": item.iban,
            "iban_refused_at": now,
            "iban_checked_at": now,
            "updated_at": now,
        }
    )
