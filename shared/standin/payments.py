"""A notice's payment document in the stand-in container: its live token (the lock of
concurrent activations), the outcomes PSPs reported, the receipt and its delivery event; and the
claim that makes a receipt id name one payment of an EC.

The gateway writes them (activate, outcome) and the receipts' delivery records on the payment;
both mark the archive's position PAID with :func:`mark_paid`.

An EC takes one receipt per receipt id (a second one is "duplicate", which delivery must count as
success), so before an outcome is recorded its receipt id is claimed by creating the document
:func:`~shared.standin.store.receipt_key` names: the create that fails means another payment of
the EC has it. A receipt id that is the outcome's own payment token (SANP's rule) needs no claim,
since no other payment may take a payment token as its receipt id (:func:`needs_claim`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any, Protocol

from shared.notices.models import PaidWith, Position
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.errors import Conflict, NotFound
from shared.platform.outbox import Event, add_events
from shared.standin.models import NoticeRef, OutcomeIn, OutcomeOut
from shared.standin.store import receipt_key

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""ETag conflicts on one payment document before a write gives up (503: retry)."""
RECEIPT_EVENT = "standin.receipt"
PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"
UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
TOKEN_NOT_LIVE = "TOKEN_NOT_LIVE"
RECEIPT_REUSED = "RECEIPT_REUSED"


class Archive(Protocol):
    async def get(self, pa_fiscal_code: str, nav: str, *, now: datetime) -> Position: ...

    async def mark_paid(
        self,
        pa_fiscal_code: str,
        nav: str,
        *,
        receipt_id: str,
        paid_at: datetime,
        by: str,
        stand_in: bool,
        now: datetime,
        check_payable: bool | None = None,
        paid_with: PaidWith | None = None,
    ) -> Position: ...


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NOTICE_CHARS = 17
"""Base-62 digits of the notice's 29 decimal ones (62**17 > 10**29)."""
_RANDOM_CHARS = 18
"""Random base-62 digits: about 107 bits."""


def _base62(number: int, width: int) -> str:
    """``number`` (below 62**width) as ``width`` base-62 digits, the most significant first."""
    digits = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return "".join(reversed(digits))


def new_token(pa_fiscal_code: str, notice_number: str) -> str:
    """A payment token of 35 characters (SANP's ``stPaymentToken`` takes at most 35) that names
    its notice, so an outcome finds the payment with one point read: the EC's fiscal code and
    the notice number as 17 base-62 digits, then 18 random ones."""
    notice = _base62(int(pa_fiscal_code + notice_number), _NOTICE_CHARS)
    # One draw for the whole random part (uniform over 62**18, as 18 draws of one digit each
    # are): one system call, not 18.
    return notice + _base62(secrets.randbelow(62**_RANDOM_CHARS), _RANDOM_CHARS)


def token_notice(token: str) -> tuple[str, str]:
    """The EC's fiscal code and the notice number a token of :func:`new_token` names."""
    number = 0
    for char in token[:_NOTICE_CHARS]:
        number = number * 62 + _BASE62.index(char)
    digits = f"{number:029d}"
    return digits[:11], digits[11:]


def is_live(token: dict[str, Any] | None, now: datetime) -> bool:
    return bool(
        token and token["state"] == "LIVE" and datetime.fromisoformat(token["expiresAt"]) > now
    )


async def mark_paid(archive: Archive, paid: dict[str, Any], *, now: datetime) -> None:
    """The receipt's notice PAID in the archive (idempotent). A notice the archive does not
    hold (an EC that does not publish there, in normal mode) is not an error."""
    try:
        await archive.mark_paid(
            paid["paFiscalCode"],
            paid["noticeNumber"],
            receipt_id=paid["receiptId"],
            paid_at=datetime.fromisoformat(paid["paymentDateTime"]),
            by=paid["pspId"],
            stand_in=paid["standIn"],
            now=now,
            check_payable=False,
            paid_with=PaidWith.model_validate(
                {"method": paid["paymentMethod"], "fee": paid["fee"], "payer": paid.get("payer")}
            ),
        )
    except NotFound:
        if paid["standIn"]:
            raise
        logger.info(
            "notice %s of %s is not in the archive", paid["noticeNumber"], paid["paFiscalCode"]
        )


def token_owner(current: Document, payment_token: str) -> str | None:
    """The PSP ``payment_token`` was issued to, as far as the payment remembers it (the live
    token, the outcomes reported, the receipt), or None."""
    token = current.get("token") or {}
    if token.get("paymentToken") == payment_token:
        return str(token["pspId"])
    for seen in current.get("outcomes") or []:
        if seen["paymentToken"] == payment_token and seen.get("pspId"):
            return str(seen["pspId"])
    paid = current.get("paid") or {}
    if paid.get("paymentToken") == payment_token:
        return str(paid["pspId"])
    return None


def is_token_of(text: str, pa_fiscal_code: str) -> bool:
    """``text`` has the shape of a payment token of :func:`new_token` naming a notice of
    ``pa_fiscal_code`` (by chance, a receipt id a PSP chose has it with odds of about 1e-12)."""
    if len(text) != _NOTICE_CHARS + _RANDOM_CHARS or any(c not in _BASE62 for c in text):
        return False
    return token_notice(text)[0] == pa_fiscal_code


