"""What cashback's citizens send and are returned, the IBAN check's message, and the wallet's
events as cashback reads them (what cashback stores is in :mod:`shared.cashback.documents`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.cashback import rules
from shared.platform.pan import NoPanText
from shared.platform.values import BoundedDateTime, SafeText

CitizenStatus = Literal["ENROLLED", "WITHDRAWN"]
IbanStatus = Literal["PENDING", "OK", "KO", "UNKNOWN_PSP"]
USABLE: tuple[IbanStatus, ...] = ("OK", "UNKNOWN_PSP")
"""The bank's answers under which an IBAN is kept and paid (pagoPA saved an IBAN whose bank
could not be asked, UNKNOWN_PSP, and refused only KO)."""
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
    account_holder_fiscal_code: SafeText | None = Field(
        default=None,
        alias="accountHolderFiscalCode",
        pattern=r"^[A-Z0-9]{11,16}$",
        description="The account holder's fiscal code when the citizen is a co-holder of an "
        "account held by another person (default: the citizen's)",
    )
    account_holder_name: NoPanText | None = Field(
        default=None, alias="accountHolderName", min_length=1, max_length=70
    )
    account_holder_surname: NoPanText | None = Field(
        default=None, alias="accountHolderSurname", min_length=1, max_length=70
    )
    technical_account_holder: NoPanText | None = Field(
        default=None,
        alias="technicalAccountHolder",
        min_length=1,
        max_length=140,
        description="The institution holding the account on the citizen's behalf, if any "
        "(a payment institution's technical account)",
    )


class AccountHolder(_Model):
    """Who holds the payout account, when it is not (only) the citizen."""

    fiscal_code: str | None = Field(default=None, alias="fiscalCode")
    name: str | None = None
    surname: str | None = None
    technical: str | None = Field(default=None, alias="technicalAccountHolder")


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
        description="PENDING while the bank is asked; OK, or UNKNOWN_PSP (the bank cannot "
        "be asked: the IBAN is kept and used, as pagoPA did). A KO answer refuses the IBAN: "
        "the one before it (if any) stays, and ibanRefused says so",
    )
    account_holder: AccountHolder | None = Field(default=None, alias="accountHolder")
    iban_refused: str | None = Field(
        default=None,
        alias="ibanRefused",
        description="The last IBAN the bank said is not the citizen's (masked)",
    )
    iban_refused_at: datetime | None = Field(default=None, alias="ibanRefusedAt")
    alerts: AlertsIn | None = Field(
        default=None, description="Which of cashback's notifications the citizen gets"
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
        description="The transaction that reached the minimum count: "
        "acquirerId:idTrxAcquirer:acquirerCode:operationType:UTC time",
    )
    cap_crossed_by: str | None = Field(
        default=None,
        alias="capCrossedBy",
        description="The transaction that crossed the period cap (the same form)",
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
    last_transaction_at: datetime | None = Field(
        default=None,
        alias="lastTransactionAt",
        description="The last payment's time (reversals do not move it): the ranking's tie-break",
    )
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
    acquirer_code: str | None = Field(default=None, alias="acquirerCode")
    id_trx_acquirer: str = Field(alias="idTrxAcquirer")
    operation_type: rules.OperationType = Field(alias="operationType")
    amount: int
    merchant_id: str = Field(alias="merchantId")
    status: Literal["COUNTED", "PENDING", "SET_ASIDE"] = Field(
        description="PENDING: a reversal waiting for its payment; SET_ASIDE: a reversal of "
        "more than was left of its payment, which changed nothing"
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


# ------------------------------------------------------------------ withdrawal


class PeriodLoss(_Model):
    """What withdrawing sets to zero in one period."""

    id: int
    count: int
    cashback: int = Field(description="Cents scored so far in the period, set to zero")
    rank: int | None = None


class WithdrawalPreview(_Model):
    """What withdrawing would do, for the citizen to read before they confirm (``DELETE
    /citizen``): the same as pagoPA's citizen service did."""

    instruments_disabled: int = Field(
        alias="instrumentsDisabled", description="Instruments enabled now, all disabled"
    )
    iban: str | None = Field(default=None, description="Cleared (masked here)")
    periods: list[PeriodLoss] = Field(
        description="In every period the count, cashback and rank are set to zero, and "
        "transactions made before the withdrawal never count (also if they arrive later)"
    )
    summary: str


# ------------------------------------------------------------------ notifications

AlertKind = Literal["PERIOD_CLOSING", "ADD_IBAN", "PAYOUT_DONE"]
KINDS: tuple[AlertKind, ...] = ("PERIOD_CLOSING", "ADD_IBAN", "PAYOUT_DONE")


class AlertsIn(BaseModel):
    """Which of cashback's notifications the citizen wants (all, unless turned off)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    period_closing: bool = Field(default=True, alias="periodClosing")
    add_iban: bool = Field(default=True, alias="addIban")
    payout_done: bool = Field(default=True, alias="payoutDone")

    def off(self) -> list[AlertKind]:
        chosen = zip(KINDS, (self.period_closing, self.add_iban, self.payout_done), strict=True)
        return [kind for kind, on in chosen if not on]

    @classmethod
    def of(cls, off: Sequence[str]) -> AlertsIn:
        gone = set(off)
        return cls(
            period_closing="PERIOD_CLOSING" not in gone,
            add_iban="ADD_IBAN" not in gone,
            payout_done="PAYOUT_DONE" not in gone,
        )
