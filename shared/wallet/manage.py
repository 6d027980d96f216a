"""What users expect of a wallet beyond onboarding, and what others ask of it.

- A favourite instrument (``PUT .../{walletId}/favourite``): one per citizen, listed first.
- The last usage of an instrument, recorded by the payments capability when it pays with it.
- What a payment needs of an instrument (pagoPA's ``WalletAuthData``: brand, bin, the
  gateway's contract id), for the payments capability: never a card number.
- Deleting all of a citizen's instruments (account closure).
- The helpdesk's lookup of a user's instruments (operators, by user id).
- The per-instrument switch of the wallet's services with pagoPA's partial update: an
  application the platform has switched off cannot be enabled, and the answer lists what was
  updated and what failed (``WalletApplicationsPartialUpdate``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from shared.platform.errors import Conflict, NotFound
from shared.platform.outbox import Event
from shared.wallet.core import LIVE, WalletCore, retrying
from shared.wallet.instruments import find_instrument, instrument_document, load_instrument
from shared.wallet.models import (
    Application,
    ApplicationsUpdate,
    AuthCardData,
    AuthData,
    Instrument,
    InstrumentList,
    PartialUpdate,
    StoredInstrument,
)
from shared.wallet.reference import is_wallet_id
from shared.wallet.store import Document

logger = logging.getLogger(__name__)


class WalletManagement(WalletCore):
    async def set_favourite(self, user_id: str, wallet_id: str, *, now: datetime) -> Instrument:
        """Make a validated instrument the favourite; the previous one stops being it."""

        async def attempt() -> StoredInstrument:
            documents = await self._store.current(user_id, pending_since=self._pending_since(now))
            raw = find_instrument(documents, wallet_id)
            if raw is None:
                raw = await self._own(user_id, wallet_id)  # NotFound, or not live
            item = load_instrument(raw)
            status = self._status(item, now)
            if status != "VALIDATED":
                raise Conflict(f"the instrument is {status}: only a validated one can be favourite")
            if item.favourite is not None:
                return item
            item = item.model_copy(update={"favourite": now, "updated_at": now})
            writes = [instrument_document(item, raw)]
            for other_raw in documents:
                other = load_instrument(other_raw)
                if other.id != wallet_id and other.favourite is not None:
                    other = other.model_copy(update={"favourite": None, "updated_at": now})
                    writes.append(instrument_document(other, other_raw))
            await self._store.write_together(user_id, writes)
            return item

        return self._view(await retrying(attempt), now)

    async def record_usage(self, wallet_id: str, *, now: datetime) -> None:
        """The payments capability paid with ``wallet_id``: its last usage date is now."""

        async def attempt() -> None:
            raw = await self._by_wallet_id(wallet_id)
            item = load_instrument(raw).model_copy(update={"last_usage": now})
            await self._store.replace(instrument_document(item, raw))

        await retrying(attempt)

    async def auth_data(self, wallet_id: str, *, now: datetime) -> AuthData:
        """What a payment needs of a validated instrument (never its card number)."""
        item = load_instrument(await self._by_wallet_id(wallet_id))
        status = self._status(item, now)
        if status != "VALIDATED" or item.contract_id is None:
            raise Conflict(f"the instrument is {status}: it cannot pay")
        if item.applications.get("PAGOPA") != "ENABLED":
            raise Conflict("the instrument is not enabled for pagoPA payments")
        details = item.details or {}
        return AuthData(
            wallet_id=item.id,
            contract_id=item.contract_id,
            brand=str(details.get("brand", "")),
            payment_method_data=AuthCardData(bin=str(details.get("bin", ""))),
        )

    async def helpdesk(self, user_id: str, *, now: datetime) -> InstrumentList:
        """Operators' view of a user's instruments, whatever their status."""
        documents = await self._store.every(user_id)
        shown = [self._view(load_instrument(d), now) for d in documents]
        shown.sort(key=lambda i: i.created_at, reverse=True)
        return InstrumentList(instruments=shown)

    async def set_applications(
        self, user_id: str, wallet_id: str, update: ApplicationsUpdate, *, now: datetime
    ) -> PartialUpdate:
        """Switch the wallet's services on a live instrument. An application the platform has
        switched off cannot be enabled: it is listed as failed, the others are updated."""
        failed = [
            a
            for a in update.applications
            if a.status == "ENABLED" and a.name in self._policy.disabled_applications
        ]
        wanted = {a.name: a.status for a in update.applications if a not in failed}

        async def attempt() -> tuple[StoredInstrument, Document | None, list[Event]]:
            raw = await self._own(user_id, wallet_id)
            item = load_instrument(raw)
            status = self._status(item, now)
            if status not in LIVE:
                raise Conflict(f"the instrument is {status}: its applications cannot change")
            changed = {n: s for n, s in wanted.items() if item.applications.get(n) != s}
            if not changed:
                return item, None, []
            item = item.model_copy(
                update={"applications": {**item.applications, **changed}, "updated_at": now}
            )
            events = []
            if item.status == "VALIDATED" and item.hpan:
                events = [
                    self._event("ApplicationChanged", item, now, application=name, status=value)
                    for name, value in changed.items()
                ]
            return item, await self._store.replace(instrument_document(item, raw, events)), events

        item, written, events = await retrying(attempt)
        if written is not None:
            self._publish(written, events)
        return PartialUpdate(
            instrument=self._view(item, now),
            updated_applications=[Application(name=n, status=s) for n, s in wanted.items()],
            failed_applications=[Application(name=a.name, status=a.status) for a in failed],
        )

    async def _by_wallet_id(self, wallet_id: str) -> Document:
        """An instrument found by its walletId alone (it seals its owner)."""
        owner = await self._ids.owner(wallet_id) if is_wallet_id(wallet_id) else None
        raw = await self._store.get(owner, wallet_id) if owner else None
        if raw is None:
            raise NotFound(f"no instrument {wallet_id[:64]}")
        return raw
