"""In-memory ports of the wallet service (no I/O), shared by the unit and functions tiers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.auth.fiscal_code import check_character
from shared.auth.secrets import LocalSecrets
from shared.auth.user_ids import SECRET_NAME as USER_ID_SECRET
from shared.auth.user_ids import UserIds, user_id
from shared.platform.clock import FixedClock
from shared.platform.errors import Conflict, DependencyError
from shared.platform.messaging import Outgoing
from shared.platform.outbox import Event, pending
from shared.wallet.core import WalletPolicy
from shared.wallet.models import GatewayNotification, NewSession, NewWallet, NotificationAck
from shared.wallet.psp import CardData, GatewaySession
from shared.wallet.reference import SECRET_NAME, WalletIds
from shared.wallet.service import Wallet
from shared.wallet.store import Document, StaleDocument
from tests.fakes.platform import MemorySender
from tests.fakes.wallet import MemoryWalletStore

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
PSP = "DEMOPSP"
QUEUE = "wallet-events"
NOTIFY_URL = "http://localhost/api/v1/wallets"
_OPERATIONS = itertools.count(1)
REFERENCE_KEY = "unit-test-wallet-reference-key-0123456789"
USER_ID_KEY = "unit-test-wallet-user-id-key-0123456789"


def uid(cf: str) -> str:
    """``cf``'s user id in these tests."""
    return user_id(USER_ID_KEY, cf)


def wallet_ids(value: str = REFERENCE_KEY) -> WalletIds:
    return WalletIds(LocalSecrets({SECRET_NAME: value}))


def fiscal_code(n: int) -> str:
    """A valid fiscal code per ``n`` (0-999)."""
    first15 = f"RSSMRA85T10A{n:03d}"
    return first15 + check_character(first15)


CF = fiscal_code(562)
OTHER_CF = fiscal_code(563)


CARD_METHOD = "3ebea7a1-2e77-4a1b-ac1b-3aca0d67f813"
PAYPAL_METHOD = "1c12349f-8133-42f3-ad96-7e6527d27a41"


@dataclass
class FakeOrder:
    wallet_id: str
    order_id: str
    session_id: str
    token: str
    notification_url: str
    contract_id: str
    card: CardData | None = None


@dataclass
class FakePsp:
    """The gateway: orders by orderId; a test types a card with :meth:`type_card`."""

    orders: dict[str, FakeOrder] = field(default_factory=dict)
    down: bool = False
    calls: int = 0

    async def build_order(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        order_id: str,
        contract_id: str,
        return_url: str,
        notification_url: str,
        notification_token: str,
    ) -> GatewaySession:
        await asyncio.sleep(0)  # a network call: other tasks run meanwhile
        self.calls += 1
        if self.down:
            raise DependencyError("psp", "unreachable")
        session_id = f"sess-{len(self.orders) + 1}"
        self.orders[order_id] = FakeOrder(
            wallet_id, order_id, session_id, notification_token, notification_url, contract_id
        )
        return GatewaySession(session_id, f"https://psp.example/hosted/{session_id}")

    async def confirm_card(self, *, psp_id: str, order_id: str, session_id: str) -> CardData:
        await asyncio.sleep(0)
        self.calls += 1
        if self.down:
            raise DependencyError("psp", "unreachable")
        order = self.orders[order_id]
        assert order.session_id == session_id
        if order.card is None:
            raise Conflict("the card has not been entered on the gateway's page yet")
        return order.card

    def type_card(self, wallet_id: str, *, expiry: str = "203012", last4: str = "4242") -> None:
        order = self.order_of(wallet_id)
        order.card = CardData(
            "424242", last4, expiry, "VISA", f"https://psp.example/3ds/{order.session_id}"
        )

    def order_of(self, wallet_id: str) -> FakeOrder:
        return next(o for o in self.orders.values() if o.wallet_id == wallet_id)


