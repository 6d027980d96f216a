"""The payment gateway: verify, activate and outcome, forwarded to the EC's station in normal
mode and answered from the notice archive in stand-in.

Whatever the mode, each notice has one payment document here: the live token locks the notice
(an ETag-conditioned write, so of concurrent activations exactly one wins), and an OK outcome
records the receipt and its delivery event in the same write (the outbox), so a crash after it
loses nothing. A mode change between activation and outcome cannot make a notice payable twice.
An outcome is checked in full (whose token, in which state) before its first write: the claim
of its receipt id, which keeps each receipt id to one payment of the EC.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError

from shared.notices.models import Position
from shared.parties.models import Party
from shared.platform.cosmos import Document, StaleDocument
from shared.platform.errors import (
    Conflict,
    DependencyError,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    UpstreamFailed,
)
from shared.platform.retry import KeptLosing, in_hand_then_read, retry_on_stale
from shared.standin import rules
from shared.standin.models import (
    ActivateIn,
    Activation,
    EcActivateRequest,
    EcNotice,
    EcVerifyRequest,
    Mode,
    NoticeAnswer,
    NoticeRef,
    OutcomeIn,
    OutcomeOut,
)
from shared.standin.payments import (
    MAX_ATTEMPTS,
    PAYMENT_IN_PROGRESS,
    TOKEN_NOT_LIVE,
    UNKNOWN_TOKEN,
    Archive,
    check_claim,
    is_live,
    mark_paid,
    needs_claim,
    new_payment,
    new_token,
    outcome_out,
    receipt_claim,
    repeated_outcome,
    token_notice,
    token_owner,
    with_outcome,
)
from shared.standin.stations import Answer, Operation, StationCalls, StationRef, Stations
from shared.standin.store import StandInStore, payment_key
from shared.standin.traffic import Traffic

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, document: dict[str, Any], *, clear_now: bool = True) -> bool: ...


class Modes(Protocol):
    async def mode(self, station_id: str) -> Mode: ...


@dataclass(frozen=True)
class GatewayPolicy:
    token_lifetime: timedelta = timedelta(minutes=30)
    receipts_queue: str = "standin-receipts"


def ec_refusal(answer: Answer, station: StationRef) -> DomainError:
    """The error that carries a station's answer back to the caller as it is: an EC refusal
    keeps its status and fault code; a station failure is 502 (504 on timeout)."""
    where = f"station {station.station_id}"
    if answer.outcome == "timeout":
        return UpstreamFailed(
            f"{where} did not answer: {answer.detail}", status=504, code="STATION_TIMEOUT"
        )
    if answer.outcome == "unreachable":
        return UpstreamFailed(
            f"{where} is unreachable: {answer.detail}", code="STATION_UNREACHABLE"
        )
    if answer.outcome == "notActive":
        return UpstreamFailed(f"{where}: service not active", code="STATION_NOT_ACTIVE")
    body = answer.body or {}
    code = answer.fault_code or "STATION_ERROR"
    detail = f"{where}: {body.get('description') or code}"
    classes: dict[int, type[DomainError]] = {404: NotFound, 409: Conflict, 410: Gone}
    if answer.status in classes:
        return classes[answer.status](detail, code=code)
    if answer.status == 422:
        return Invalid(detail, status=422, code=code)
    return UpstreamFailed(f"{detail} (status {answer.status})", code=code)


class Gateway:
    def __init__(
        self,
        store: StandInStore,
        archive: Archive,
        stations: Stations,
        client: StationCalls,
        traffic: Traffic,
        modes: Modes,
        publisher: Publisher,
        policy: GatewayPolicy,
    ) -> None:
        self._store = store
        self._archive = archive
        self._stations = stations
        self._client = client
        self._traffic = traffic
        self._modes = modes
        self._publisher = publisher
        self._policy = policy

    async def _route(self, notice: NoticeRef) -> tuple[StationRef, bool]:
        station = await self._stations.for_notice(notice.pa_fiscal_code, notice.notice_number)
        return station, await self._modes.mode(station.station_id) == "STANDIN"

    async def _forward(
        self, station: StationRef, operation: Operation, payload: Any, now: datetime
    ) -> EcNotice:
        answer = await self._client.call(station, operation, payload)
        await self._traffic.record(station.station_id, answer.outcome, now=now)
        if not answer.accepted:
            raise ec_refusal(answer, station)
        try:
            return EcNotice.model_validate(answer.body)
        except ValidationError as error:
            raise UpstreamFailed(
                f"station {station.station_id} answered {operation} with a "
                f"malformed body: {error.error_count()} errors",
                code="STATION_ERROR",
            ) from None

    async def _position(self, notice: NoticeRef, *, amount: int | None, now: datetime) -> Position:
        try:
            position = await self._archive.get(notice.pa_fiscal_code, notice.notice_number, now=now)
        except NotFound:
            rules.check_payable(None, amount=amount, now=now)
            raise
        rules.check_payable(position, amount=amount, now=now)
        return position

    # ------------------------------------------------------------------ verify
    async def verify(self, party: Party, notice: NoticeRef, *, now: datetime) -> NoticeAnswer:
        station, stand_in = await self._route(notice)
        if stand_in:
            position = await self._position(notice, amount=None, now=now)
            return _answer(position, stand_in=True)
        found = await self._forward(
            station, "verify", EcVerifyRequest.model_validate(notice.model_dump(by_alias=True)), now
        )
        return NoticeAnswer(
            pa_fiscal_code=found.pa_fiscal_code,
            notice_number=found.notice_number,
            amount=found.amount,
            due_date=found.due_date,
            description=found.description,
            company_name=found.company_name,
            status=found.status,
            stand_in=False,
        )

    # ------------------------------------------------------------------ activate
    async def activate(
        self,
        party: Party,
        request: ActivateIn,
        *,
        now: datetime,
        lifetime: timedelta | None = None,
    ) -> Activation:
        """Lock the notice for a new live token (or return this very request's live one).

        ``lifetime``: how long the token lives when the caller asks (SANP's ``expirationTime``),
        never longer than the policy's.
        """
        live_for = min(lifetime, self._policy.token_lifetime) if lifetime else None
        _check_psp(party, request.psp_id)
        station, stand_in = await self._route(request)
        key = payment_key(request.pa_fiscal_code, request.notice_number)
        # Most notices have never been activated: create their payment document straight
        # away (one round trip); only when it exists is it read and checked.
        current = in_hand_then_read(None, partial(self._store.get, key))

        async def lock() -> Activation | tuple[Document, dict[str, Any]]:
            """The notice locked by a new live token (the document as written, the token),
            or the activation it already has for this very request."""
            document = await current()
            token = (document or {}).get("token")
            if document is not None and document.get("paid"):
                raise Conflict(
                    f"notice {request.notice_number} of {request.pa_fiscal_code} is already paid",
                    code=rules.ALREADY_PAID,
                )
            if token is not None and is_live(token, now):
                if (
                    token["idempotencyKey"] == request.idempotency_key
                    and token["pspId"] == request.psp_id
                ):
                    if "description" not in token:
                        raise Conflict(
                            "this activation is still being confirmed by the EC; repeat it shortly",
                            code=PAYMENT_IN_PROGRESS,
                        )
                    return Activation.model_validate(token)
                raise Conflict(
                    f"notice {request.notice_number} is being paid: another "
                    f"activation holds it until {token['expiresAt']}",
                    code=PAYMENT_IN_PROGRESS,
                )
            details: dict[str, Any] = {}
            if stand_in:
                position = await self._position(request, amount=request.amount, now=now)
                details = _answer(position, stand_in=True).model_dump(mode="json", by_alias=True)
            token = {
                "paymentToken": new_token(request.pa_fiscal_code, request.notice_number),
                "idempotencyKey": request.idempotency_key,
                "pspId": request.psp_id,
                "paFiscalCode": request.pa_fiscal_code,
                "noticeNumber": request.notice_number,
                "amount": request.amount,
                "standIn": stand_in,
                "stationId": station.station_id,
                "state": "LIVE",
                "issuedAt": now.isoformat(),
                "expiresAt": (now + (live_for or self._policy.token_lifetime)).isoformat(),
                **details,
            }
            locked = {**(document or new_payment(key, request)), "token": token}
            written = await (
                self._store.replace(locked) if document is not None else self._store.create(locked)
            )
            return written, token

        locked = await retry_on_stale(lock, conflict=_kept_changing(key), attempts=MAX_ATTEMPTS)
        if isinstance(locked, Activation):
            return locked
        written, token = locked
        if stand_in:
            return Activation.model_validate(token)
        return await self._activate_at_ec(station, written, token, now)

    async def _activate_at_ec(
        self, station: StationRef, written: Document, token: dict[str, Any], now: datetime
    ) -> Activation:
        request = EcActivateRequest.model_validate(
            {
                k: token[k]
                for k in (
                    "paFiscalCode",
                    "noticeNumber",
                    "amount",
                    "paymentToken",
                    "idempotencyKey",
                    "pspId",
                    "expiresAt",
                )
            }
        )
        try:
            found = await self._forward(station, "activate", request, now)
            if found.amount != token["amount"]:
                raise Invalid(
                    f"amount mismatch: the EC says {found.amount} cents, not {token['amount']}",
                    status=422,
                    code=rules.AMOUNT_MISMATCH,
                )
        except DomainError:
            await self._release(written, token["paymentToken"])
            raise
        details = _answer_fields(found)
        # What the EC said about the notice, kept for an idempotent repeat of the activation.
        await self._update_token(written, token["paymentToken"], details)
        return Activation.model_validate({**token, **details})

    async def _release(self, written: Document, payment_token: str) -> None:
        """Free the notice again after the EC refused (only while our token holds it)."""
        await self._update_token(written, payment_token, {"state": "RELEASED"})

    async def _update_token(
        self, written: Document, payment_token: str, changes: dict[str, Any]
    ) -> None:
        """Apply ``changes`` to the live token ``payment_token`` (nothing once it is not)."""
        in_hand: Document | None = written
        current = in_hand_then_read(
            in_hand, partial(self._store.get, (written["id"], written["pk"]))
        )

        async def step() -> None:
            document = await current()
            token = (document or {}).get("token") or {}
            if (
                document is None
                or token.get("paymentToken") != payment_token
                or token.get("state") != "LIVE"
            ):
                return
            await self._store.replace({**document, "token": {**token, **changes}})

        try:
            await retry_on_stale(step, conflict=KeptLosing(), attempts=MAX_ATTEMPTS)
        except KeptLosing:
            logger.warning(
                "payment %s kept changing; token %s not updated", written["id"], payment_token
            )

    # ------------------------------------------------------------------ outcome
    async def outcome(self, party: Party, request: OutcomeIn, *, now: datetime) -> OutcomeOut:
        _check_psp(party, request.psp_id)
        pa, nav = token_notice(request.payment_token)
        key = payment_key(pa, nav)

        async def record() -> OutcomeOut | tuple[Document, dict[str, Any]]:
            """The outcome written (the document as written, its token), or the answer given
            before to this very receipt."""
            current = await self._store.get(key)
            token = (current or {}).get("token")
            if current is None or token is None:
                raise NotFound("unknown payment token", code=UNKNOWN_TOKEN)
            # Whose token it is comes first: even a repeat would tell another PSP the notice's
            # state and mode.
            owner = token_owner(current, request.payment_token)
            if owner is not None and owner != request.psp_id:
                raise Forbidden("the token was issued to another PSP")
            repeated = repeated_outcome(current, request)
            if repeated is not None:
                if repeated.status == "PAID" and current.get("outbox"):
                    await self._publisher.publish(current, clear_now=False)
                return repeated
            if token["paymentToken"] != request.payment_token:
                if current.get("paid"):
                    raise Conflict(
                        "the notice was paid with another token", code=rules.ALREADY_PAID
                    )
                raise Conflict(
                    "this token was replaced by a later activation after it expired",
                    code=TOKEN_NOT_LIVE,
                )
            if token["state"] != "LIVE":
                raise Conflict(f"the token is {token['state'].lower()}", code=TOKEN_NOT_LIVE)
            await self._claim_receipt(request, now=now)
            document = with_outcome(
                current, request, token, now=now, queue=self._policy.receipts_queue
            )
            return await self._store.replace(document), token

        recorded = await retry_on_stale(record, conflict=_kept_changing(key), attempts=MAX_ATTEMPTS)
        if isinstance(recorded, OutcomeOut):
            return recorded
        written, token = recorded
        if request.outcome == "OK":
            await self._record_in_archive(written, now=now)
            # The delivery's first write clears the event (the sweep, if it never runs).
            await self._publisher.publish(written, clear_now=False)
        return outcome_out(request, token, paid=request.outcome == "OK")

    async def _claim_receipt(self, request: OutcomeIn, *, now: datetime) -> None:
        """The receipt id given to this outcome's token among the EC's payments: every check
        has passed, and the payment is written only after (Conflict if another payment has it).
        """
        if not needs_claim(request):
            return
        claim = receipt_claim(request, now=now)
        try:
            await self._store.create(claim)
        except StaleDocument:
            check_claim(await self._store.get((claim["id"], claim["pk"])), request)

    async def _record_in_archive(self, written: Document, *, now: datetime) -> None:
        paid = written["paid"]
        try:
            await mark_paid(self._archive, paid, now=now)
        except (DependencyError, DomainError) as error:
            # The receipt is recorded and its delivery first marks the archive again.
            logger.warning(
                "receipt %s recorded, archive not updated yet: %s", paid["receiptId"], error
            )


def _check_psp(party: Party, psp_id: str) -> None:
    if party.role == "psp" and party.party_id != psp_id:
        raise Forbidden(f"{party.party_id} may not act as PSP {psp_id}")


def _kept_changing(key: tuple[str, str]) -> DependencyError:
    """What a write gets after MAX_ATTEMPTS lost races: 503, retry (not the caller's fault)."""
    return DependencyError("cosmos", f"payment {key[0]} kept changing", retry_after=1)


def _answer(position: Position, *, stand_in: bool) -> NoticeAnswer:
    return NoticeAnswer(
        pa_fiscal_code=position.pa_fiscal_code,
        notice_number=position.nav,
        amount=position.amount,
        due_date=position.expiration_date,
        description=position.description,
        company_name=position.company_name,
        status=position.status,
        stand_in=stand_in,
    )


def _answer_fields(found: EcNotice) -> dict[str, Any]:
    return {
        "dueDate": found.due_date.isoformat(),
        "description": found.description,
        "companyName": found.company_name,
        "status": found.status,
    }
