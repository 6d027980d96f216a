"""Citizens' notification preferences: which topics of the platform's own notifications they
do not want.

Stored in the installation's state document (:class:`shared.push.store.InstallationState`,
``optedOut``), so the worker that sends a ``Notify`` reads them in the point read it makes
anyway; the worker carries them over every installation change, and a citizen may set them
before any device is registered (a state with no device, accepted at the earliest time, which
any installation change overrides but for the preferences). Written with the state's ETag, so
a preference and an installation change racing each other both land.

Topics are the kinds of notification the platform itself sends: ``newNotice`` (a creditor
institution published a notice the citizen owes) and ``paymentReceived`` (a payment of theirs,
or of a notice they owe, completed). Notifications of external senders have no topic.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.platform.cosmos import StaleDocument
from shared.platform.errors import Conflict, DependencyError, PreconditionFailed
from shared.platform.retry import retry_on_stale
from shared.push.hubs import installation_id
from shared.push.store import InstallationState, InstallationStates

NEW_NOTICE = "newNotice"
PAYMENT_RECEIVED = "paymentReceived"
TOPICS = (NEW_NOTICE, PAYMENT_RECEIVED)
_NEVER = datetime(2000, 1, 1, tzinfo=UTC)
"""When a preferences-only state counts as accepted: before any real installation change."""


class Preferences(BaseModel):
    """``PUT /api/v1/push/preferences`` and its answer: whether the caller wants each topic."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    new_notice: StrictBool = Field(
        default=True,
        alias="newNotice",
        description="A creditor institution published a notice the caller owes.",
    )
    payment_received: StrictBool = Field(
        default=True,
        alias="paymentReceived",
        description="A payment the caller made, or of a notice the caller owes, completed.",
    )

    def opted_out(self) -> list[str]:
        wanted = {NEW_NOTICE: self.new_notice, PAYMENT_RECEIVED: self.payment_received}
        return [topic for topic in TOPICS if not wanted[topic]]

    @classmethod
    def of(cls, opted_out: list[str]) -> Preferences:
        return cls(
            new_notice=NEW_NOTICE not in opted_out,
            payment_received=PAYMENT_RECEIVED not in opted_out,
        )


class PushPreferences:
    """Reads and writes the caller's preferences in their installation's state."""

    def __init__(self, states: InstallationStates) -> None:
        self._states = states

    async def get(self, fiscal_code: str) -> Preferences:
        current = await self._states.get(installation_id(fiscal_code))
        return Preferences.of(current.state.opted_out if current is not None else [])

    async def put(self, fiscal_code: str, wanted: Preferences) -> Preferences:
        """Store ``wanted`` (the whole set: PUT) and return it."""
        installation = installation_id(fiscal_code)
        opted_out = wanted.opted_out()

        async def step() -> None:
            current = await self._states.get(installation)
            if current is None:
                state = InstallationState(
                    id=installation, applied_at=_NEVER, deleted=True, opted_out=opted_out
                )
            elif current.state.opted_out == opted_out:
                return
            else:
                state = current.state.model_copy(update={"opted_out": opted_out})
            try:
                await self._states.put(state, etag=current.etag if current else None)
            except (Conflict, PreconditionFailed):
                raise StaleDocument(installation) from None

        await retry_on_stale(
            step,
            conflict=DependencyError(
                "cosmos", f"installation {installation} kept changing", retry_after=1
            ),
        )
        return Preferences.of(opted_out)