class BrokerSender(MemorySender):
    """A memory sender that drops a re-sent message id, as the broker's duplicate detection
    does (the outbox re-sends events a request left for the sweep); ``dropped`` keeps them."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped: list[tuple[str, Outgoing]] = []

    async def send(self, queue: str, messages: Sequence[Outgoing]) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.deliver(queue, messages)

    def deliver(self, queue: str, messages: Sequence[Outgoing]) -> None:
        seen = {(q, m.message_id) for q, m in self.sent}
        fresh = [m for m in messages if (queue, m.message_id) not in seen]
        self.dropped.extend((queue, m) for m in messages if m not in fresh)
        self.sent.extend((queue, m) for m in fresh)


class MemoryPublisher:
    """The outbox publisher on the memory store: send, then clear with the ETag (now, or when
    the test calls :meth:`sweep`)."""

    def __init__(self, store: MemoryWalletStore, sender: BrokerSender) -> None:
        self.store = store
        self.sender = sender

    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        """Sent at once (a memory send waits for nothing); with the sender failing, they wait
        for the sweep, as after a failed flush."""
        events = list(only) if only is not None else pending(document)
        if self.sender.fail_with is None:
            for event in events:
                self.sender.deliver(event.queue, [event.outgoing()])

    async def publish(
        self, document: Document, *, clear_now: bool = True, only: Collection[Event] | None = None
    ) -> bool:
        ids = None if only is None else {e.id for e in only}
        events = [e for e in pending(document) if ids is None or e.id in ids]
        try:
            for event in events:
                await self.sender.send(event.queue, [event.outgoing()])
        except DependencyError:
            return False
        if not clear_now:
            return True
        cleared = {**document, "outbox": []}
        with contextlib.suppress(StaleDocument):
            await self.store.replace(cleared)
        return True

    async def sweep(self) -> int:
        """What the outbox sweep does: re-send every full outbox and clear it."""
        full = [d for d in list(self.store.items.values()) if d.get("outbox")]
        for document in full:
            await self.publish(copy.deepcopy(document))
        return len(full)


class StaleOnce(MemoryWalletStore):
    """A store whose first replace loses a race (someone else wrote in between)."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def _race(self, documents: list[Document]) -> None:
        read = [d for d in documents if d.get("_etag")]
        if not self.raced and read:
            self.raced = True
            key = (read[-1]["pk"], read[-1]["id"])
            self.items[key] = {**self.items[key], "_etag": "someone-else"}

    async def replace(self, document: Document) -> Document:
        self._race([document])
        return await super().replace(document)

    async def write_together(self, pk: str, documents: list[Document]) -> list[Document]:
        self._race(documents)
        return await super().write_together(pk, documents)


class World:
    """A wallet on fakes, with helpers to drive it as the PSP would."""

    def __init__(
        self,
        *,
        store: MemoryWalletStore | None = None,
        max_instruments: int = 20,
        now: datetime = NOW,
        notification_url: str | None = NOTIFY_URL,
        disabled_applications: frozenset[str] = frozenset(),
    ) -> None:
        self.clock = FixedClock(now)
        self.store = store or MemoryWalletStore()
        self.psp = FakePsp()
        self.sender = BrokerSender()
        self.ids = wallet_ids()
        self.user_ids = UserIds(LocalSecrets({USER_ID_SECRET: USER_ID_KEY}))
        self.publisher = MemoryPublisher(self.store, self.sender)
        self.wallet = Wallet(
            store=self.store,
            psp=self.psp,
            wallet_ids=self.ids,
            publisher=self.publisher,
            policy=WalletPolicy(
                psp_id=PSP,
                return_url="app://wallet/done",
                session_window=timedelta(minutes=30),
                max_instruments=max_instruments,
                events_queue=QUEUE,
                notification_url=notification_url,
                disabled_applications=disabled_applications,
            ),
        )

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, **delta: float) -> None:
        self.clock.set(self.clock.now() + timedelta(**delta))

    async def created(self, cf: str = CF, applications: list[str] | None = None) -> str:
        request = NewWallet.model_validate(
            {
                "paymentMethodId": CARD_METHOD,
                **({"applications": applications} if applications is not None else {}),
            }
        )
        return (await self.wallet.create(uid(cf), request, now=self.now)).wallet_id

    async def requested(self, cf: str = CF, *, expiry: str = "203012", last4: str = "4242") -> str:
        """A wallet of ``cf`` in VALIDATION_REQUESTED: created, session opened, card typed."""
        wallet_id = await self.created(cf)
        opened = await self.wallet.open_session(uid(cf), wallet_id, NewSession(), now=self.now)
        self.psp.type_card(wallet_id, expiry=expiry, last4=last4)
        await self.wallet.validate(uid(cf), wallet_id, opened.order_id, now=self.now)
        return wallet_id

    async def notify(
        self,
        wallet_id: str,
        result: str = "EXECUTED",
        *,
        card_id: str = "gw-card-1",
        hpan: str | None = "a" * 64,
        operation_id: str | None = None,
        error_code: str | None = None,
        token: str | None = None,
        order_id: str | None = None,
        details: bool = True,
    ) -> NotificationAck:
        """What the gateway posts for ``wallet_id``'s order (its token unless told)."""
        order = self.psp.order_of(wallet_id)
        body: dict[str, Any] = {
            "timestampOperation": self.now.isoformat(),
            "operationId": operation_id or f"op-{next(_OPERATIONS)}",
            "operationResult": result,
        }
        if error_code:
            body["errorCode"] = error_code
        if details:
            body["details"] = {"type": "CARD", "paymentInstrumentGatewayId": card_id}
            if hpan:
                body["details"]["hpan"] = hpan
        return await self.wallet.notify(
            wallet_id,
            order_id or order.order_id,
            GatewayNotification.model_validate(body),
            token=order.token if token is None else token,
            now=self.now,
        )

    async def validated(
        self,
        cf: str = CF,
        *,
        card_id: str = "gw-card-1",
        hpan: str = "a" * 64,
        expiry: str = "203012",
    ) -> str:
        wallet_id = await self.requested(cf, expiry=expiry)
        await self.notify(wallet_id, card_id=card_id, hpan=hpan)
        return wallet_id

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for queue, m in self.sender.sent if queue == QUEUE]

    def stored(self, cf: str, wallet_id: str) -> Document:
        return self.store.items[(uid(cf), wallet_id)]
