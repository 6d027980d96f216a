"""What cashback stores: its documents, their ids and partition keys, and how a model becomes
the document written (what citizens send and are returned is in :mod:`shared.cashback.models`).

A citizen's id is the SHA-256 of their fiscal code
(:func:`~shared.auth.fiscal_code.fiscal_code_hash`): it is the partition key of all the
citizen's documents. The wallet names citizens by a pseudonymous user id instead; the link
from one to the other is :mod:`shared.cashback.wallet_users`' ``walletUser`` document
(``pk`` = the user id).

The documents (container ``CASHBACK_CONTAINER``, partition key ``/pk``)::

    citizen     id "citizen",          pk = citizen id   enrollment (one per citizen)
    instrument  id "instrument:<hpan>", pk = citizen id  one instrument of the citizen, by hpan:
                                                         its activation history survives a
                                                         wallet replacement
    hpan        id <hpan>,             pk "hpan:<hpan>"  who has the instrument enabled now,
                                                         who ever had it, and what scoring
                                                         needs of each of them
    period      id "period:<id>",      pk = citizen id   the citizen's state in a period:
                                                         counters, milestones (constant size)
    match       id "match:<key hash>", pk = citizen id   one match key's payments left to
                                                         reverse, reversals waiting, and the
                                                         transactions applied, across periods
                                                         (reversals)
    transaction id "trx:<period>:<id>", pk = citizen id  the listing: what each scored
                                                         transaction changed
    ranking     id = pk = "ranking:<period>:<2 hex>"     the last ranking's ranks of the
                                                         citizens whose id starts so
    award       id "award:<period>:<key>", pk = citizen  a payout record and its transfer's
                                                         outcome (shared.cashback.awards)
    token       id <token hpan>, pk "token:<hpan>"       the card a token stands for
                                                         (shared.cashback.tokens)
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.cashback import rules
from shared.cashback.models import (
    AccountHolder,
    CashbackStatus,
    CitizenStatus,
    IbanStatus,
    WalletStatus,
)

CITIZEN_DOCUMENT_ID = "citizen"  # the id of a citizen's enrollment in their partition
# What the citizen endpoints read of a partition (not the period states, match documents and
# listing records a heavy user has thousands of).
PROFILE_KINDS = ("citizen", "instrument")


def instrument_id(hpan: str) -> str:
    return f"instrument:{hpan}"


def hpan_pk(hpan: str) -> str:
    return f"hpan:{hpan}"


def period_id(period: int) -> str:
    return f"period:{period}"


RANK_BUCKETS = 256  # rankings are stored in buckets by the first two hex digits of citizen ids


def rank_bucket_pk(period: int, citizen_id: str) -> str:
    """The partition (and id) of the ranking bucket holding ``citizen_id``'s rank."""
    return f"ranking:{period}:{citizen_id[:2]}"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Span(_Model):
    """One span during which the instrument was enabled (``disabledAt`` None: still is)."""

    enabled_at: datetime = Field(alias="enabledAt")
    disabled_at: datetime | None = Field(default=None, alias="disabledAt")


class StoredPayoff(_Model):
    """A usable payout account: the IBAN, its owner's name, holder and the bank's answer."""

    iban: str
    owner: str | None = None
    status: IbanStatus
    account_holder: AccountHolder | None = Field(default=None, alias="accountHolder")


