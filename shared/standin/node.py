"""The node's primitives a PSP calls, in SOAP (nodeForPsp): verifyPaymentNotice,
activatePaymentNoticeV2 and sendPaymentOutcomeV2, answered by the gateway (from the archive in
stand-in, by the EC's station in normal mode).

Every answer the primitive can give is HTTP 200 with its response element: OK, or KO with SANP's
fault. This module is the one place that maps the gateway's errors to the node's codes. Only a
body that is no SOAP 1.1 envelope, or names no primitive served, gets a SOAP Fault (HTTP 500, as
SOAP 1.1 over HTTP answers faults): there is no response element to put a KO in.

Texts longer than the contract allows (the archive takes 255 characters, SANP 140 or 210) are
cut to the limit, their last character an ellipsis: a PSP shows them to a citizen, and a refusal
would make a payable notice unpayable for its wording.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from lxml import etree
from pydantic import ValidationError

from shared.pagopa import faults, psp, soap
from shared.pagopa.common import Response, Subject
from shared.pagopa.faults import Fault
from shared.pagopa.xml import XmlModel
from shared.parties.models import Party
from shared.platform.errors import (
    CentroStellaError,
    DependencyError,
    DomainError,
    Forbidden,
    NotFound,
    UpstreamFailed,
)
from shared.standin import payments, rules
from shared.standin.channels import Channels, NodeRefusal
from shared.standin.models import (
    ActivateIn,
    Activation,
    NoticeAnswer,
    NoticeRef,
    OutcomeIn,
    OutcomeOut,
    OutcomePayer,
)
from shared.standin.stations import NO_STATION, UNKNOWN_EC

logger = logging.getLogger(__name__)

SERVED = frozenset(psp.REQUESTS)


class GatewayPort(Protocol):
    async def verify(self, party: Party, notice: NoticeRef, *, now: datetime) -> NoticeAnswer: ...

    async def activate(
        self,
        party: Party,
        request: ActivateIn,
        *,
        now: datetime,
        lifetime: timedelta | None = None,
    ) -> Activation: ...

    async def outcome(self, party: Party, request: OutcomeIn, *, now: datetime) -> OutcomeOut: ...


_NODE_CODES = {
    rules.UNKNOWN_NOTICE: faults.PPT_PAGAMENTO_SCONOSCIUTO,
    rules.ALREADY_PAID: faults.PPT_PAGAMENTO_DUPLICATO,
    payments.PAYMENT_IN_PROGRESS: faults.PPT_PAGAMENTO_IN_CORSO,
    payments.UNKNOWN_TOKEN: faults.PPT_TOKEN_SCONOSCIUTO,
    payments.TOKEN_NOT_LIVE: faults.PPT_TOKEN_SCADUTO,
    payments.RECEIPT_REUSED: faults.PPT_ESITO_GIA_ACQUISITO,
    UNKNOWN_EC: faults.PPT_DOMINIO_SCONOSCIUTO,
    NO_STATION: faults.PPT_STAZIONE_INT_PA_SCONOSCIUTA,
    "STATION_TIMEOUT": faults.PPT_STAZIONE_INT_PA_TIMEOUT,
    "STATION_UNREACHABLE": faults.PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE,
    "STATION_NOT_ACTIVE": faults.PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO,
    "STATION_ERROR": faults.PPT_STAZIONE_INT_PA_ERRORE_RESPONSE,
}


def fault_of(error: CentroStellaError, *, ec_id: str | None) -> Fault:
    """The KO's fault for an error of the gateway (the one mapping of errors to SANP)."""
    if isinstance(error, DependencyError):
        return faults.node_fault(faults.PPT_SYSTEM_ERROR, "a dependency is busy: retry")
    if not isinstance(error, DomainError):
        return faults.node_fault(faults.PPT_SYSTEM_ERROR)
    code = error.code or ""
    detail = error.detail
    if code in _NODE_CODES:
        return faults.node_fault(_NODE_CODES[code], detail)
    if code.startswith("PAA_") and ec_id is not None:
        return faults.forwarded(faults.ec_fault(code, ec_id, detail))
    if code in faults.STATION_FAILURES:
        return faults.node_fault(code, detail)
    if isinstance(error, Forbidden):
        return faults.node_fault(faults.PPT_AUTORIZZAZIONE, detail)
    if isinstance(error, NotFound):
        return faults.node_fault(faults.PPT_PAGAMENTO_SCONOSCIUTO, detail)
    if isinstance(error, UpstreamFailed):
        return faults.node_fault(faults.PPT_STAZIONE_INT_PA_ERRORE_RESPONSE, detail)
    # Expired, not payable (in stand-in), a wrong amount: the request contradicts the notice.
    return faults.node_fault(faults.PPT_SEMANTICA, detail)


def cut(text: str | None, limit: int) -> str | None:
    """``text`` within ``limit`` characters (an ellipsis ends one that was longer)."""
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def creditor_reference_id(notice_number: str) -> str:
    """The IUV a notice number carries: after the aux digit and, with aux digit 0, the
    application code too."""
    return notice_number[3:] if notice_number.startswith("0") else notice_number[1:]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


def _syntax(error: ValidationError) -> str:
    # Locations and kinds only: an input may be the password.
    problems = [
        f"{'/'.join(str(p) for p in item['loc'])}: {item['type']}" for item in error.errors()[:5]
    ]
    return "; ".join(problems)


