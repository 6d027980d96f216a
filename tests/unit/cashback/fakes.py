"""Cashback on in-memory ports beside a real wallet on its fakes (no I/O), shared by the unit
and functions tiers: the wallet's events reach cashback when a test says so."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from shared.cashback.alerts import Notifier
from shared.cashback.bank import CheckResult
from shared.cashback.rules import PRODUCTION_PERIODS, Period
from shared.cashback.service import Cashback
from shared.cashback.store import CashbackStore, Document, StaleDocument
from shared.platform.errors import DependencyError
from shared.platform.outbox import pending
from tests.fakes.cashback import MemoryCashbackStore
from tests.fakes.platform import MemorySender
from tests.unit.wallet.fakes import QUEUE, World

HPAN_A = "a" * 64
HPAN_B = "b" * 64
IBAN_QUEUE = "iban-check"


class MemoryOutbox:
    """The outbox publisher on a cashback store: send, then clear with the ETag."""

    def __init__(self, store: CashbackStore, sender: MemorySender) -> None:
        self.store = store
        self.sender = sender

    async def publish(self, document: Document) -> bool:
        try:
            for event in pending(document):
                await self.sender.send(event.queue, [event.outgoing()])
        except DependencyError:
            return False
        with contextlib.suppress(StaleDocument):
            await self.store.replace({**document, "outbox": []})
        return True


class FakeBank:
    """The bank-check service: accounts by IBAN -> fiscal code; others are UNKNOWN_PSP."""

    def __init__(self) -> None:
        self.accounts: dict[str, str] = {}
        self.asked: list[str] = []
        self.down = False

    async def check(self, *, iban: str, fiscal_code: str, owner_name: str) -> CheckResult:
        self.asked.append(iban)
        if self.down:
            raise DependencyError("bank-check", "unreachable", retry_after=30.0)
        if iban not in self.accounts:
            return "UNKNOWN_PSP"
        return "OK" if self.accounts[iban] == fiscal_code else "KO"


class Scene:
    """A wallet (on its fakes) and cashback (on a memory store) sharing one clock."""

    def __init__(self, *, now: datetime, periods: tuple[Period, ...] = PRODUCTION_PERIODS) -> None:
        self.world = World(now=now)
        self.store: CashbackStore = MemoryCashbackStore()
        self.sender = MemorySender()
        self.bank = FakeBank()
        self.cashback = self.build(self.store, periods)
        self._delivered = 0
        self._renewals: dict[tuple[str, str], int] = {}

    def build(
        self, store: CashbackStore, periods: tuple[Period, ...], notifier: Notifier | None = None
    ) -> Cashback:
        """Cashback on ``store``, beside this scene's wallet, outbox and bank (and push, as
        ``notifier``)."""
        return Cashback(
            notifier=notifier,
            store=store,
            wallet=self.world.wallet,
            periods=periods,
            publisher=MemoryOutbox(store, self.sender),
            bank=self.bank,
            iban_queue=IBAN_QUEUE,
            user_ids=self.world.user_ids,
        )

    def iban_checks(self) -> list[bytes]:
        return [m.body for queue, m in self.sender.sent if queue == IBAN_QUEUE]

    @property
    def now(self) -> datetime:
        return self.world.now

    def advance(self, **delta: float) -> None:
        self.world.clock.set(self.world.now + timedelta(**delta))

    async def onboard(self, cf: str, hpan: str = HPAN_A, *, deliver: bool = True) -> str:
        """A validated card in ``cf``'s wallet; its events reach cashback unless told not.

        The same ``hpan`` again is the same card renewed (a later expiry): a replacement."""
        renewals = self._renewals[(cf, hpan)] = self._renewals.get((cf, hpan), -1) + 1
        wallet_id = await self.world.validated(
            cf, card_id=f"gw-{hpan[:16]}", hpan=hpan, expiry=f"{2030 + renewals}12"
        )
        if deliver:
            await self.deliver()
        return wallet_id

    def pending_events(self) -> list[bytes]:
        return [m.body for queue, m in self.world.sender.sent[self._delivered :] if queue == QUEUE]

    async def deliver(self) -> int:
        """Hand cashback every wallet event not handed yet, in order; how many."""
        events = self.pending_events()
        self._delivered = len(self.world.sender.sent)
        for body in events:
            await self.cashback.on_wallet_event(body, now=self.now)
        return len(events)