class StoredCitizen(_Model):
    id: str = CITIZEN_DOCUMENT_ID
    pk: str
    kind: Literal["citizen"] = "citizen"
    fiscal_code: str = Field(alias="fiscalCode")
    status: CitizenStatus
    terms_accepted_at: datetime = Field(alias="termsAcceptedAt")
    enrolled_at: datetime = Field(alias="enrolledAt")
    withdrawn_at: datetime | None = Field(default=None, alias="withdrawnAt")
    hpans_behind: bool = Field(
        default=False,
        alias="hpansBehind",
        description="enrolled again: the hpans' documents may still carry the previous T&C "
        "time until they are updated",
    )
    iban: str | None = None
    iban_owner: str | None = Field(default=None, alias="ibanOwner")
    iban_status: IbanStatus | None = Field(default=None, alias="ibanStatus")
    iban_request: str | None = Field(
        default=None, alias="ibanRequest", description="The check in progress or last done"
    )
    iban_checked_at: datetime | None = Field(default=None, alias="ibanCheckedAt")
    account_holder: AccountHolder | None = Field(default=None, alias="accountHolder")
    iban_before: StoredPayoff | None = Field(
        default=None,
        alias="ibanBefore",
        description="The usable IBAN the pending one replaces: it comes back if the bank "
        "refuses the new one",
    )
    iban_refused: str | None = Field(default=None, alias="ibanRefused")
    iban_refused_at: datetime | None = Field(default=None, alias="ibanRefusedAt")
    alerts_off: list[str] = Field(
        default_factory=list,
        alias="alertsOff",
        description="The kinds of cashback notifications the citizen turned off",
    )
    outbox: list[dict[str, Any]] = Field(default_factory=list)
    updated_at: datetime = Field(alias="updatedAt")


class StoredInstrument(_Model):
    id: str
    pk: str
    kind: Literal["instrument"] = "instrument"
    hpan: str
    wallet_id: str = Field(alias="walletId")
    type: str
    brand: str | None = None
    wallet_status: WalletStatus = Field(alias="walletStatus")
    wallet_event_at: datetime = Field(alias="walletEventAt")
    status: CashbackStatus = "DISABLED"
    history: list[Span] = Field(default_factory=list)
    updated_at: datetime = Field(alias="updatedAt")


class StoredHolder(_Model):
    """What scoring needs of one citizen who enabled an hpan, kept on the hpan's document so
    the scorer reads that one document: the citizen's activation spans of the instrument (the
    same as their instrument's ``history``) and their enrollment's T&C time and fiscal code."""

    fiscal_code: str = Field(alias="fiscalCode")
    terms_accepted_at: datetime = Field(alias="termsAcceptedAt")
    history: list[Span] = Field(default_factory=list)


class StoredHpan(_Model):
    id: str
    pk: str
    kind: Literal["hpan"] = "hpan"
    active: str | None = Field(default=None, description="the citizen id of who enabled it")
    citizens: list[str] = Field(
        default_factory=list,
        description="everyone who ever enabled it (transactions that arrive late still find them)",
    )
    holders: dict[str, StoredHolder] = Field(
        default_factory=dict,
        description="by citizen id, what scoring needs of each citizen who enabled it",
    )
    updated_at: datetime = Field(alias="updatedAt")


class StoredTransaction(_Model):
    id: str
    hpan: str
    operation: rules.OperationType
    amount: int
    at: datetime
    acquirer_id: str = Field(alias="acquirerId")
    acquirer_code: str = Field(alias="acquirerCode")
    merchant_id: str = Field(alias="merchantId")
    terminal_id: str = Field(alias="terminalId")
    correlation_id: str | None = Field(default=None, alias="correlationId")

    @classmethod
    def of(cls, txn: rules.Transaction) -> StoredTransaction:
        return cls.model_validate(asdict(txn))

    def rule_view(self) -> rules.Transaction:
        return rules.Transaction(**self.model_dump())


class StoredPeriod(_Model):
    """A citizen's :class:`rules.Tally` in one period, and what the ranking orders by: a
    document of constant size, whatever the number of transactions (the matching state is in
    :class:`StoredMatch`)."""

    id: str
    pk: str
    kind: Literal["period"] = "period"
    period: int
    fiscal_code: str | None = Field(default=None, alias="fiscalCode")
    terms_accepted_at: datetime | None = Field(default=None, alias="termsAcceptedAt")
    count: int = 0
    cashback: int = 0
    last_transaction_at: datetime | None = Field(default=None, alias="lastTransactionAt")
    min_reached_by: str | None = Field(default=None, alias="minReachedBy")
    cap_crossed_by: str | None = Field(default=None, alias="capCrossedBy")
    withdrawn_at: datetime | None = Field(
        default=None,
        alias="withdrawnAt",
        description="The citizen withdrew then: everything before was set to zero, and a "
        "ranking computed before it no longer ranks them",
    )
    updated_at: datetime = Field(alias="updatedAt")

    @classmethod
    def empty(cls, citizen_id: str, period: int, now: datetime) -> StoredPeriod:
        return cls(id=period_id(period), pk=citizen_id, period=period, updated_at=now)

    def tally(self) -> rules.Tally:
        return rules.Tally(
            count=self.count,
            cashback=self.cashback,
            last_transaction_at=self.last_transaction_at,
            min_reached_by=self.min_reached_by,
            cap_crossed_by=self.cap_crossed_by,
        )

    def with_tally(
        self,
        tally: rules.Tally,
        *,
        updated_at: datetime,
        fiscal_code: str | None,
        terms_accepted_at: datetime | None,
    ) -> StoredPeriod:
        return self.model_copy(
            update={
                "count": tally.count,
                "cashback": tally.cashback,
                "last_transaction_at": tally.last_transaction_at,
                "min_reached_by": tally.min_reached_by,
                "cap_crossed_by": tally.cap_crossed_by,
                "fiscal_code": fiscal_code or self.fiscal_code,
                "terms_accepted_at": terms_accepted_at or self.terms_accepted_at,
                "updated_at": updated_at,
            }
        )


