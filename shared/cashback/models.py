"""What cashback's citizens send and are returned, the IBAN check's message, and the wallet's
events as cashback reads them (what cashback stores is in :mod:`shared.cashback.documents`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.cashback import rules
from shared.platform.pan import NoPanText
from shared.platform.values import BoundedDateTime, SafeText

CitizenStatus = Literal["ENROLLED", "WITHDRAWN"]
IbanStatus = Literal["PENDING", "OK", "KO", "UNKNOWN_PSP"]
CashbackStatus = Literal["ENABLED", "DISABLED"]
WalletStatus = Literal["VALIDATED", "DELETED"]
WalletEventType = Literal[
    "InstrumentValidated", "InstrumentReplaced", "InstrumentDeleted", "ApplicationChanged"
]

HPAN = r"^[0-9a-f]{64}$"


def _a_boolean(value: object) -> object:
    # Literal[True] alone takes 1 and 1.0 too: they equal True
    if not isinstance(value, bool):
        raise ValueError("must be true (a boolean)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# ------------------------------------------------------------------ citizens' requests


class EnrollmentIn(BaseModel):
    """Enrollment: the citizen accepts the programme's terms and conditions."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    terms_accepted: Annotated[Literal[True], BeforeValidator(_a_boolean)] = Field(
        alias="termsAndConditionsAccepted",
        description="Must be true: enrolling is accepting the terms and conditions",
    )


class IbanIn(BaseModel):
    """Where the citizen's cashback is paid: an Italian IBAN and its holder's name."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    iban: SafeText = Field(min_length=1, max_length=40, description="Spaces allowed")
    owner_name: NoPanText = Field(alias="ownerName", min_length=1, max_length=140)


# ------------------------------------------------------------------ returned


class Citizen(_Model):
    """The caller's enrollment."""

    status: CitizenStatus
    terms_accepted_at: datetime = Field(alias="termsAcceptedAt")
    enrolled_at: datetime = Field(alias="enrolledAt")
    withdrawn_at: datetime | None = Field(default=None, alias="withdrawnAt")
    iban: str | None = Field(default=None, description="Masked: only its last 4 characters")
    iban_owner_name: str | None = Field(default=None, alias="ibanOwnerName")
    iban_status: IbanStatus | None = Field(
        default=None,
        alias="ibanStatus",
        description="PENDING while the bank is asked; OK, KO (not the citizen's) or "
        "UNKNOWN_PSP (the bank cannot be asked)",
    )


class Activation(_Model):
    enabled_at: datetime = Field(alias="enabledAt")
    disabled_at: datetime | None = Field(default=None, alias="disabledAt")
    counts_from: date = Field(
        alias="countsFrom", description="First day (Europe/Rome) whose transactions count"
    )


class CashbackInstrument(_Model):
    """One of the caller's instruments with its cashback state."""

    wallet_id: str = Field(alias="walletId")
    type: str
    brand: str | None = None
    wallet_status: WalletStatus = Field(alias="walletStatus")
    status: CashbackStatus
    activated_at: datetime | None = Field(
        default=None, alias="activatedAt", description="When the current activation began"
    )
    counts_from: date | None = Field(
        default=None,
        alias="countsFrom",
        description="First day (Europe/Rome) whose transactions count, while enabled",
    )
    history: list[Activation]


class CashbackInstrumentList(_Model):
    instruments: list[CashbackInstrument]


class Milestones(_Model):
    min_reached_by: str | None = Field(
        default=None,
        alias="minReachedBy",
        description="acquirerId:idTrxAcquirer of the transaction that reached the minimum count",
    )
    cap_crossed_by: str | None = Field(
        default=None,
        alias="capCrossedBy",
        description="acquirerId:idTrxAcquirer of the transaction that crossed the period cap",
    )


class PeriodState(_Model):
    """An award period and the caller's state in it (money in euro cents)."""

    id: int
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    status: rules.PeriodStatus
    last_processing_day: date = Field(
        alias="lastProcessingDay", description="Transactions arriving later are rejected"
    )
    min_transactions: int = Field(alias="minTransactions")
    cashback_percent: int = Field(alias="cashbackPercent")
    max_per_transaction: int = Field(alias="maxPerTransaction")
    max_per_period: int = Field(alias="maxPerPeriod")
    super_cashback: int = Field(alias="superCashback")
    top_n: int = Field(alias="topN")
    grace_days: int = Field(alias="graceDays")
    count: int
    cashback: int = Field(description="Scored so far (may exceed the cap)")
    min_reached: bool = Field(alias="minReached")
    cap_reached: bool = Field(alias="capReached")
    last_transaction_at: datetime | None = Field(default=None, alias="lastTransactionAt")
    milestones: Milestones
    rank: int | None = Field(
        default=None, description="Position in the last ranking (the ranking rule), if ranked"
    )
    in_top_n: bool = Field(
        default=False, alias="inTopN", description="Within the top N of the last ranking"
    )
    ranked_at: datetime | None = Field(
        default=None, alias="rankedAt", description="When the ranking was last computed"
    )


class ScoredTransaction(_Model):
    """One of the caller's transactions in a period, as scored."""

    at: datetime
    acquirer_id: str = Field(alias="acquirerId")
    id_trx_acquirer: str = Field(alias="idTrxAcquirer")
    operation_type: rules.OperationType = Field(alias="operationType")
    amount: int
    merchant_id: str = Field(alias="merchantId")
    status: Literal["COUNTED", "PENDING"] = Field(
        description="PENDING: a reversal waiting for its payment"
    )
    count: int | None = Field(default=None, description="-1, 0 or +1 (null: not recorded)")
    cashback: int | None = Field(default=None, description="Cents (null: not recorded)")


class TransactionPage(_Model):
    transactions: list[ScoredTransaction]
    continuation_token: str | None = Field(
        default=None, alias="continuationToken", description="Pass it back for the next page"
    )


class PeriodList(_Model):
    periods: list[PeriodState]


class IbanCheckRequest(_Model):
    """The message on ``IBAN_CHECK_QUEUE`` (through the citizen document's outbox)."""

    request_id: SafeText = Field(alias="requestId")
    citizen_id: SafeText = Field(alias="citizenId")
    fiscal_code: SafeText = Field(alias="fiscalCode")
    iban: SafeText
    owner_name: SafeText = Field(alias="ownerName")


# ------------------------------------------------------------------ the wallet's events


class WalletEventData(_Model):
    """What every wallet event carries (see shared/wallet/service.py)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    wallet_id: SafeText = Field(alias="walletId", min_length=1)
    user_id: SafeText = Field(
        alias="userId", pattern=r"^[0-9a-f]{64}$", description="The wallet's pseudonymous user id"
    )
    hpan: SafeText = Field(pattern=HPAN)
    type: SafeText
    brand: SafeText | None = None
    old_wallet_id: SafeText | None = Field(default=None, alias="oldWalletId")


class WalletEvent(_Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: SafeText
    type: WalletEventType
    created_at: BoundedDateTime = Field(alias="createdAt")
    data: WalletEventData
