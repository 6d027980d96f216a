"""The gateway's notification of an onboarding session's outcome, as pagoPA's wallet takes it.

``POST .../wallets/{walletId}/sessions/{orderId}/notifications`` with ``Authorization: Bearer
<token>``: the token the wallet handed the gateway when it opened that session (see
docs/wallet.md, where each rule's source in pagopa-wallet-service is noted):

- The token is single-purpose (it authenticates nothing but this session's notification),
  bound to the session (its SHA-256 is stored in the instrument with the orderId), and expiring
  (the session window plus a grace for retries). A missing, wrong or expired token, or one of
  another session, is 401, before anything is said about the wallet.
- Accepted only in ``VALIDATION_REQUESTED``; the same ``operationId`` again is answered as the
  first time and changes nothing (the gateway retries); any other operation on a finished
  session is 409, as is one on a session past its window.
- ``EXECUTED`` validates the card, unless the citizen already has it (same
  ``paymentInstrumentGatewayId``): a newer expiry replaces the old instrument (``REPLACED``),
  otherwise this session ends in ``ERROR`` with ``WALLET_ALREADY_ONBOARDED_FOR_USER``. Every
  other result ends the session in ``ERROR``, its ``errorCode`` (or the result) kept.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from shared.platform.errors import Conflict, DependencyError, Unauthorized
from shared.platform.outbox import Event
from shared.platform.retry import retry_on_stale
from shared.wallet.core import RETENTION_SECONDS, WalletCore
from shared.wallet.instruments import (
    expiry,
    find_instrument,
    instrument_document,
    load_instrument,
    token_matches,
)
from shared.wallet.models import (
    ALREADY_ONBOARDED,
    SLOTS_ID,
    GatewayNotification,
    NotificationAck,
    StoredInstrument,
)
from shared.wallet.slots import Slots, live_until
from shared.wallet.store import Document

logger = logging.getLogger(__name__)


class GatewayNotifications(WalletCore):
    async def notify(
        self,
        wallet_id: str,
        order_id: str,
        notification: GatewayNotification,
        *,
        token: str | None,
        now: datetime,
    ) -> NotificationAck:
        """Apply the gateway's outcome (see the module docstring): one query, one write.

        Raises:
            Unauthorized: no token, or not this session's (or expired).
            Conflict: the session already ended otherwise, or its window passed.
        """
        owner = await self._ids.owner(wallet_id)
        pk = owner  # the user id the walletId was made for
        documents = await self._store.for_notification(pk, wallet_id) if pk and token else []
        raw = find_instrument(documents, wallet_id)
        if pk is None or raw is None or token is None:
            raise Unauthorized("not a token of this session")
        checked = load_instrument(raw)
        if not token_matches(checked, token, order_id, now):
            logger.warning("notification for %s refused: token mismatch or expired", wallet_id)
            raise Unauthorized("not a token of this session")
        # The first attempt decides on the instrument the token was checked on (validated once,
        # not twice); an attempt after a lost race reads the documents again.
        in_hand: StoredInstrument | None = checked

        async def attempt() -> tuple[StoredInstrument, Document | None]:
            nonlocal in_hand, documents
            loaded, in_hand = in_hand, None
            if loaded is None:
                documents = await self._store.for_notification(pk, wallet_id)
            return await self._apply(wallet_id, notification, documents, now, loaded)

        # Losing that many races means the citizen's documents are busy, not that the outcome
        # is wrong: 503, which the gateway retries (a 409 would tell it the session ended).
        item, written = await retry_on_stale(
            attempt,
            conflict=DependencyError(
                "wallet", "the instrument is being changed concurrently", retry_after=1
            ),
        )
        if written is not None:
            self._publisher.publish_soon(written)
        return NotificationAck(
            wallet_id=wallet_id,
            order_id=order_id,
            operation_id=notification.operation_id,
            status=self._status(item, now),
        )

    async def _apply(
        self,
        wallet_id: str,
        notification: GatewayNotification,
        documents: list[Document],
        now: datetime,
        loaded: StoredInstrument | None = None,
    ) -> tuple[StoredInstrument, Document | None]:
        """``loaded``: the instrument of ``documents`` already validated, if the caller has it."""
        raw_slots = next((d for d in documents if d["id"] == SLOTS_ID), None)
        documents = [d for d in documents if d.get("kind") == "instrument"]
        raw = find_instrument(documents, wallet_id)
        assert raw is not None  # the token matched it, and instruments are never removed
        item = loaded if loaded is not None else load_instrument(raw)
        if item.operation_id == notification.operation_id:
            return item, None  # the gateway retried an operation already applied
        if item.status != "VALIDATION_REQUESTED":
            raise Conflict(f"the session is {item.status}: no outcome is expected")
        if self._status(item, now) != "VALIDATION_REQUESTED":
            raise Conflict("the session's window passed before this outcome")
        update: dict[str, Any] = {
            "operation_id": notification.operation_id,
            "operation_result": notification.operation_result,
            "updated_at": now,
        }
        details = notification.details
        if details is not None:
            update.update(gateway_id=details.payment_instrument_gateway_id, hpan=details.hpan)
        if notification.operation_result != "EXECUTED" or details is None:
            # pagoPA's wallet ends every other result (and an EXECUTED without the card's
            # details) in ERROR, keeping the gateway's error code.
            code = notification.error_code or notification.operation_result
            if notification.operation_result == "EXECUTED":
                code = notification.error_code or "MISSING_DETAILS"
            item = item.model_copy(update={**update, "status": "ERROR", "error_code": code})
            freed = Slots.load(raw_slots) if raw_slots else None
            await self._write(item.pk, instrument_document(item, raw), freed, wallet_id, now)
            logger.info("onboarding %s ended %s", wallet_id, notification.operation_result)
            return item, None
        item = item.model_copy(update=update)
        slots = (
            Slots.load(raw_slots)
            if raw_slots
            else Slots.rebuilt(
                item.pk,
                (load_instrument(d) for d in documents if d["id"] != wallet_id),
                now=now,
                session_window=self._policy.session_window,
            )
        )
        return await self._validate(item, raw, documents, slots, now)

    async def _validate(
        self,
        item: StoredInstrument,
        raw: Document,
        documents: list[Document],
        slots: Slots,
        now: datetime,
    ) -> tuple[StoredInstrument, Document | None]:
        same = [
            load_instrument(d)
            for d in documents
            if d["id"] != item.id
            and d.get("status") == "VALIDATED"
            and d.get("paymentInstrumentGatewayId") == item.gateway_id
        ]
        new_expiry = expiry(item) or (0, 0)
        if any((expiry(o) or (0, 0)) >= new_expiry for o in same):
            # The same card, not renewed: pagoPA's wallet ends the new session in ERROR.
            item = item.model_copy(update={"status": "ERROR", "error_code": ALREADY_ONBOARDED})
            await self._write(item.pk, instrument_document(item, raw), slots, item.id, now)
            logger.info("onboarding %s refused: card already onboarded", item.id)
            return item, None
        freed = slots.release(*(o.id for o in same))
        if not freed.holds(item.id, now) and freed.count(now) >= self._policy.max_instruments:
            item = item.model_copy(update={"status": "ERROR", "error_code": "TOO_MANY_INSTRUMENTS"})
            await self._store.replace(instrument_document(item, raw))
            logger.info("onboarding %s refused: too many instruments", item.id)
            return item, None
        update: dict[str, Any] = {"status": "VALIDATED", "validated_at": now, "ttl": None}
        event_type, extra = "InstrumentValidated", {}
        replaced: list[Document] = []
        if same:
            # A renewed card (newer expiry) takes the old instrument's place.
            old = max(same, key=lambda o: o.created_at)
            update["replaces"] = old.id
            event_type = "InstrumentReplaced"
            extra = {"oldWalletId": old.id, "newWalletId": item.id}
            for each in same:
                old_raw = find_instrument(documents, each.id)
                gone = each.model_copy(
                    update={
                        "status": "REPLACED",
                        "replaced_by": item.id,
                        "updated_at": now,
                        "ttl": RETENTION_SECONDS,
                    }
                )
                replaced.append(instrument_document(gone, old_raw))
        item = item.model_copy(update=update)
        events: list[Event] = [self._event(event_type, item, now, **extra)] if item.hpan else []
        taken = freed.hold(item.id, live_until(item, self._policy.session_window))
        written = await self._store.write_together(
            item.pk, [taken.document(now), instrument_document(item, raw, events), *replaced]
        )
        logger.info("instrument %s validated (replacing %d)", item.id, len(same))
        return item, written[1] if events else None
