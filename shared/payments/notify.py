"""The payments' pushes to citizens, through push's service as the sender ``payments``.

Two topics (:mod:`shared.push.preferences`): ``newNotice`` when the index first sees an open
notice a citizen owes, ``paymentReceived`` when a payment completes (to the payer and to the
debtor, once each when they are one citizen). They go through
:meth:`shared.push.service.PushRequests.notify_from_service`: queued as any sender's, recorded
with the sender ``payments`` (a party of role ``sender`` in the registry), outside the
per-minute limits of external senders; the push worker skips a citizen who opted out of the
topic or has no device. Each carries a notification id derived from the notice or the
receipt, so a second call for the same one (a redelivered event, a retried completion) enqueues
nothing new while the broker remembers the first.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from shared.auth.fiscal_code import parse_fiscal_code
from shared.parties.models import Party
from shared.payments.receipt_model import Receipt
from shared.platform.clock import Clock
from shared.platform.errors import Invalid
from shared.platform.pan import contains_pan
from shared.push.models import NotificationAccepted, NotificationIn
from shared.push.preferences import NEW_NOTICE, PAYMENT_RECEIVED

logger = logging.getLogger(__name__)

SENDER = "payments"
ROME = ZoneInfo("Europe/Rome")
NEW_NOTICE_TITLE = "Hai un nuovo avviso da pagare"
PAYMENT_RECEIVED_TITLE = "Pagamento ricevuto"


class Push(Protocol):
    async def notify_from_service(
        self, party: Party, request: NotificationIn, *, topic: str, now: datetime
    ) -> NotificationAccepted: ...


class Parties(Protocol):
    async def get(self, party_id: str) -> Party: ...


def euros(cents: int) -> str:
    """An amount as Italians write it: ``€ 1.234,50``."""
    whole, rest = divmod(cents, 100)
    return f"€ {whole:,}".replace(",", ".") + f",{rest:02d}"


def day(moment: datetime) -> str:
    """The calendar day of ``moment`` in Italy, ``dd/mm/yyyy``."""
    return moment.astimezone(ROME).strftime("%d/%m/%Y")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PaymentsNotifier:
    """Sends the payments' two notifications through push's service."""

    def __init__(self, push: Push, parties: Parties, clock: Clock) -> None:
        self._push = push
        self._parties = parties
        self._clock = clock

    async def new_notice(
        self,
        *,
        fiscal_code: str,
        ec_name: str,
        amount: int,
        due_date: datetime,
        notice_code: str,
        ec_fiscal_code: str,
        key: str,
    ) -> None:
        """ "You have a new notice to pay" to the debtor ``fiscal_code`` (``key``: the notice's
        own, the same at every call for one notice)."""
        body = f"{_short(ec_name, 140)}: {euros(amount)} entro il {day(due_date)}"
        await self._send(
            [fiscal_code],
            title=NEW_NOTICE_TITLE,
            body=body,
            data={"kind": NEW_NOTICE, "noticeRef": notice_ref(ec_fiscal_code, notice_code)},
            key=f"newNotice:{key}",
            topic=NEW_NOTICE,
        )

    async def payment_received(self, receipt: Receipt, *, receipt_url: str) -> None:
        """ "Payment received" with the receipt's link to the payer and the debtor (once when
        they are one citizen); a party that is not a citizen (a company's VAT number) is left
        out, as it has no app to notify."""
        codes = []
        for person in (receipt.payer, receipt.debtor):
            try:
                codes.append(parse_fiscal_code(person.fiscal_code))
            except Invalid:
                continue
        if not codes:
            return
        body = (
            f"{_short(receipt.ec_name, 140)}: {euros(receipt.total)} pagati per "
            f"{_short(receipt.description, 140)}. La ricevuta è disponibile."
        )
        await self._send(
            list(dict.fromkeys(codes)),
            title=PAYMENT_RECEIVED_TITLE,
            body=body,
            data={
                "kind": PAYMENT_RECEIVED,
                "receiptId": receipt.receipt_id,
                "receiptUrl": receipt_url,
                "noticeRef": notice_ref(receipt.ec_fiscal_code, receipt.notice_code),
            },
            key=f"paymentReceived:{receipt.receipt_id}",
            topic=PAYMENT_RECEIVED,
        )

    async def _send(
        self,
        codes: list[str],
        *,
        title: str,
        body: str,
        data: dict[str, str],
        key: str,
        topic: str,
    ) -> None:
        party = await self._parties.get(SENDER)
        request = NotificationIn.model_validate(
            {
                "fiscalCodes": codes,
                "title": title,
                "body": body,
                "data": _without_pans(data),
                "notificationId": notification_key(key),
            }
        )
        await self._push.notify_from_service(party, request, topic=topic, now=self._clock.now())


def notice_ref(ec_fiscal_code: str, notice_code: str) -> str:
    """How a push names a notice: the EC's fiscal code followed by the notice code, in one run
    of digits. An 18-digit notice code alone passes the card numbers' check digit one time in
    ten, and push refuses what looks like a card number (:mod:`shared.platform.pan`); a run
    longer than 19 digits is never one. The app splits it after the 11th character."""
    return ec_fiscal_code + notice_code


def _without_pans(data: dict[str, str]) -> dict[str, str]:
    """``data`` but for a value that would look like a card number (an identifier chosen by
    someone else: push would refuse the whole notification for it)."""
    kept = {k: v for k, v in data.items() if not contains_pan(v)}
    if len(kept) < len(data):
        logger.warning(
            "push data %s left out: it looks like a card number", sorted(set(data) - set(kept))
        )
    return kept


def notification_key(key: str) -> str:
    """A notification id push accepts (64 characters of ``[A-Za-z0-9._:-]``) for ``key``."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._:-") else "-" for c in key)
    if len(safe) <= 64 and safe == key:
        return key
    return key.split(":", 1)[0] + ":" + hashlib.sha256(key.encode()).hexdigest()[:40]
