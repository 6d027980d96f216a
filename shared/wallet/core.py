"""The wallet service's ports, policy and the helpers its use cases share.

:class:`WalletCore` holds the ports; :mod:`shared.wallet.notifications` (the gateway's outcome)
and :mod:`shared.wallet.service` (the citizens' use cases) build on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from shared.platform.errors import Conflict, NotFound
from shared.platform.outbox import Event
from shared.platform.retry import retry_on_stale
from shared.wallet.instruments import instrument_view, load_instrument, status_as_of
from shared.wallet.models import Instrument, Status, StoredInstrument, fixed_time
from shared.wallet.psp import PspGateway
from shared.wallet.reference import WalletIds, is_wallet_id
from shared.wallet.slots import Slots
from shared.wallet.store import Document, WalletStore

T = TypeVar("T")
# How long finished documents are kept where the container has TTL enabled (Azure).
RETENTION_SECONDS = 90 * 86400
LIVE: frozenset[Status] = frozenset({"CREATED", "INITIALIZED", "VALIDATION_REQUESTED", "VALIDATED"})


class Publisher(Protocol):
    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        """Send the document's outbox (``only`` these of its events, if given) after the
        request has answered: the caller does not wait for the broker. The sweep re-sends
        (the broker drops copies by message id) and clears them; see
        :meth:`shared.platform.outbox.Outbox.publish_soon`."""
        ...


@dataclass(frozen=True)
class WalletPolicy:
    psp_id: str
    return_url: str
    session_window: timedelta
    max_instruments: int
    events_queue: str
    notification_url: str | None
    """The base the gateway's notification routes hang from: configuration only (checked
    when a session opens); ``/{walletId}/sessions/{orderId}/notifications`` is appended."""
    token_grace: timedelta = timedelta(hours=1)
    """How long after the window a session's token still answers the gateway's retries."""
    disabled_applications: frozenset[str] = frozenset()
    """The wallet's services the platform has switched off (pagoPA's applications registry
    keeps a global status per application): no instrument can enable them."""


class WalletCore:
    """The wallet's ports and the helpers its use cases share."""

    def __init__(
        self,
        *,
        store: WalletStore,
        psp: PspGateway,
        wallet_ids: WalletIds,
        publisher: Publisher,
        policy: WalletPolicy,
    ) -> None:
        self._store = store
        self._psp = psp
        self._ids = wallet_ids
        self._publisher = publisher
        self._policy = policy

    def _publish(self, written: Document, events: list[Event]) -> None:
        """Send the events this write added, once the request has answered."""
        if events:
            self._publisher.publish_soon(written, only=events)

    async def _own(self, pk: str, wallet_id: str) -> Document:
        """The caller's instrument; NotFound for an unknown one and for anyone else's.

        The walletId is not decoded: the partition is the caller's own, from their token."""
        raw = await self._store.get(pk, wallet_id) if is_wallet_id(wallet_id) else None
        if raw is None:
            raise NotFound(f"no instrument {wallet_id[:64]}")
        return raw

    async def _own_with_slots(self, pk: str, wallet_id: str) -> tuple[Document, Document | None]:
        """:meth:`_own` and the caller's slots document (None if none yet), in one round trip."""
        raw, slots = (
            await self._store.get_with_slots(pk, wallet_id)
            if is_wallet_id(wallet_id)
            else (None, None)
        )
        if raw is None:
            raise NotFound(f"no instrument {wallet_id[:64]}")
        return raw, slots

    async def _slots(self, pk: str, now: datetime) -> Slots:
        """``pk``'s slots document, or (none yet) the slots its live instruments hold."""
        raw = await self._store.slots(pk)
        if raw is not None:
            return Slots.load(raw)
        current = await self._store.current(pk, pending_since=self._pending_since(now))
        return Slots.rebuilt(
            pk,
            (load_instrument(d) for d in current),
            now=now,
            session_window=self._policy.session_window,
        )

    def _refuse_when_full(self, slots: Slots, now: datetime) -> None:
        if slots.count(now) >= self._policy.max_instruments:
            raise Conflict(
                f"a citizen may have at most {self._policy.max_instruments} live "
                "instruments (validated, or being onboarded): delete one first"
            )

    async def _write(
        self, pk: str, document: Document, slots: Slots | None, wallet_id: str, now: datetime
    ) -> Document:
        """Write an instrument that no longer holds a slot: with its slot freed in the same
        batch if it held one, else alone."""
        if slots is None or wallet_id not in slots.held:
            return await self._store.replace(document)
        written = await self._store.write_together(
            pk, [slots.release(wallet_id).document(now), document]
        )
        return written[1]

    def _pending_since(self, now: datetime) -> str:
        return fixed_time(now - self._policy.session_window)

    def _status(self, item: StoredInstrument, now: datetime) -> Status:
        return status_as_of(item, now, self._policy.session_window)

    def _view(self, item: StoredInstrument, now: datetime) -> Instrument:
        return instrument_view(item, now, self._policy.session_window)

    def _event(self, type_: str, item: StoredInstrument, now: datetime, **extra: Any) -> Event:
        data: dict[str, Any] = {
            "walletId": item.id,
            "userId": item.pk,
            "hpan": item.hpan,
            "type": item.type,
        }
        if type_ in ("InstrumentValidated", "InstrumentReplaced"):
            data["brand"] = (item.details or {}).get("brand")
            data["applications"] = dict(item.applications)
        data.update(extra)
        return Event.new(type_, self._policy.events_queue, data, now=now)


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    return await retry_on_stale(
        step, conflict="the instrument is being changed concurrently; retry"
    )
