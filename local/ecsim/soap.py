"""The simulated station's paForNode side (SOAP 1.1): paVerifyPaymentNotice, paGetPaymentV2 and
paSendRTV2 on ``POST /paForNode``, answered from the same books as the JSON routes.

It speaks as an EC does: only ``PAA_*`` codes, never the node's ``PPT_*``. A request the
project's XSD refuses (xmlschema, :mod:`local.ecsim.schema`) is a KO ``PAA_SINTASSI_XSD``. A KO
is HTTP 200 with the primitive's response element; a body that is no envelope or no primitive
served is HTTP 400 with a SOAP Fault whose string starts ``PAA_SINTASSI_EXTRAXSD``. A wrong
credential is HTTP 401 with no body (as the gateway in front of a station answers), and an
inactive service HTTP 503 with no body: the node, not the EC, turns those into its own codes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree
from pydantic import ValidationError

from local.ecsim.book import Book, Refusal
from local.ecsim.models import Notice, ReceiptIn, VerifyIn
from local.ecsim.schema import schema_errors
from shared.pagopa import ec, faults, soap
from shared.pagopa.common import EntityUniqueIdentifier, Response, Subject
from shared.pagopa.xml import XmlModel
from shared.platform.clock import ROME

SOAP_PATH = "/paForNode"
OPERATION_OF = {
    "paVerifyPaymentNoticeReq": "verify",
    "paGetPaymentV2Request": "activate",
    "paSendRTV2Request": "receipt",
}
"""Each request element and the counter it counts in (the JSON routes' names)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer(book: Book, raw: bytes, now: datetime) -> tuple[int, bytes, str | None, str]:
    """(HTTP status, body, the counter's operation or None, ``OK`` or the fault code)."""
    try:
        message = soap.parse(raw)
    except soap.NotAnEnvelope as error:
        reason = f"{faults.PAA_SINTASSI_EXTRAXSD}: {error}"
        return 400, soap.soap_fault(reason), None, faults.PAA_SINTASSI_EXTRAXSD
    if message.namespace != ec.NAMESPACE or message.name not in ec.REQUESTS:
        reason = f"{faults.PAA_SINTASSI_EXTRAXSD}: {message.name} is not a paForNode primitive"
        return 400, soap.soap_fault(reason), None, faults.PAA_SINTASSI_EXTRAXSD
    operation = OPERATION_OF[message.name]
    tag = etree.QName(ec.NAMESPACE, ec.RESPONSES[message.name])
    ec_id = message.element.findtext("idPA") or "unknown"
    invalid = schema_errors(message.element)
    if invalid:
        fault = faults.ec_fault(faults.PAA_SINTASSI_XSD, ec_id, "; ".join(invalid)[:1000])
        refused = Response(outcome="KO", fault=fault)
        return 200, soap.serialise(refused.to_element(tag)), operation, faults.PAA_SINTASSI_XSD
    try:
        request = ec.REQUESTS[message.name].from_element(message.element)
        result = _serve(book, request, now)
    except ValidationError as error:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e['loc'])}: {e['type']}" for e in error.errors()[:5]
        )
        fault = faults.ec_fault(faults.PAA_SINTASSI_XSD, ec_id, problems)
        result = Response(outcome="KO", fault=fault)
    except Refusal as refusal:
        fault = faults.ec_fault(refusal.fault_code, ec_id, refusal.description)
        result = Response(outcome="KO", fault=fault)
    code = result.fault.fault_code if isinstance(result, Response) and result.fault else "OK"
    return 200, soap.serialise(result.to_element(tag)), operation, code


def _serve(book: Book, request: ec.EcRequest, now: datetime) -> XmlModel:
    if isinstance(request, ec.PaVerifyPaymentNoticeReq):
        qr = request.qr_code
        notice = book.verify_notice(_ref(qr.fiscal_code, qr.notice_number), now)
        return ec.PaVerifyPaymentNoticeRes(
            outcome="OK",
            payment_list=ec.PaymentOptionsDescriptionListPA(
                payment_option_description=ec.PaymentOptionDescriptionPA(
                    amount=notice.amount,
                    options="EQ",
                    due_date=notice.due_date.astimezone(ROME).date(),
                    all_ccp=False,
                )
            ),
            payment_description=_cut(notice.description, 140),
            fiscal_code_pa=notice.pa_fiscal_code,
            company_name=_cut(notice.company_name, 140),
        )
    if isinstance(request, ec.PaGetPaymentV2Request):
        notice = book.payment(
            _ref(request.qr_code.fiscal_code, request.qr_code.notice_number), request.amount, now
        )
        return ec.PaGetPaymentV2Response(outcome="OK", data=_payment(notice))
    assert isinstance(request, ec.PaSendRTV2Request)
    receipt = request.receipt
    body: dict[str, Any] = {
        "receiptId": receipt.receipt_id,
        "paymentToken": receipt.receipt_id,
        "paFiscalCode": receipt.fiscal_code,
        "noticeNumber": receipt.notice_number,
        "amount": receipt.payment_amount,
        "pspId": receipt.id_psp,
        "paymentDateTime": (receipt.payment_date_time or now).isoformat(),
        "paymentMethod": receipt.payment_method or "other",
        "fee": receipt.fee or 0,
        "standIn": bool(receipt.stand_in),
        "outcome": receipt.outcome,
        "debtor": receipt.debtor.full_name,
        "iban": receipt.transfer_list.transfer[0].iban,
    }
    moment = receipt.payment_date_time or now
    parsed = ReceiptIn.model_validate(
        {**body, "paymentDateTime": (moment if moment.tzinfo else moment.replace(tzinfo=UTC))}
    )
    book.receive(parsed, body, now)
    return ec.PaSendRTV2Response(outcome="OK")


def _ref(pa: str, notice_number: str) -> VerifyIn:
    return VerifyIn(pa_fiscal_code=pa, notice_number=notice_number)


def _payment(notice: Notice) -> ec.PaymentPAV2:
    return ec.PaymentPAV2(
        creditor_reference_id=notice.notice_number[1:],
        payment_amount=notice.amount,
        due_date=notice.due_date.astimezone(ROME).date(),
        description=_cut(notice.description, 140),
        company_name=_cut(notice.company_name, 140),
        debtor=Subject(
            unique_identifier=EntityUniqueIdentifier(type="F", value="ANONIMO"),
            full_name="ANONIMO",
        ),
        transfer_list=ec.TransferListPAV2(
            transfer=[
                ec.TransferPAV2(
                    id_transfer=1,
                    transfer_amount=notice.amount,
                    fiscal_code_pa=notice.pa_fiscal_code,
                    iban=DEMO_IBAN,
                    remittance_information=_cut(notice.description, 140),
                    transfer_category="9/0101100IM/",
                )
            ]
        ),
    )


DEMO_IBAN = "IT60X0542811101000000123456"
"""The simulator's account for every transfer (the well-known example IBAN)."""
