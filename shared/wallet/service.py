"""The wallet's use cases: onboarding through a PSP, listing, reading, deleting, applications.

Rules (docs/wallet.md):

- A citizen opens an onboarding session at the configured PSP and gets its hosted page; the PAN
  never reaches the platform. The PSP's signed notification ends the session.
- Live instruments (validated and not expired, plus sessions younger than the session window)
  are at most ``max_instruments`` per citizen. The limit is decided on the citizen's slots
  document, written in the same batch as the instrument (:mod:`shared.wallet.slots`), so
  concurrent onboardings and validations can never pass it together.
- The same ``hpan`` validated again by the same citizen replaces the old instrument (which
  becomes ``REPLACED``; its applications carry over), never a duplicate.
- A citizen only ever sees their own instruments: another citizen's walletId is "not found",
  exactly like an unknown one (the partition key is the caller's own fiscal-code hash).

Events (on the queue ``events_queue``, through the document's outbox)::

    InstrumentValidated  {walletId, citizenId, fiscalCode, hpan, type, brand, applications}
    InstrumentReplaced   {oldWalletId, newWalletId, walletId, citizenId, fiscalCode, hpan, type,
                          brand, applications}   (instead of InstrumentValidated)
    InstrumentDeleted    {walletId, citizenId, fiscalCode, hpan, type}
    ApplicationChanged   {walletId, citizenId, fiscalCode, hpan, type, application, status}

``citizenId`` is the fiscal-code hash (the partition key every capability uses); ``fiscalCode``
is there too because a consumer such as cashback may need to act for the citizen (the queue is
internal to the platform, like the documents themselves).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from shared.auth.fiscal_code import fiscal_code_hash
from shared.auth.signature import verify_signed_request
from shared.platform.errors import Conflict, DependencyError, NotFound, Unauthorized
from shared.platform.outbox import Event
from shared.platform.retry import in_hand_then_read, retry_on_stale
from shared.wallet.instruments import (
    SeenSignatureGuard,
    failure_details,
    find_instrument,
    instrument_document,
    instrument_view,
    load_instrument,
    notification_digest,
    parse_details,
    status_as_of,
)
from shared.wallet.models import (
    APPLICATIONS,
    DETAILS_IN,
    DETAILS_OUT,
    PENDING_STATUSES,
    SLOTS_ID,
    ApplicationsUpdate,
    Instrument,
    InstrumentList,
    NewInstrument,
    NotificationAck,
    OnboardingStarted,
    PspNotification,
    SeenSignature,
    Status,
    StoredInstrument,
    fixed_time,
)
from shared.wallet.psp import PspGateway, PspSecrets
from shared.wallet.reference import WalletIds, is_wallet_id
from shared.wallet.settings import notification_url
from shared.wallet.slots import Slots, live_until
from shared.wallet.store import Document, WalletStore

logger = logging.getLogger(__name__)

T = TypeVar("T")
# How long finished documents are kept where the container has TTL enabled (Azure).
_RETENTION_SECONDS = 90 * 86400


class Publisher(Protocol):
    def publish_soon(self, document: Document, *, only: Collection[Event] | None = None) -> None:
        """Send the document's outbox (``only`` these of its events, if given) after the
        request has answered: the caller does not wait for the broker.

        The events stay in the outbox until the sweep (which re-sends them: the broker drops
        the copies by message id) clears them, which saves the request a write; if the broker
        is down or the process dies first, the sweep is what sends them. See
        :meth:`shared.platform.outbox.Outbox.publish_soon`.
        """
        ...


@dataclass(frozen=True)
class WalletPolicy:
    psp_id: str
    return_url: str
    session_window: timedelta
    max_instruments: int
    events_queue: str
    notification_url: str | None
    """Where the PSP posts outcomes: configuration only (checked when onboarding starts)."""


class Wallet:
    """The wallet of every citizen, on its ports."""

    def __init__(
        self,
        *,
        store: WalletStore,
        psp: PspGateway,
        secrets: PspSecrets,
        wallet_ids: WalletIds,
        publisher: Publisher,
        policy: WalletPolicy,
    ) -> None:
        self._store = store
        self._psp = psp
        self._secrets = secrets
        self._ids = wallet_ids
        self._publisher = publisher
        self._policy = policy

    # ------------------------------------------------------------------ citizens
    async def start_onboarding(
        self, fiscal_code: str, request: NewInstrument, *, now: datetime
    ) -> OnboardingStarted:
        """Open a session at the PSP; 409 if the citizen already has the most live ones.

        Raises:
            ConfigurationError: ``WALLET_NOTIFICATION_URL`` is not usable (nothing is opened).
        """
        notify_at = notification_url(self._policy.notification_url)
        pk = fiscal_code_hash(fiscal_code)
        slots = await self._slots(pk, now)
        self._refuse_when_full(slots, now)
        wallet_id = await self._ids.new(fiscal_code)
        psp_id = self._policy.psp_id
        session = await self._psp.open_session(
            psp_id=psp_id,
            wallet_id=wallet_id,
            type_=request.type,
            return_url=self._policy.return_url,
            notification_url=notify_at,
        )
        enabled = set(request.applications)
        item = StoredInstrument(
            id=wallet_id,
            pk=pk,
            fiscal_code=fiscal_code,
            type=request.type,
            status="CREATED",
            applications={
                name: "ENABLED" if name in enabled else "DISABLED" for name in APPLICATIONS
            },
            psp_id=psp_id,
            session_id=session.session_id,
            created_at=now,
            updated_at=now,
            ttl=_RETENTION_SECONDS,
        )
        decide_on = in_hand_then_read(slots, lambda: self._slots(pk, now))

        async def attempt() -> None:
            # Decided again on the slots as they are now: another onboarding may have taken
            # the last one meanwhile (its PSP session then lapses unused).
            current = await decide_on()
            self._refuse_when_full(current, now)
            taken = current.hold(wallet_id, live_until(item, self._policy.session_window))
            # The walletId carries the owner (sealed), so no route document is written.
            await self._store.write_together(pk, [taken.document(now), instrument_document(item)])

        await _retrying(attempt)
        return OnboardingStarted(
            wallet_id=wallet_id, status="CREATED", redirect_url=session.redirect_url
        )

    async def instruments(self, fiscal_code: str, *, now: datetime) -> InstrumentList:
        """Validated (or expired) instruments and sessions in progress, newest first."""
        current = await self._store.current(
            fiscal_code_hash(fiscal_code), pending_since=self._pending_since(now)
        )
        shown = [self._view(load_instrument(d), now) for d in current]
        shown = [i for i in shown if i.status != "ERROR"]
        shown.sort(key=lambda i: i.created_at, reverse=True)
        return InstrumentList(instruments=shown)

    async def get(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> Instrument:
        raw = await self._own(fiscal_code, wallet_id)
        return self._view(load_instrument(raw), now)

    async def delete(self, fiscal_code: str, wallet_id: str, *, now: datetime) -> None:
        """Delete; deleting again (or a replaced one) changes nothing and is not an error."""

        async def attempt() -> tuple[Document, list[Event]] | None:
            raw = await self._own(fiscal_code, wallet_id)
            item = load_instrument(raw)
            if item.status in ("DELETED", "REPLACED"):
                return None
            events = []
            if item.status == "VALIDATED":
                events.append(self._event("InstrumentDeleted", item, now))
            was = item.status
            item = item.model_copy(
                update={"status": "DELETED", "updated_at": now, "ttl": _RETENTION_SECONDS}
            )
            freed: Slots | None = None
            if was != "ERROR":  # a live instrument (or one that lapsed) may hold a slot
                raw_slots = await self._store.slots(item.pk)
                freed = Slots.load(raw_slots) if raw_slots else None
            written = await self._write(
                item.pk, instrument_document(item, raw, events), freed, wallet_id, now
            )
            logger.info("instrument %s deleted (was %s)", wallet_id, was)
            return written, events

        done = await _retrying(attempt)
        if done is not None:
            self._publish(*done)

    async def set_applications(
        self, fiscal_code: str, wallet_id: str, update: ApplicationsUpdate, *, now: datetime
    ) -> Instrument:
        """Enable or disable the wallet's services on a live instrument."""
        wanted = {a.name: a.status for a in update.applications}

        async def attempt() -> tuple[StoredInstrument, Document | None, list[Event]]:
            raw = await self._own(fiscal_code, wallet_id)
            item = load_instrument(raw)
            status = self._status(item, now)
            if status not in _LIVE:
                raise Conflict(f"the instrument is {status}: its applications cannot change")
            changed = {n: s for n, s in wanted.items() if item.applications.get(n) != s}
            if not changed:
                return item, None, []
            item = item.model_copy(
                update={"applications": {**item.applications, **changed}, "updated_at": now}
            )
            events = []
            if item.status == "VALIDATED":
                events = [
                    self._event("ApplicationChanged", item, now, application=name, status=value)
                    for name, value in changed.items()
                ]
            return item, await self._store.replace(instrument_document(item, raw, events)), events

        item, written, events = await _retrying(attempt)
        if written is not None:
            self._publish(written, events)
        return self._view(item, now)

    # ------------------------------------------------------------------ the PSP
    async def notify(
        self,
        notification: PspNotification,
        *,
        raw_body: bytes,
        signature: str | None,
        now: datetime,
    ) -> NotificationAck:
        """Apply a PSP's signed outcome (see the module docstring and docs/wallet.md).

        A signature is accepted once, whatever happened next: a PSP that retries (a lost answer,
        a 503) signs again at a later ``t``, and an identical outcome is then a 200 that changes
        nothing. ``PENDING`` (the citizen opened the PSP's page) is progress, never refused.

        The owner's partition comes from the walletId itself (:mod:`shared.wallet.reference`),
        and accepted signatures are recorded in the instrument document by the same write that
        applies the outcome, so a notification costs one query and one write.

        Raises:
            Unauthorized: bad, stale or replayed signature (checked before anything else is
                said about the session).
            NotFound: no such session.
            Conflict: the session already ended otherwise, or expired.
            Invalid: (422) the details do not fit the outcome and the instrument type.
        """
        wallet_id = notification.wallet_id
        owner = await self._ids.owner(wallet_id)
        pk = fiscal_code_hash(owner) if owner else None
        documents = await self._store.for_notification(pk, wallet_id) if pk else []
        raw = find_instrument(documents, wallet_id)
        psp_id = str(raw.get("pspId")) if raw else self._policy.psp_id
        seen = SeenSignatureGuard()
        await verify_signed_request(
            signature, raw_body, await self._secrets.secret_of(psp_id), now=now, guard=seen
        )
        if pk is None or raw is None:
            raise NotFound("unknown onboarding session")
        accepted = seen.accepted()
        ack = NotificationAck(
            wallet_id=wallet_id, session_id=notification.session_id, outcome=notification.outcome
        )
        first = True

        async def attempt() -> Document | None:
            nonlocal first, documents
            if not first:
                documents = await self._store.for_notification(pk, wallet_id)
            first = False
            return await self._apply(notification, documents, accepted, now)

        # Losing that many races means the citizen's documents are busy, not that the outcome
        # is wrong: 503, which the PSP retries (a 409 would tell it the session ended).
        written = await retry_on_stale(
            attempt,
            conflict=DependencyError(
                "wallet", "the instrument is being changed concurrently", retry_after=1
            ),
        )
        if written is not None:  # a session's document: its outbox holds only this event
            self._publisher.publish_soon(written)
        return ack

    async def _apply(
        self,
        notification: PspNotification,
        documents: list[Document],
        accepted: SeenSignature,
        now: datetime,
    ) -> Document | None:
        wallet_id = notification.wallet_id
        raw_slots = next((d for d in documents if d["id"] == SLOTS_ID), None)
        documents = [d for d in documents if d.get("kind") == "instrument"]
        raw = find_instrument(documents, wallet_id)
        if raw is None or raw.get("sessionId") != notification.session_id:
            raise NotFound("unknown onboarding session")
        item = load_instrument(raw)
        if any(s.id == accepted.id for s in item.signatures):
            logger.warning("replayed PSP signature refused for %s", wallet_id)
            raise Unauthorized("signature already used")
        # Every write below records the signature (and forgets stale ones): the replay guard.
        item = item.model_copy(
            update={"signatures": [*(s for s in item.signatures if s.until > now), accepted]}
        )
        status = self._status(item, now)
        if notification.outcome == "PENDING":
            if item.status == "CREATED" and status == "CREATED":
                failure_details(notification)
                item = item.model_copy(update={"status": "VALIDATION_REQUESTED", "updated_at": now})
            # else progress after the outcome, or told twice: nothing changes but the guard
            await self._store.replace(instrument_document(item, raw))
            return None
        digest = notification_digest(notification)
        if item.notification == digest:
            # The PSP retried an outcome already applied: only its new signature is recorded.
            await self._store.replace(instrument_document(item, raw))
            return None
        if item.status not in PENDING_STATUSES:
            raise Conflict(f"the session already ended ({item.status})")
        if status == "ERROR":
            raise Conflict("the session expired before this outcome")
        if notification.outcome != "OK":
            failure = failure_details(notification)
            reason = notification.outcome + (f": {failure.reason}" if failure.reason else "")
            item = item.model_copy(
                update={
                    "status": "ERROR",
                    "error_reason": reason,
                    "notification": digest,
                    "updated_at": now,
                }
            )
            freed = Slots.load(raw_slots) if raw_slots else None
            await self._write(item.pk, instrument_document(item, raw), freed, wallet_id, now)
            logger.info("onboarding %s ended %s", wallet_id, notification.outcome)
            return None
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
        return await self._validate(item, raw, documents, slots, notification, digest, now)

    async def _validate(
        self,
        item: StoredInstrument,
        raw: Document,
        documents: list[Document],
        slots: Slots,
        notification: PspNotification,
        digest: str,
        now: datetime,
    ) -> Document | None:
        model = DETAILS_IN[item.type]
        details = parse_details(model, notification.details)
        same_raw = [
            d
            for d in documents
            if d["id"] != item.id
            and d.get("status") == "VALIDATED"
            and d.get("hpan") == details.hpan
        ]
        same = [load_instrument(d) for d in same_raw]
        shown = DETAILS_OUT[item.type].model_validate(details.model_dump(by_alias=True))
        update: dict[str, Any] = {
            "hpan": details.hpan,
            "contract_id": details.contract_id,
            "details": shown.model_dump(mode="json", by_alias=True),
            "notification": digest,
            "updated_at": now,
        }
        # The instruments this one replaces give their slots back in the same write.
        freed = slots.release(*(o.id for o in same))
        if not freed.holds(item.id, now) and freed.count(now) >= self._policy.max_instruments:
            # A session without a slot (opened before slots were kept): refused at the limit.
            update.update(status="ERROR", error_reason="TOO_MANY_INSTRUMENTS")
            await self._store.replace(instrument_document(item.model_copy(update=update), raw))
            logger.info("onboarding %s refused: too many instruments", item.id)
            return None
        update.update(status="VALIDATED", validated_at=now, ttl=None)
        event_type, extra = "InstrumentValidated", {}
        replaced: list[Document] = []
        if same:
            # Same hpan: this instrument takes the old one's place (and its applications).
            old_items = sorted(same, key=lambda o: o.created_at)
            update.update(applications=old_items[-1].applications, replaces=old_items[-1].id)
            event_type = "InstrumentReplaced"
            extra = {"oldWalletId": old_items[-1].id, "newWalletId": item.id}
            for old in old_items:
                old_raw = next(d for d in documents if d["id"] == old.id)
                old = old.model_copy(
                    update={
                        "status": "REPLACED",
                        "replaced_by": item.id,
                        "updated_at": now,
                        "ttl": _RETENTION_SECONDS,
                    }
                )
                replaced.append(instrument_document(old, old_raw))
        item = item.model_copy(update=update)
        event = self._event(event_type, item, now, **extra)
        taken = freed.hold(item.id, live_until(item, self._policy.session_window))
        written = await self._store.write_together(
            item.pk,
            [taken.document(now), instrument_document(item, raw, [event]), *replaced],
        )
        if same:
            logger.info(
                "instrument %s validated, replacing %s", item.id, ",".join(o.id for o in same)
            )
        else:
            logger.info("instrument %s validated", item.id)
        return written[1]

    # ------------------------------------------------------------------ helpers
    def _publish(self, written: Document, events: list[Event]) -> None:
        """Send the events this write added, once the request has answered. Older ones the
        document still holds were sent after their own request, or wait for the sweep (which
        re-sends and clears them all)."""
        if events:
            self._publisher.publish_soon(written, only=events)

    async def _own(self, fiscal_code: str, wallet_id: str) -> Document:
        """The caller's instrument; NotFound for an unknown one and for anyone else's.

        The walletId is not decoded: the partition is the caller's own, from their token."""
        raw = None
        if is_wallet_id(wallet_id):
            raw = await self._store.get(fiscal_code_hash(fiscal_code), wallet_id)
        if raw is None:
            raise NotFound(f"no instrument {wallet_id[:64]}")
        return raw

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
            "citizenId": item.pk,
            "fiscalCode": item.fiscal_code,
            "hpan": item.hpan,
            "type": item.type,
        }
        if type_ in ("InstrumentValidated", "InstrumentReplaced"):
            data["brand"] = (item.details or {}).get("brand")
            data["applications"] = dict(item.applications)
        data.update(extra)
        return Event.new(type_, self._policy.events_queue, data, now=now)


_LIVE: frozenset[Status] = frozenset({"CREATED", "VALIDATION_REQUESTED", "VALIDATED"})


async def _retrying(step: Callable[[], Awaitable[T]]) -> T:
    return await retry_on_stale(
        step, conflict="the instrument is being changed concurrently; retry"
    )
