"""Cashback's notifications reach citizens through the push capability's service: the one
edge between the two, wired here by the composition root (capabilities do not import each
other). Cashback sends as the registry's party ``cashback`` (role ``sender``), within its
limits, like any other public service."""

from __future__ import annotations

from datetime import datetime

from shared.parties.service import PartyRegistry
from shared.push.models import NotificationIn
from shared.push.service import PushRequests

SENDER = "cashback"


class CashbackPush:
    """:class:`shared.cashback.alerts.Notifier` on push's service."""

    def __init__(self, requests: PushRequests, parties: PartyRegistry) -> None:
        self._requests = requests
        self._parties = parties

    async def notify(
        self,
        fiscal_code: str,
        *,
        title: str,
        body: str,
        data: dict[str, str],
        key: str,
        now: datetime,
    ) -> None:
        party = await self._parties.get(SENDER)
        request = NotificationIn.model_validate(
            {
                "fiscalCode": fiscal_code,
                "title": title,
                "body": body,
                "data": data,
                "notificationId": key,
            }
        )
        await self._requests.notify(party, request, now=now)