class Node:
    def __init__(self, channels: Channels, gateway: GatewayPort) -> None:
        self._channels = channels
        self._gateway = gateway

    async def answer(self, raw: bytes, *, now: datetime) -> Reply:
        try:
            message = soap.parse(raw)
        except soap.NotAnEnvelope as error:
            return Reply(500, soap.soap_fault(f"{faults.PPT_SINTASSI_EXTRAXSD}: {error}"))
        if message.namespace != psp.NAMESPACE or message.name not in SERVED:
            return Reply(
                500,
                soap.soap_fault(
                    f"{faults.PPT_SINTASSI_EXTRAXSD}: {message.name} is not a primitive served "
                    "here (verifyPaymentNotice, activatePaymentNoticeV2, sendPaymentOutcomeV2)"
                ),
            )
        response = etree.QName(psp.NAMESPACE, psp.RESPONSES[message.name])
        try:
            request = psp.REQUESTS[message.name].from_element(message.element)
        except ValidationError as error:
            fault = faults.node_fault(faults.PPT_SINTASSI_XSD, _syntax(error))
            return _reply(Response(outcome="KO", fault=fault), response)
        ec_id = _ec_of(request)
        try:
            party = await self._channels.authenticate(request)
            answered = await self._serve(party, request, now=now)
        except NodeRefusal as refusal:
            fault = faults.node_fault(refusal.code, refusal.description)
            return _reply(Response(outcome="KO", fault=fault), response)
        except (DomainError, DependencyError) as error:
            logger.info("%s refused: %s", message.name, error)
            return _reply(Response(outcome="KO", fault=fault_of(error, ec_id=ec_id)), response)
        return _reply(answered, response)

    async def _serve(self, party: Party, request: psp.PspRequest, *, now: datetime) -> XmlModel:
        if isinstance(request, psp.VerifyPaymentNoticeReq):
            return await self._verify(party, request, now=now)
        if isinstance(request, psp.ActivatePaymentNoticeV2Request):
            return await self._activate(party, request, now=now)
        assert isinstance(request, psp.SendPaymentOutcomeV2Request)
        return await self._outcome(party, request, now=now)

    async def _verify(
        self, party: Party, request: psp.VerifyPaymentNoticeReq, *, now: datetime
    ) -> psp.VerifyPaymentNoticeRes:
        notice = NoticeRef(
            pa_fiscal_code=request.qr_code.fiscal_code,
            notice_number=request.qr_code.notice_number,
        )
        found = await self._gateway.verify(party, notice, now=now)
        return psp.VerifyPaymentNoticeRes(
            outcome="OK",
            payment_list=psp.PaymentOptionsDescriptionList(
                payment_option_description=[
                    psp.PaymentOptionDescription(
                        amount=found.amount, options="EQ", due_date=found.due_date.date()
                    )
                ]
            ),
            payment_description=cut(found.description, 210),
            fiscal_code_pa=found.pa_fiscal_code,
            company_name=cut(found.company_name, 140),
            standin=found.stand_in,
        )

    async def _activate(
        self, party: Party, request: psp.ActivatePaymentNoticeV2Request, *, now: datetime
    ) -> psp.ActivatePaymentNoticeV2Response:
        activation = await self._gateway.activate(
            party,
            ActivateIn(
                pa_fiscal_code=request.qr_code.fiscal_code,
                notice_number=request.qr_code.notice_number,
                amount=request.amount,
                # Without a key a repeat is a new activation, as SANP has it.
                idempotency_key=request.idempotency_key or f"none_{secrets.token_hex(8)}",
                psp_id=request.id_psp,
            ),
            now=now,
            lifetime=(
                timedelta(milliseconds=request.expiration_time) if request.expiration_time else None
            ),
        )
        return psp.ActivatePaymentNoticeV2Response(
            outcome="OK",
            total_amount=activation.amount,
            payment_description=cut(activation.description, 140),
            fiscal_code_pa=activation.pa_fiscal_code,
            company_name=cut(activation.company_name, 140),
            payment_token=activation.payment_token,
            creditor_reference_id=creditor_reference_id(activation.notice_number),
            standin=activation.stand_in,
        )

    async def _outcome(
        self, party: Party, request: psp.SendPaymentOutcomeV2Request, *, now: datetime
    ) -> psp.SendPaymentOutcomeV2Response:
        details = request.details
        # A cart of up to five tokens: each is recorded in turn, and the first refusal is the
        # answer (the ones before it stay recorded, and a repeat of the request finds them so).
        for token in request.payment_tokens.payment_token:
            try:
                outcome = OutcomeIn(
                    payment_token=token,
                    outcome=request.outcome,
                    psp_id=request.id_psp,
                    # SANP's receipt id is the payment token.
                    receipt_id=token,
                    payment_date_time=now,
                    payment_method=details.payment_method if details else "other",
                    fee=details.fee if details else 0,
                    payer=_payer(details.payer if details else None),
                )
            except ValidationError:
                raise NotFound(
                    f"unknown payment token {token}", code=payments.UNKNOWN_TOKEN
                ) from None
            await self._gateway.outcome(party, outcome, now=now)
        return psp.SendPaymentOutcomeV2Response(outcome="OK")


def _ec_of(request: psp.PspRequest) -> str | None:
    qr = getattr(request, "qr_code", None)
    return qr.fiscal_code if qr is not None else None


def _reply(answer: XmlModel, tag: etree.QName) -> Reply:
    return Reply(200, soap.serialise(answer.to_element(tag)))


def _payer(subject: Subject | None) -> OutcomePayer | None:
    if subject is None:
        return None
    return OutcomePayer(fiscal_code=subject.unique_identifier.value, full_name=subject.full_name)
