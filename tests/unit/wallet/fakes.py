"""In-memory ports of the wallet service (no I/O), shared by the unit and functions tiers."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.auth.fiscal_code import check_character
from shared.auth.secrets import LocalSecrets
from shared.auth.signature import sign
from shared.platform.clock import FixedClock
from shared.platform.errors import DependencyError
from shared.platform.messaging import Outgoing
from shared.platform.outbox import Event, pending
from shared.wallet.models import InstrumentType
from shared.wallet.psp import PspSession
from shared.wallet.reference import SECRET_NAME, WalletIds
from shared.wallet.service import Wallet, WalletPolicy
from shared.wallet.store import Document, StaleDocument
from tests.fakes.platform import MemorySender
from tests.fakes.wallet import MemoryWalletStore

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
PSP = "DEMOPSP"
SECRET = "unit-test-psp-secret"
QUEUE = "wallet-events"
NOTIFY_URL = "http://localhost/api/v1/wallet/psp/notifications"
REFERENCE_KEY = "unit-test-wallet-reference-key-0123456789"


def wallet_ids(value: str = REFERENCE_KEY) -> WalletIds:
    return WalletIds(LocalSecrets({SECRET_NAME: value}))


def fiscal_code(n: int) -> str:
    """A valid fiscal code per ``n`` (0-999)."""
    first15 = f"RSSMRA85T10A{n:03d}"
    return first15 + check_character(first15)


CF = fiscal_code(562)
OTHER_CF = fiscal_code(563)


@dataclass
class FakePsp:
    opened: list[dict[str, Any]] = field(default_factory=list)
    down: bool = False

    async def open_session(
        self,
        *,
        psp_id: str,
        wallet_id: str,
        type_: InstrumentType,
        return_url: str,
        notification_url: str,
    ) -> PspSession:
        await asyncio.sleep(0)  # a network call: other tasks run meanwhile
        if self.down:
            raise DependencyError("psp", "unreachable")
        session_id = f"sess-{len(self.opened) + 1}"
        self.opened.append(
            {
                "pspId": psp_id,
                "walletId": wallet_id,
                "type": type_,
                "returnUrl": return_url,
                "notificationUrl": notification_url,
                "sessionId": session_id,
            }
        )
        return PspSession(session_id, f"https://psp.example/onboarding/{session_id}")


class FakeSecrets:
    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets = secrets or {PSP: SECRET}

    async def secret_of(self, psp_id: str) -> str:
        return self.secrets[psp_id]


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
    ) -> None:
        self.clock = FixedClock(now)
        self.store = store or MemoryWalletStore()
        self.psp = FakePsp()
        self.sender = BrokerSender()
        self.ids = wallet_ids()
        self.publisher = MemoryPublisher(self.store, self.sender)
        self.wallet = Wallet(
            store=self.store,
            psp=self.psp,
            secrets=FakeSecrets(),
            wallet_ids=self.ids,
            publisher=self.publisher,
            policy=WalletPolicy(
                psp_id=PSP,
                return_url="app://wallet/done",
                session_window=timedelta(minutes=30),
                max_instruments=max_instruments,
                events_queue=QUEUE,
                notification_url=notification_url,
            ),
        )

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def advance(self, **delta: float) -> None:
        self.clock.set(self.clock.now() + timedelta(**delta))

    def session_of(self, wallet_id: str) -> str:
        return next(o["sessionId"] for o in self.psp.opened if o["walletId"] == wallet_id)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for queue, m in self.sender.sent if queue == QUEUE]

    def stored(self, cf: str, wallet_id: str) -> Document:
        from shared.auth.fiscal_code import fiscal_code_hash

        return self.store.items[(fiscal_code_hash(cf), wallet_id)]


def card(
    pan_hash: str = "a" * 64, *, last4: str = "4242", month: int = 12, year: int = 2030
) -> dict[str, Any]:
    return {
        "brand": "VISA",
        "last4": last4,
        "expiryMonth": month,
        "expiryYear": year,
        "hpan": pan_hash,
        "contractId": "contract-1",
    }


def signed(body: dict[str, Any], *, at: datetime, secret: str = SECRET) -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    return raw, sign(secret, raw, int(at.timestamp()))
