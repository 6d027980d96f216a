"""Citizens told: the period is closing, "add your IBAN" when their cashback is withheld for
want of one, and their payout was transferred (the paying agent's outcome); through the push
capability's service, service to service, as the sender ``cashback`` (the composition root
wires :class:`Notifier` to it).

Each kind can be turned off by the citizen (``PUT /v1/cashback/citizen/alerts``); the choice
lives on their enrollment document. Every notification carries a business key
(``cashback:<kind>:<period>:<citizen>``) that push uses as its ``notificationId``, so a job
that runs again after dying midway does not notify twice within the broker's window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from shared.auth.fiscal_code import fiscal_code_hash
from shared.cashback import rules
from shared.cashback.documents import CITIZEN_DOCUMENT_ID, StoredCitizen, dump
from shared.cashback.models import KINDS, AlertKind, AlertsIn
from shared.cashback.store import CashbackStore, StaleDocument, retrying
from shared.platform.errors import ConfigurationError, DependencyError, DomainError, NotFound

logger = logging.getLogger(__name__)

__all__ = ["KINDS", "AlertKind", "Alerts", "AlertsIn", "Notifier"]
CLOSING_NOTICE = timedelta(days=3)  # how long before a period's last day citizens are told
_SENDERS = 16


class Notifier(Protocol):
    """The push capability's notification service, as cashback uses it (sender ``cashback``)."""

    async def notify(
        self,
        fiscal_code: str,
        *,
        title: str,
        body: str,
        data: dict[str, str],
        key: str,
        now: datetime,
    ) -> None:
        """Notify one citizen; ``key`` is the business key (a repeat is dropped)."""
        ...


def _euros(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d} €"


class Alerts:
    """Decides who is told what, honours each citizen's opt-outs, and sends through push."""

    def __init__(self, store: CashbackStore, notifier: Notifier | None = None) -> None:
        self._store = store
        self._notifier = notifier  # None: choices are recorded, nothing is sent

    async def choose(self, fiscal_code: str, choice: AlertsIn, *, now: datetime) -> AlertsIn:
        """Record which kinds the citizen wants; NotFound if not enrolled."""
        citizen_id = fiscal_code_hash(fiscal_code)
        await retrying(partial(self._choose_once, citizen_id, choice.off(), now))
        return AlertsIn.of(choice.off())

    async def _choose_once(self, citizen_id: str, off: list[AlertKind], now: datetime) -> None:
        raw = await self._store.get(citizen_id, CITIZEN_DOCUMENT_ID)
        if raw is None:
            raise NotFound("not enrolled in cashback")
        item = StoredCitizen.model_validate(raw)
        if item.alerts_off != off:
            item = item.model_copy(update={"alerts_off": off, "updated_at": now})
            await self._store.replace(dump(item, raw))

    async def period_closing(self, periods: Iterable[rules.Period], *, now: datetime) -> int:
        """Tell every citizen with transactions in a period that it ends within
        :data:`CLOSING_NOTICE`, once per period (a record says it was done); how many were
        told."""
        told = 0
        for period in periods:
            last = rules.last_processing_day(period) - timedelta(days=period.grace_days)
            today = rules.rome_day(now)
            if not (last - CLOSING_NOTICE <= today <= last) or self._notifier is None:
                continue
            done = f"alerts:{period.id}:PERIOD_CLOSING"
            if await self._store.get(done, done) is not None:
                continue  # told in an earlier run (the timer is hourly)
            rows = await self._store.standings(period.id)
            told += await self._send_all(
                [(r["pk"], r.get("fiscalCode")) for r in rows],
                "PERIOD_CLOSING",
                period.id,
                title="Cashback: the period is closing",
                body=f"Period {period.id} ends on {last.isoformat()}: pay by card until then "
                f"to reach {period.min_transactions} transactions.",
                now=now,
            )
            # A run that dies before this tells them again (push drops a repeat key within
            # its duplicate window).
            with contextlib.suppress(StaleDocument):
                await self._store.create(
                    {"id": done, "pk": done, "kind": "alerts", "sentAt": now.isoformat()}
                )
        return told

    async def add_iban(
        self, period: int, citizens: Iterable[tuple[str, str, int]], *, now: datetime
    ) -> int:
        """Tell citizens whose payout of ``period`` is withheld for want of an IBAN
        ((citizen id, fiscal code, cents)) to add one."""
        sent = 0
        for citizen_id, fiscal_code, amount in citizens:
            sent += await self._send_all(
                [(citizen_id, fiscal_code)],
                "ADD_IBAN",
                period,
                title="Cashback: add your IBAN",
                body=f"{_euros(amount)} of cashback for period {period} wait for an IBAN to "
                "be paid to.",
                now=now,
            )
        return sent

    async def payout_done(
        self, period: int, citizens: Iterable[tuple[str, str, int]], *, now: datetime
    ) -> int:
        """Tell citizens their payout of ``period`` was made ((citizen id, fiscal code,
        cents))."""
        sent = 0
        for citizen_id, fiscal_code, amount in citizens:
            sent += await self._send_all(
                [(citizen_id, fiscal_code)],
                "PAYOUT_DONE",
                period,
                title="Cashback: paid",
                body=f"{_euros(amount)} of cashback for period {period} were transferred to "
                "your IBAN.",
                now=now,
            )
        return sent

    async def _send_all(
        self,
        recipients: list[tuple[str, str | None]],
        kind: AlertKind,
        period: int,
        *,
        title: str,
        body: str,
        now: datetime,
    ) -> int:
        limit = asyncio.Semaphore(_SENDERS)
        notifier = self._notifier
        if notifier is None:
            return 0

        async def one(citizen_id: str, fiscal_code: str | None) -> int:
            async with limit:
                raw = await self._store.get(citizen_id, CITIZEN_DOCUMENT_ID)
                if raw is None or raw.get("status") != "ENROLLED":
                    return 0
                item = StoredCitizen.model_validate(raw)
                if kind in item.alerts_off:
                    return 0
                key = f"cashback:{kind}:{period}:{citizen_id[:24]}"
                try:
                    await notifier.notify(
                        fiscal_code or item.fiscal_code,
                        title=title,
                        body=body,
                        data={"kind": kind, "period": str(period)},
                        key=key,
                        now=now,
                    )
                except (DependencyError, DomainError, ConfigurationError) as error:
                    # A notice is not worth failing a payout run: the next run tells them.
                    logger.warning("cashback %s for %s not sent: %s", kind, citizen_id[:12], error)
                    return 0
                return 1

        return sum(await asyncio.gather(*(one(c, f) for c, f in recipients)))
