"""The cashback's use cases, as other capabilities and the triggers call them: enrollment and
the IBAN, enabling instruments and the wallet's events, and the periods a citizen sees.

The rules' arithmetic lives in :mod:`shared.cashback.rules`; each group of use cases in its own
module (:mod:`~shared.cashback.enrollment`, :mod:`~shared.cashback.instruments`,
:mod:`~shared.cashback.periods`), the hpans' documents they keep in step with the citizens' in
:mod:`~shared.cashback.hpans`. Scoring acquirers' transactions is the scorer's
(:mod:`shared.cashback.scorer`), ranking and payouts are jobs (:mod:`shared.cashback.ranking`,
:mod:`shared.cashback.payouts`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.cashback import rules
from shared.cashback.alerts import Alerts, Notifier
from shared.cashback.awards import (
    AwardList,
    Awards,
    AwardView,
    IntegrationIn,
    OutcomesApplied,
    OutcomesIn,
    award_view,
)
from shared.cashback.bank import BankCheck
from shared.cashback.enrollment import Enrollments, Publisher
from shared.cashback.hpans import Hpans
from shared.cashback.instruments import Instruments
from shared.cashback.models import (
    AlertsIn,
    CashbackInstrument,
    CashbackInstrumentList,
    Citizen,
    IbanIn,
    PeriodList,
    PeriodLoss,
    PeriodState,
    TransactionPage,
    WithdrawalPreview,
)
from shared.cashback.periods import Periods
from shared.cashback.store import CashbackStore
from shared.cashback.tokens import TokenListIn, Tokens, TokensAccepted
from shared.cashback.wallet_users import UserIdOf, WalletUsers
from shared.wallet.models import HeldInstrument

__all__ = ["Cashback", "Publisher", "WalletReader"]


class WalletReader(Protocol):
    """The part of the wallet's service cashback uses (the one edge between the two
    capabilities: only this module reads the wallet). The wallet names citizens by their
    pseudonymous user id (:mod:`shared.cashback.wallet_users`)."""

    async def held(self, user_id: str, wallet_id: str, *, now: datetime) -> HeldInstrument:
        """The user's instrument, with its hpan; NotFound if not theirs."""
        ...


