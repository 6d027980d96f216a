"""Reconciliation: every recorded receipt delivered to its EC's station, once.

A message of ``%STANDIN_RECEIPTS_QUEUE%`` names a payment; the receipt itself is read from the
payment document, which also records the delivery. So a redelivered or re-sent message after a
delivery changes nothing, and a crash between the EC's answer and that record makes the next
attempt ask again, which the EC answers "duplicate": success as well. Before it calls the EC an
attempt takes a short lease on the delivery (an ETag-guarded write): a second copy of the
message arriving meanwhile (a lost lock, a re-send) waits for the lease instead of calling too.

While the EC is down the message is rescheduled with growing delays (RescheduleLater); a
refusal that will not change (the EC says the receipt is malformed) is failed work.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from pydantic import ValidationError

from shared.journal.models import Entry
from shared.journal.service import Journal
from shared.notices.models import Position
from shared.pagopa.ec import PaSendRTV2Request
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.errors import (
    Conflict,
    DependencyError,
    DomainError,
    Invalid,
    NotFound,
    PermanentError,
    RescheduleLater,
    TransientError,
)
from shared.platform.retry import in_hand_then_read, retry_on_stale
from shared.platform.values import decode_json
from shared.standin.models import RECEIPT_DUPLICATE, NoticeRef
from shared.standin.payments import MAX_ATTEMPTS, Archive, mark_paid
from shared.standin.soapstation import receipt_request
from shared.standin.stations import Answer, StationCalls, StationRef, Stations
from shared.standin.store import StandInStore, payment_key

logger = logging.getLogger(__name__)


def _reference(raw: bytes) -> tuple[NoticeRef, str]:
    try:
        event = decode_json(raw)
        data = event["data"]
        return NoticeRef.model_validate(
            {"paFiscalCode": data["paFiscalCode"], "noticeNumber": data["noticeNumber"]}
        ), str(data["receiptId"])
    except Invalid as error:
        raise PermanentError(f"not a receipt event: {error.detail}") from None
    except (KeyError, TypeError, ValidationError) as error:
        raise PermanentError(f"not a receipt event: {error}") from None


class Receipts:
    def __init__(
        self,
        store: StandInStore,
        archive: Archive,
        stations: Stations,
        client: StationCalls,
        *,
        lease: timedelta = timedelta(seconds=15),
        journal: Journal | None = None,
    ) -> None:
        self._journal = journal
        self._store = store
        self._archive = archive
        self._stations = stations
        self._client = client
        self._lease = lease

    async def deliver(self, raw: bytes, *, now: datetime) -> str:
        """Deliver the receipt a queue message names; returns how it ended (for logs/tests)."""
        notice, receipt_id = _reference(raw)
        key = payment_key(notice.pa_fiscal_code, notice.notice_number)
        document = await self._store.get(key)
        paid: dict[str, Any] | None = (document or {}).get("paid")
        if document is None or paid is None or paid["receiptId"] != receipt_id:
            raise PermanentError(
                f"no recorded receipt {receipt_id} for notice "
                f"{notice.notice_number} of {notice.pa_fiscal_code}"
            )
        delivered = document.get("delivered")
        if delivered and delivered.get("receiptId") == receipt_id:
            return "already delivered"
        document = await self._take_lease(document, receipt_id, now=now)
        try:
            await mark_paid(self._archive, paid, now=now)
        except DependencyError as error:
            raise TransientError(f"archive: {error}") from error
        except (Conflict, NotFound) as error:
            logger.error(
                "receipt %s: the archive refused to record it (%s); delivering it to the EC anyway",
                receipt_id,
                error.detail,
            )
        try:
            station = await self._stations.for_notice(notice.pa_fiscal_code, notice.notice_number)
        except DomainError as error:
            raise RescheduleLater(f"no station to deliver to: {error.detail}") from None
        answer = await self._client.call(
            station, "receipt", await self._receipt(station, paid, now=now)
        )
        ended = _ending(answer, station.station_id)
        # Before the delivery is recorded: a redelivery after a failure here journals again
        # (the same entry id: nothing new), while after the record it would stop at "already".
        await self._journalise(paid, station.station_id, ended, now=now)
        await self._record(document, receipt_id, answer, now=now)
        return ended

    async def _journalise(
        self, paid: dict[str, Any], station_id: str, ended: str, *, now: datetime
    ) -> None:
        if self._journal is None:
            return
        await self._journal.record(
            Entry(
                id=f"receipt-{paid['receiptId']}",
                ec=paid["paFiscalCode"],
                at=now,
                kind="receipt.delivered",
                object=paid["noticeNumber"],
                summary="Ricevuta consegnata all'ente",
                fields={"receiptId": paid["receiptId"], "station": station_id, "answer": ended},
            )
        )

    async def _receipt(
        self, station: StationRef, paid: dict[str, Any], *, now: datetime
    ) -> PaSendRTV2Request:
        """The paSendRTV2 of ``paid``, with the notice's debtor and account from the archive."""
        pa, nav = paid["paFiscalCode"], paid["noticeNumber"]
        try:
            position: Position | None = await self._archive.get(pa, nav, now=now)
        except NotFound:
            position = None
        except DependencyError as error:
            raise TransientError(f"archive: {error}") from error
        ec_party = await self._stations.party(pa)
        psp_party = await self._stations.party(paid["pspId"])
        try:
            return receipt_request(
                station,
                paid,
                position=position,
                ec_name=ec_party.name if ec_party else pa,
                psp_name=psp_party.name if psp_party else paid["pspId"],
                iban=ec_party.default_iban if ec_party else None,
            )
        except ValueError as error:
            raise PermanentError(f"receipt {paid['receiptId']}: {error}") from None

    async def _take_lease(self, document: Document, receipt_id: str, *, now: datetime) -> Document:
        lease = document.get("delivering")
        if (
            lease
            and lease["receiptId"] == receipt_id
            and datetime.fromisoformat(lease["until"]) > now
        ):
            raise RescheduleLater(
                f"receipt {receipt_id} is being delivered by another attempt "
                f"until {lease['until']}",
                delay_seconds=self._lease.total_seconds(),
            )
        until = now + self._lease
        # This message is the receipt event, received: the outbox need not send it again.
        outbox = [
            e
            for e in document.get("outbox") or []
            if (e.get("data") or {}).get("receiptId") != receipt_id
        ]
        try:
            return await self._store.replace(
                {
                    **document,
                    "outbox": outbox,
                    "delivering": {"receiptId": receipt_id, "until": until.isoformat()},
                }
            )
        except StaleDocument:
            raise TransientError(f"payment of receipt {receipt_id} changed meanwhile") from None

    async def _record(
        self, document: Document, receipt_id: str, answer: Answer, *, now: datetime
    ) -> None:
        record = {
            "receiptId": receipt_id,
            "at": now.isoformat(),
            "status": answer.status,
            "answer": answer.fault_code or "OK",
        }
        in_hand: Document | None = document
        current = in_hand_then_read(
            in_hand, partial(self._store.get, (document["id"], document["pk"]))
        )

        async def step() -> None:
            latest = await current()
            if latest is not None:
                await self._store.replace({**latest, "delivered": record, "delivering": None})

        busy = DependencyError("cosmos", f"payment {document['id']} kept changing")
        await retry_on_stale(step, conflict=busy, attempts=MAX_ATTEMPTS)


def _ending(answer: Answer, station_id: str) -> str:
    """'delivered' or 'duplicate'; otherwise raises how the work ends."""
    if answer.accepted:
        return "delivered"
    if answer.outcome == "ok" and answer.status == 409 and answer.fault_code == RECEIPT_DUPLICATE:
        return "duplicate"
    where = f"station {station_id}"
    if answer.outcome != "ok":
        raise RescheduleLater(f"{where}: {answer.outcome} ({answer.detail})")
    if answer.status in (401, 403):
        raise RescheduleLater(
            f"{where} refused our credential ({answer.fault_code}); fix the station's secret"
        )
    raise PermanentError(
        f"{where} refused the receipt: status {answer.status} "
        f"{answer.fault_code}: {(answer.body or {}).get('description', '')}"
    )