def needs_claim(request: OutcomeIn) -> bool:
    """Whether ``request``'s receipt id must be claimed before its outcome is recorded.

    Not when it is the outcome's own payment token (SANP's receipt id, and so every outcome
    of the node's SOAP endpoint): a token is issued once, for one payment, and no other
    payment may use it as its receipt id. That is one Cosmos round trip less per payment.

    Raises:
        Conflict: RECEIPT_REUSED, the receipt id is another payment token of the EC (it is, or
            may become, the receipt id of the payment it was issued for).
    """
    if request.receipt_id == request.payment_token:
        return False
    pa, _ = token_notice(request.payment_token)
    if is_token_of(request.receipt_id, pa):
        raise Conflict(
            f"receipt {request.receipt_id} is another payment token of {pa}: a token is the "
            "receipt id of its own payment only",
            code=RECEIPT_REUSED,
        )
    return True


def receipt_claim(request: OutcomeIn, *, now: datetime) -> Document:
    """The document whose creation gives ``request``'s receipt id to its payment token."""
    pa, nav = token_notice(request.payment_token)
    key = receipt_key(pa, request.receipt_id)
    return {
        "id": key[0],
        "pk": key[1],
        "kind": "receipt",
        "paFiscalCode": pa,
        "receiptId": request.receipt_id,
        "noticeNumber": nav,
        "paymentToken": request.payment_token,
        "pspId": request.psp_id,
        "at": now.isoformat(),
    }


def check_claim(claim: Document | None, request: OutcomeIn) -> None:
    """Conflict unless the existing claim of the receipt id is ``request``'s own (an earlier
    attempt of this outcome claimed it, then lost its race or crashed before recording it).

    Raises:
        StaleDocument: the claim vanished since its create failed (never deleted: read again).
    """
    if claim is None:
        pa, _ = token_notice(request.payment_token)
        raise StaleDocument(receipt_key(pa, request.receipt_id)[0])
    if claim["paymentToken"] != request.payment_token:
        raise Conflict(
            f"receipt {request.receipt_id} is the receipt of another payment of "
            f"{claim['paFiscalCode']}: the EC takes one receipt per receipt id",
            code=RECEIPT_REUSED,
        )


def new_payment(key: tuple[str, str], notice: NoticeRef) -> Document:
    return {
        "id": key[0],
        "pk": key[1],
        "kind": "payment",
        "paFiscalCode": notice.pa_fiscal_code,
        "noticeNumber": notice.notice_number,
        "token": None,
        "paid": None,
        "outcomes": [],
        "delivered": None,
        "outbox": [],
    }


def repeated_outcome(current: Document, request: OutcomeIn) -> OutcomeOut | None:
    """The answer already given to this receiptId, if any (Conflict if it named another
    token or outcome)."""
    for seen in current.get("outcomes") or []:
        if seen["receiptId"] != request.receipt_id:
            continue
        if seen["paymentToken"] != request.payment_token or seen["outcome"] != request.outcome:
            raise Conflict(
                f"receipt {request.receipt_id} was used with another token or outcome",
                code=RECEIPT_REUSED,
            )
        return outcome_out(request, {"standIn": seen["standIn"]}, paid=request.outcome == "OK")
    return None


def with_outcome(
    current: Document, request: OutcomeIn, token: dict[str, Any], *, now: datetime, queue: str
) -> Document:
    ok = request.outcome == "OK"
    seen = {
        "receiptId": request.receipt_id,
        "paymentToken": request.payment_token,
        "outcome": request.outcome,
        "pspId": request.psp_id,
        "standIn": token["standIn"],
        "at": now.isoformat(),
    }
    document = {
        **current,
        "token": {**token, "state": "PAID" if ok else "RELEASED"},
        "outcomes": [*(current.get("outcomes") or []), seen][-20:],
        "outbox": list(current.get("outbox") or []),
    }
    if ok:
        paid = {
            "receiptId": request.receipt_id,
            "paymentToken": request.payment_token,
            "paFiscalCode": token["paFiscalCode"],
            "noticeNumber": token["noticeNumber"],
            "amount": token["amount"],
            "pspId": request.psp_id,
            "paymentDateTime": request.payment_date_time.isoformat(),
            "paymentMethod": request.payment_method,
            "fee": request.fee,
            "payer": request.payer.model_dump(mode="json", by_alias=True)
            if request.payer
            else None,
            "standIn": token["standIn"],
            "stationId": token["stationId"],
            "recordedAt": now.isoformat(),
        }
        document["paid"] = paid
        event = Event.new(
            RECEIPT_EVENT,
            queue,
            {
                "paFiscalCode": paid["paFiscalCode"],
                "noticeNumber": paid["noticeNumber"],
                "receiptId": paid["receiptId"],
            },
            now=now,
        )
        add_events(document, [event])
    return document


def outcome_out(request: OutcomeIn, token: dict[str, Any], *, paid: bool) -> OutcomeOut:
    pa, nav = token_notice(request.payment_token)
    return OutcomeOut(
        receipt_id=request.receipt_id,
        payment_token=request.payment_token,
        outcome=request.outcome,
        status="PAID" if paid else "RELEASED",
        pa_fiscal_code=pa,
        notice_number=nav,
        stand_in=bool(token["standIn"]),
    )