class Cashback:
    """The state cashback, on its ports."""

    def __init__(
        self,
        *,
        store: CashbackStore,
        wallet: WalletReader,
        periods: tuple[rules.Period, ...],
        publisher: Publisher,
        bank: BankCheck,
        iban_queue: str,
        notifier: Notifier | None = None,
        user_ids: UserIdOf,
    ) -> None:
        self.calendar = periods
        self._wallet = wallet
        self._users = WalletUsers(store, user_ids)
        hpans = Hpans(store)
        self._enrollments = Enrollments(
            store=store, hpans=hpans, publisher=publisher, bank=bank, iban_queue=iban_queue
        )
        self._instruments = Instruments(
            store=store, wallet_status=self._wallet_status, hpans=hpans, users=self._users
        )
        self._periods = Periods(store=store, calendar=periods)
        self._tokens = Tokens(store)
        self._alerts = Alerts(store, notifier)
        self._awards = Awards(store, _NoFiles())

    # ------------------------------------------------------------------ enrollment and IBAN
    async def enroll(self, fiscal_code: str, *, now: datetime) -> Citizen:
        """Enroll (accepting T&C now); again: unchanged; after a withdrawal: accepted again.

        The citizen's wallet user id is linked to them, so the wallet's events find them."""
        citizen = await self._enrollments.enroll(fiscal_code, now=now)
        await self._users.link(fiscal_code, now=now)
        return citizen

    async def citizen(self, fiscal_code: str) -> Citizen:
        """The caller's enrollment; NotFound if not enrolled."""
        return await self._enrollments.citizen(fiscal_code)

    async def withdraw(self, fiscal_code: str, *, now: datetime) -> None:
        """Withdraw: every instrument is disabled now, the IBAN cleared, and every period's
        count, cashback and rank set to zero (see :meth:`withdrawal_preview`)."""
        await self._enrollments.withdraw(fiscal_code, self.calendar, now=now)

    async def withdrawal_preview(self, fiscal_code: str, *, now: datetime) -> WithdrawalPreview:
        """What withdrawing would do, before the citizen confirms; NotFound if not enrolled."""
        citizen = await self._enrollments.citizen(fiscal_code)
        instruments = await self._instruments.of_citizen(fiscal_code)
        periods = await self._periods.all(fiscal_code, now=now)
        return WithdrawalPreview(
            instruments_disabled=sum(1 for i in instruments.instruments if i.status == "ENABLED"),
            iban=citizen.iban,
            periods=[
                PeriodLoss(id=p.id, count=p.count, cashback=p.cashback, rank=p.rank)
                for p in periods.periods
            ],
            summary="Withdrawing disables every instrument, clears the IBAN and sets the "
            "count, cashback and rank of every period to zero: nothing earned so far is paid, "
            "and enrolling again starts from zero.",
        )

    async def set_iban(self, fiscal_code: str, request: IbanIn, *, now: datetime) -> Citizen:
        """Record where payouts go; the bank is asked asynchronously (see
        :meth:`~shared.cashback.enrollment.Enrollments.set_iban`)."""
        return await self._enrollments.set_iban(fiscal_code, request, now=now)

    async def on_iban_check(self, body: bytes, *, now: datetime) -> None:
        """A message of ``IBAN_CHECK_QUEUE``: ask the bank, record its answer once."""
        await self._enrollments.on_iban_check(body, now=now)

    # ------------------------------------------------------------------ instruments
    async def instruments(self, fiscal_code: str) -> CashbackInstrumentList:
        """The caller's instruments with their cashback state."""
        return await self._instruments.of_citizen(fiscal_code)

    async def enable(
        self, fiscal_code: str, wallet_id: str, *, now: datetime
    ) -> CashbackInstrument:
        """Enable a validated instrument of the caller's wallet (see
        :meth:`~shared.cashback.instruments.Instruments.enable`)."""
        return await self._instruments.enable(fiscal_code, wallet_id, now=now)

    async def disable(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> None:
        """Disable one of the caller's instruments; disabled already: nothing changes."""
        await self._instruments.disable(fiscal_code, wallet_id, now=now)

    async def on_wallet_event(self, body: bytes, *, now: datetime) -> None:
        """A message of ``WALLET_EVENTS_QUEUE``: cashback learns hpans and follows deletions."""
        await self._instruments.on_wallet_event(body, now=now)

    async def _wallet_status(
        self, fiscal_code: str, wallet_id: str, *, now: datetime
    ) -> HeldInstrument:
        # Linked here too: citizens enrolled before the wallet named them by user id.
        user_id = await self._users.link(fiscal_code, now=now)
        return await self._wallet.held(user_id, wallet_id, now=now)

    async def choose_alerts(self, fiscal_code: str, choice: AlertsIn, *, now: datetime) -> AlertsIn:
        """Which of cashback's notifications the citizen wants; NotFound if not enrolled."""
        return await self._alerts.choose(fiscal_code, choice, now=now)

    # ------------------------------------------------------------------ payout records
    async def awards(self, fiscal_code: str) -> AwardList:
        """The caller's payout records: amount, status, the transfer's outcome and CRO."""
        return AwardList(awards=[award_view(a) for a in await self._awards.of_citizen(fiscal_code)])

    async def integrate(self, request: IntegrationIn, *, now: datetime) -> AwardView:
        """An operator's integrative payment, sent in the next payout run's file."""
        return award_view(await self._awards.integrate(request, now=now))

    async def payout_outcomes(self, request: OutcomesIn, *, now: datetime) -> OutcomesApplied:
        """The paying agent's outcomes file: each transfer's result, reason and CRO; the
        citizens whose transfer was made are told (``PAYOUT_DONE``)."""
        applied, paid = await self._awards.apply_outcomes(request.name, request.csv, now=now)
        for period in sorted({a.period for a in paid}):
            await self._alerts.payout_done(
                period,
                [(a.pk, a.fiscal_code, a.amount) for a in paid if a.period == period],
                now=now,
            )
        return applied

    # ------------------------------------------------------------------ token cards
    async def submit_tokens(
        self, party_id: str, tokens: TokenListIn, *, now: datetime
    ) -> TokensAccepted:
        """Store token hpan -> card hpan pairs (Apple Pay, Google Pay): the scorer counts a
        token's transactions as its card's (see :mod:`shared.cashback.tokens`)."""
        return await self._tokens.submit(party_id, tokens, now=now)

    # ------------------------------------------------------------------ periods
    async def periods(self, fiscal_code: str, *, now: datetime) -> PeriodList:
        """The calendar, newest first, with the caller's state and rank in each period."""
        return await self._periods.all(fiscal_code, now=now)

    async def period(self, fiscal_code: str, period: str, *, now: datetime) -> PeriodState:
        """One period with the caller's state and rank; NotFound if there is no such period."""
        return await self._periods.one(fiscal_code, period, now=now)

    async def transactions(
        self, fiscal_code: str, period: str, *, continuation: str | None = None
    ) -> TransactionPage:
        """The caller's scored transactions in ``period``, newest first, a page at a time."""
        return await self._periods.transactions(fiscal_code, period, continuation=continuation)


class _NoFiles:
    """The service reads and writes payout records, never the paying agent's files (the
    payout job does)."""

    async def write_once(self, name: str, data: bytes) -> bool:
        raise RuntimeError("the service writes no payout files")

    async def read(self, name: str) -> bytes | None:
        raise RuntimeError("the service reads no payout files")

    async def write(self, name: str, data: bytes) -> None:
        raise RuntimeError("the service writes no payout files")