class StoredPayment(_Model):
    """A payment counted in ``period``: what is left of it for reversals to take back."""

    id: str
    period: int
    at: datetime
    remaining: int


class StoredPending(_Model):
    """A reversal waiting for its payment until ``until``; its listing record is in
    ``period`` meanwhile."""

    txn: StoredTransaction
    until: datetime
    period: int


class StoredMatch(_Model):
    """Reversals' matching state of one match key of a citizen, across periods: the payments
    with something left, the reversals waiting for one (in arrival order), and every applied
    transaction of the key (id -> the period of its listing record: a transaction delivered
    again is not applied again). Fully reversed payments leave; the ids stay."""

    id: str
    pk: str
    kind: Literal["match"] = "match"
    key: list[str]
    payments: list[StoredPayment] = Field(default_factory=list)
    pending: list[StoredPending] = Field(default_factory=list)
    applied: dict[str, int] = Field(default_factory=dict)
    updated_at: datetime = Field(alias="updatedAt")


def match_id(key: rules.MatchKey) -> str:
    """The id of a match key's document (a hash: keys hold free-form acquirer codes)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).hexdigest()
    return f"match:{digest[:40]}"


class StoredTransactionRecord(_Model):
    """A scored transaction as the citizen's listing shows it (written in the batch that
    applies it)."""

    id: str
    pk: str
    kind: Literal["transaction"] = "transaction"
    period: int
    sort_key: str = Field(alias="sortKey", description="fixed-width time | id: newest last")
    at: datetime
    acquirer_id: str = Field(alias="acquirerId")
    acquirer_code: str | None = Field(default=None, alias="acquirerCode")
    id_trx_acquirer: str = Field(alias="idTrxAcquirer")
    operation_type: rules.OperationType = Field(alias="operationType")
    amount: int
    merchant_id: str = Field(alias="merchantId")
    status: Literal["COUNTED", "PENDING", "SET_ASIDE"]
    count: int | None = Field(default=None, description="What it changed: -1, 0 or +1")
    cashback: int | None = Field(default=None, description="What it changed, in cents")
    processed_at: datetime = Field(alias="processedAt")


def transaction_record_id(period: int, txn_id: str) -> str:
    return f"trx:{period}:{txn_id}"


class StoredRanks(_Model):
    """One bucket of a period's ranking: the ranks of the citizens whose pk starts with it."""

    id: str
    pk: str
    kind: Literal["ranking"] = "ranking"
    period: int
    ranks: dict[str, int] = Field(default_factory=dict)
    ranked: int = Field(description="How many citizens the ranking ordered")
    computed_at: datetime = Field(alias="computedAt")


def instruments_in(documents: list[dict[str, Any]]) -> list[StoredInstrument]:
    """The instruments among a partition's ``documents``."""
    return [StoredInstrument.model_validate(d) for d in documents if d.get("kind") == "instrument"]


def dump(model: BaseModel, read: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document to write for ``model``, with the ETag it was read with."""
    document = model.model_dump(mode="json", by_alias=True)
    if read is not None and "_etag" in read:
        document["_etag"] = read["_etag"]
    return document
