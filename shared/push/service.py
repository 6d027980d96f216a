"""Push use cases: what the HTTP triggers enqueue, and what the queue trigger does.

HTTP never calls Notification Hubs: it enqueues a message on ``PUSH_QUEUE`` (``message_id`` a
business key, so the broker's duplicate detection drops a re-send) and answers 202. The queue
work then applies it:

- ``CreateOrUpdateInstallation`` / ``DeleteInstallation`` carry the time the request was
  accepted. The change is first claimed in the installation's state document (ETag), then the
  hub is made to match the newest claimed state. A change older than the stored one is stale
  and skipped, so a redelivered PUT never resurrects a deleted device; if a newer change is
  claimed while this one reaches the hub, the hub is brought to the newer state before
  returning, whatever the order the two hub calls landed in.
- ``Notify`` reads the installation's platform (one point read) and sends the native payload
  to the tag ``$InstallationId:{<id>}`` (literal braces); a citizen without a device is
  skipped.

Notifications come only from parties of role ``sender``, within their per-minute limits
(:mod:`shared.push.senders`); each ``Notify`` names its sender.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Protocol, TypeVar

from pydantic import ValidationError

from shared.parties.models import Party
from shared.platform.cosmos import StaleDocument
from shared.platform.errors import (
    Conflict,
    DependencyError,
    Invalid,
    PermanentError,
    PreconditionFailed,
    TransientError,
)
from shared.platform.messaging import Outgoing, Sender
from shared.platform.queue_work import Delivery, retry_transient
from shared.platform.retry import retry_on_stale
from shared.push.hubs import installation_id
from shared.push.models import (
    PUSH_MESSAGE,
    CreateOrUpdateInstallation,
    DeleteInstallation,
    HubInstallation,
    InstallationAccepted,
    InstallationIn,
    NativeNotification,
    NotificationAccepted,
    NotificationIn,
    Notify,
    Platform,
    native_notification,
)
from shared.push.preferences import TOPICS
from shared.push.senders import SenderUsage, admit
from shared.push.store import InstallationState, InstallationStates, Versioned

logger = logging.getLogger(__name__)

T = TypeVar("T")
_IDS = uuid.UUID("8d7c1f0e-5b1a-4a52-9a57-6b1d2f3c4e5a")
#: How often a change may lose a race to a newer one before the message is redelivered.
_MAX_RACES = 5


class Hubs(Protocol):
    """What the worker needs from the hubs (:class:`~shared.push.client.PushDispatcher`)."""

    async def create_or_update(self, installation: HubInstallation) -> None: ...

    async def delete(self, installation: str) -> None: ...

    async def send(
        self, installation: str, platform: Platform, notification: NativeNotification
    ) -> None: ...


def business_id(*parts: str) -> str:
    """A message id derived from a business key (36 characters whatever the key)."""
    return str(uuid.uuid5(_IDS, "\x1f".join(parts)))


def _queued(
    message: Notify | CreateOrUpdateInstallation | DeleteInstallation, message_id: str
) -> Outgoing:
    return Outgoing(
        message_id,
        message.model_dump_json(by_alias=True).encode(),
        properties={"kind": message.kind},
    )


class PushRequests:
    """The HTTP side: accept, enqueue, answer 202."""

    def __init__(self, sender: Sender, queue: str, usage: SenderUsage) -> None:
        self._sender = sender
        self._queue = queue
        self._usage = usage

    async def register(
        self, fiscal_code: str, device: InstallationIn, *, now: datetime
    ) -> InstallationAccepted:
        installation = installation_id(fiscal_code)
        message = CreateOrUpdateInstallation(
            installation_id=installation,
            accepted_at=now,
            platform=device.platform,
            push_channel=device.push_channel,
        )
        await self._enqueue([message], [business_id(message.kind, installation, now.isoformat())])
        return InstallationAccepted(installation_id=installation, accepted_at=now)

    async def unregister(self, fiscal_code: str, *, now: datetime) -> InstallationAccepted:
        installation = installation_id(fiscal_code)
        message = DeleteInstallation(installation_id=installation, accepted_at=now)
        await self._enqueue([message], [business_id(message.kind, installation, now.isoformat())])
        return InstallationAccepted(installation_id=installation, accepted_at=now)

    async def notify(
        self, party: Party, request: NotificationIn, *, now: datetime
    ) -> NotificationAccepted:
        """One ``Notify`` per recipient, sent in batches, each naming ``party`` as its sender;
        the tracking id is the caller's ``notificationId`` when given (so a retried request
        enqueues nothing new).

        Raises:
            TooManyRequests: (429) past the sender's per-minute limits; nothing is sent.
            Invalid: (422) more recipients than the sender may reach in a minute.
        """
        messages, ids, tracking = self._notifications(party, request, topic=None, now=now)
        minute = await admit(self._usage, party, recipients=len(messages), now=now)
        try:
            await self._enqueue(messages, ids)
        except DependencyError:
            # Not sent: not counted either (best effort; the count only errs on the safe side).
            try:
                await self._usage.give_back(party.party_id, minute, recipients=len(messages))
            except DependencyError as error:
                logger.warning("sender %s: usage not given back: %s", party.party_id, error)
            raise
        logger.info(
            "sender %s notified %s recipients (tracking %s)",
            party.party_id,
            len(messages),
            tracking,
        )
        return NotificationAccepted(tracking_id=tracking, recipients=len(messages), accepted_at=now)

    async def notify_from_service(
        self, party: Party, request: NotificationIn, *, topic: str, now: datetime
    ) -> NotificationAccepted:
        """A notification of one of this platform's own capabilities (payments): queued like
        :meth:`notify`, naming ``party`` as its sender, but outside the per-minute limits that
        protect citizens from external senders (the platform's own events bound its volume),
        and on ``topic``, so a citizen who opted out of it is skipped
        (:mod:`shared.push.preferences`).

        Raises:
            Invalid: ``topic`` is not a known topic.
        """
        if topic not in TOPICS:
            raise Invalid(f"unknown notification topic {topic!r}")
        messages, ids, tracking = self._notifications(party, request, topic=topic, now=now)
        await self._enqueue(messages, ids)
        logger.info(
            "service %s notified %s recipients on %s (tracking %s)",
            party.party_id,
            len(messages),
            topic,
            tracking,
        )
        return NotificationAccepted(tracking_id=tracking, recipients=len(messages), accepted_at=now)

    def _notifications(
        self, party: Party, request: NotificationIn, *, topic: str | None, now: datetime
    ) -> tuple[list[Notify], list[str], str]:
        tracking = request.notification_id or str(uuid.uuid4())
        messages: list[Notify] = []
        ids: list[str] = []
        for code in request.recipients():
            installation = installation_id(code)
            messages.append(
                Notify(
                    installation_id=installation,
                    accepted_at=now,
                    tracking_id=tracking,
                    sender=party.party_id,
                    title=request.title,
                    body=request.body,
                    data=request.data,
                    topic=topic,
                )
            )
            # The sender is part of the key: another sender's notificationId never collides.
            ids.append(business_id("Notify", party.party_id, tracking, installation))
        return messages, ids, tracking

    async def _enqueue(
        self,
        messages: Sequence[Notify | CreateOrUpdateInstallation | DeleteInstallation],
        ids: Sequence[str],
    ) -> None:
        await self._sender.send(
            self._queue,
            [
                _queued(message, message_id)
                for message, message_id in zip(messages, ids, strict=True)
            ],
        )


class PushWorker:
    """The queue side: apply installation changes and send notifications."""

    def __init__(self, hubs: Hubs, states: InstallationStates) -> None:
        self._hubs = hubs
        self._states = states

    async def handle(self, delivery: Delivery) -> None:
        try:
            message = PUSH_MESSAGE.validate_json(delivery.body)
        except ValidationError as error:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in error.errors()})
            raise PermanentError(f"not a push message (check {', '.join(fields)})") from None
        if isinstance(message, Notify):
            await self.notify(message)
        else:
            await self.apply(message)

    async def notify(self, message: Notify) -> None:
        current = await self._retry(lambda: self._states.get(message.installation_id))
        if current is None or current.state.deleted or current.state.platform is None:
            logger.debug(
                "push %s: installation %s has no device; nothing to send",
                message.tracking_id,
                message.installation_id,
            )
            return
        if message.topic is not None and message.topic in current.state.opted_out:
            logger.debug("push %s: opted out of %s", message.tracking_id, message.topic)
            return
        notification = native_notification(
            current.state.platform, message.title, message.body, message.data
        )
        await self._hubs.send(message.installation_id, current.state.platform, notification)

    async def apply(self, change: CreateOrUpdateInstallation | DeleteInstallation) -> None:
        """Claim ``change`` in the state document unless a newer one is there, then make the
        hub match the newest claimed state."""
        read = partial(self._states.get, change.installation_id)

        async def claim() -> Versioned | None:
            current = await self._retry(read)
            desired = _desired(change)
            if current is not None:  # the citizen's preferences outlive their devices
                desired.opted_out = list(current.state.opted_out)
            if current is not None and change.accepted_at < current.state.applied_at:
                logger.info(
                    "push change %s of installation %s accepted at %s is older than "
                    "the one applied (%s): skipped",
                    change.kind,
                    change.installation_id,
                    change.accepted_at.isoformat(),
                    current.state.applied_at.isoformat(),
                )
                return None
            if current is not None and current.state.model_dump() == desired.model_dump():
                return current  # a redelivery: apply again (the hub calls are idempotent)
            try:
                etag = await self._retry(
                    partial(self._states.put, desired, etag=current.etag if current else None)
                )
            except (Conflict, PreconditionFailed):
                raise StaleDocument(change.installation_id) from None  # look again
            return Versioned(desired, etag)

        kept_changing = TransientError(
            f"installation {change.installation_id} kept changing; retry"
        )
        claimed = await retry_on_stale(claim, conflict=kept_changing, attempts=_MAX_RACES)
        if claimed is not None:
            await self._sync(claimed)

    async def _sync(self, claimed: Versioned) -> None:
        read = partial(self._states.get, claimed.state.id)
        for _ in range(_MAX_RACES):
            await self._to_hub(claimed.state)
            latest = await self._retry(read)
            if latest is None or latest.etag == claimed.etag:
                return
            # A newer change was claimed while ours went to the hub; its hub call may have
            # landed first, so bring the hub to the newer state too.
            claimed = latest
        raise TransientError(f"installation {claimed.state.id} kept changing; retry")

    async def _to_hub(self, state: InstallationState) -> None:
        if state.deleted or state.platform is None or state.push_channel is None:
            await self._hubs.delete(state.id)
        else:
            await self._hubs.create_or_update(
                HubInstallation(state.id, state.platform, state.push_channel)
            )

    @staticmethod
    async def _retry(call: Callable[[], Awaitable[T]]) -> T:
        return await retry_transient(call, attempts=3)


def _desired(change: CreateOrUpdateInstallation | DeleteInstallation) -> InstallationState:
    if isinstance(change, DeleteInstallation):
        return InstallationState(
            id=change.installation_id, applied_at=change.accepted_at, deleted=True
        )
    return InstallationState(
        id=change.installation_id,
        applied_at=change.accepted_at,
        platform=change.platform,
        push_channel=change.push_channel,
    )
