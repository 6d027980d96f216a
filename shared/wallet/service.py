"""The wallet's use cases: onboarding in pagoPA's steps, listing, reading, deleting, applications.

Rules (docs/wallet.md, with the source of each in pagopa-wallet-service):

- Onboarding is four steps, each one request: the citizen creates a wallet for a payment
  method (``CREATED``), opens the gateway's session (``INITIALIZED``: the app shows the
  gateway's hosted page, where the card is typed), asks for its validation once the card is
  typed (``VALIDATION_REQUESTED``: the wallet reads the card's bin, last four digits, expiry
  and brand from the gateway and the app shows its 3-D Secure page), and the gateway notifies
  the outcome (:mod:`shared.wallet.notifications`). The PAN never reaches the platform.
- Live instruments (validated and not expired, plus sessions younger than the session window)
  are at most ``max_instruments`` per citizen, decided on the citizen's slots document written
  in the same batch as the instrument (:mod:`shared.wallet.slots`).
- A citizen only ever sees their own instruments: another citizen's walletId is "not found",
  exactly like an unknown one (the partition key is the caller's own).

Events (on the queue ``events_queue``, through the document's outbox)::

    InstrumentValidated  {walletId, userId, hpan, type, brand, applications}
    InstrumentReplaced   {oldWalletId, newWalletId, ... as InstrumentValidated}
    InstrumentDeleted    {walletId, userId, hpan, type}
    ApplicationChanged   {walletId, userId, hpan, type, application, status}

Citizens are named by their pseudonymous user id (:mod:`shared.auth.user_ids`), computed at the
edge: no document or event of the wallet holds a fiscal code.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import quote

from shared.platform.errors import Conflict
from shared.platform.outbox import Event
from shared.platform.retry import in_hand_then_read
from shared.wallet.core import LIVE, RETENTION_SECONDS, retrying
from shared.wallet.instruments import (
    instrument_document,
    load_instrument,
    new_order_id,
    new_token,
    token_hash,
)
from shared.wallet.manage import WalletManagement
from shared.wallet.methods import onboardable
from shared.wallet.models import (
    APPLICATIONS,
    HeldInstrument,
    Instrument,
    InstrumentList,
    NewSession,
    NewWallet,
    SessionData,
    SessionOpened,
    StoredInstrument,
    ValidationDetails,
    ValidationRequested,
    WalletCreated,
)
from shared.wallet.notifications import GatewayNotifications
from shared.wallet.settings import notification_url
from shared.wallet.slots import Slots, live_until
from shared.wallet.store import Document, StaleDocument

logger = logging.getLogger(__name__)

__all__ = ["Wallet"]


class Wallet(GatewayNotifications, WalletManagement):
    """The wallet of every citizen, on its ports."""

    # ------------------------------------------------------------------ onboarding
    async def create(self, user_id: str, request: NewWallet, *, now: datetime) -> WalletCreated:
        """Create a wallet for a payment method; 409 past the live-instrument limit."""
        method = onboardable(request.payment_method_id)
        pk = user_id
        slots = await self._slots(pk, now)
        self._refuse_when_full(slots, now)
        wallet_id = await self._ids.new(user_id)
        enabled = set(request.applications)
        item = StoredInstrument(
            id=wallet_id,
            pk=pk,
            payment_method_id=method.id,
            status="CREATED",
            applications={
                name: "ENABLED" if name in enabled else "DISABLED" for name in APPLICATIONS
            },
            psp_id=self._policy.psp_id,
            created_at=now,
            updated_at=now,
            ttl=RETENTION_SECONDS,
        )
        decide_on = in_hand_then_read(slots, lambda: self._slots(pk, now))

        async def attempt() -> None:
            # Decided again on the slots as they are now: another onboarding may have taken
            # the last one meanwhile.
            current = await decide_on()
            self._refuse_when_full(current, now)
            taken = current.hold(wallet_id, live_until(item, self._policy.session_window))
            await self._store.write_together(pk, [taken.document(now), instrument_document(item)])

        await retrying(attempt)
        return WalletCreated(wallet_id=wallet_id, status="CREATED")

    async def open_session(
        self, user_id: str, wallet_id: str, request: NewSession, *, now: datetime
    ) -> SessionOpened:
        """Open the gateway's session: its hosted page, and the token it will notify with.

        Raises:
            ConfigurationError: ``WALLET_NOTIFICATION_URL`` is not usable (nothing is opened).
            Conflict: the wallet is not ``CREATED`` (a session is opened once, as pagoPA).
        """
        base = notification_url(self._policy.notification_url)
        raw = await self._own(user_id, wallet_id)
        item = load_instrument(raw)
        self._expect(item, "CREATED", now)
        order_id, token = new_order_id(), new_token()
        contract_id = f"W{new_order_id()}"
        session = await self._psp.build_order(
            psp_id=item.psp_id,
            wallet_id=wallet_id,
            order_id=order_id,
            contract_id=contract_id,
            return_url=self._policy.return_url,
            notification_url=f"{base.rstrip('/')}/{quote(wallet_id)}/sessions/{order_id}"
            "/notifications",
            notification_token=token,
        )
        window_end = item.created_at + self._policy.session_window
        item = item.model_copy(
            update={
                "status": "INITIALIZED",
                "order_id": order_id,
                "session_id": session.session_id,
                "contract_id": contract_id,
                "token_hash": token_hash(token),
                "token_until": window_end + self._policy.token_grace,
                "updated_at": now,
            }
        )
        # Conditional on the ETag read: a second session opened concurrently loses, its
        # gateway order lapsing unused.
        await self._replace_or_conflict(instrument_document(item, raw))
        return SessionOpened(
            order_id=order_id, session_data=SessionData(redirect_url=session.redirect_url)
        )

    async def validate(
        self, user_id: str, wallet_id: str, order_id: str, *, now: datetime
    ) -> ValidationRequested:
        """The card is typed: read it from the gateway and start its 3-D Secure check."""
        raw = await self._own(user_id, wallet_id)
        item = load_instrument(raw)
        self._expect(item, "INITIALIZED", now)
        if item.order_id != order_id or item.session_id is None:
            raise Conflict("not this wallet's session")
        card = await self._psp.confirm_card(
            psp_id=item.psp_id, order_id=order_id, session_id=item.session_id
        )
        details = {
            "type": "CARDS",
            "bin": card.bin,
            "lastFourDigits": card.last_four_digits,
            "expiryDate": card.expiry_date,
            "brand": card.brand,
        }
        item = item.model_copy(
            update={"status": "VALIDATION_REQUESTED", "details": details, "updated_at": now}
        )
        await self._replace_or_conflict(instrument_document(item, raw))
        return ValidationRequested(
            order_id=order_id, details=ValidationDetails(iframe_url=card.iframe_url)
        )

    async def _replace_or_conflict(self, document: Document) -> None:
        try:
            await self._store.replace(document)
        except StaleDocument:
            raise Conflict("the wallet changed meanwhile; retry") from None

    def _expect(self, item: StoredInstrument, status: str, now: datetime) -> None:
        current = self._status(item, now)
        if current != status:
            raise Conflict(f"the wallet is {current}, not {status}")

    # ------------------------------------------------------------------ reading
    async def instruments(self, user_id: str, *, now: datetime) -> InstrumentList:
        """Validated instruments and sessions in progress: the favourite first, then newest."""
        current = await self._store.current(user_id, pending_since=self._pending_since(now))
        shown = [self._view(load_instrument(d), now) for d in current]
        shown = [i for i in shown if i.status in LIVE]
        shown.sort(key=lambda i: (i.favourite, i.created_at), reverse=True)
        return InstrumentList(instruments=shown)

    async def get(self, user_id: str, wallet_id: str, *, now: datetime) -> Instrument:
        raw = await self._own(user_id, wallet_id)
        return self._view(load_instrument(raw), now)

    async def held(self, user_id: str, wallet_id: str, *, now: datetime) -> HeldInstrument:
        """For another capability's service (cashback): one of the user's instruments with its
        hpan; NotFound if it is not theirs."""
        item = load_instrument(await self._own(user_id, wallet_id))
        return HeldInstrument(
            wallet_id=item.id,
            status=self._status(item, now),
            type=item.type,
            hpan=item.hpan,
            brand=(item.details or {}).get("brand"),
            updated_at=item.validated_at or item.updated_at,
        )

    # ------------------------------------------------------------------ changes
    async def delete(self, user_id: str, wallet_id: str, *, now: datetime) -> None:
        """Delete; deleting again (or a replaced one) changes nothing and is not an error."""
        pk = user_id

        async def attempt() -> tuple[Document, list[Event]] | None:
            raw, raw_slots = await self._own_with_slots(pk, wallet_id)
            item = load_instrument(raw)
            if item.status in ("DELETED", "REPLACED"):
                return None
            events = []
            if item.status == "VALIDATED" and item.hpan:
                events.append(self._event("InstrumentDeleted", item, now))
            was = item.status
            item = item.model_copy(
                update={"status": "DELETED", "updated_at": now, "ttl": RETENTION_SECONDS}
            )
            # A live instrument (or one that lapsed) may hold a slot.
            freed = Slots.load(raw_slots) if raw_slots and was != "ERROR" else None
            written = await self._write(
                item.pk, instrument_document(item, raw, events), freed, wallet_id, now
            )
            logger.info("instrument %s deleted (was %s)", wallet_id, was)
            return written, events

        done = await retrying(attempt)
        if done is not None:
            self._publish(*done)

    async def delete_all(self, user_id: str, *, now: datetime) -> int:
        """Delete every instrument the citizen has (account closure); how many there were."""
        current = await self._store.current(user_id, pending_since="")
        for raw in current:
            await self.delete(user_id, raw["id"], now=now)
        logger.info("all %d instruments of a user deleted", len(current))
        return len(current)
