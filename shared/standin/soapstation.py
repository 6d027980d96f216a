"""The node's calls to an EC's station in SOAP (paForNode): paVerifyPaymentNotice,
paGetPaymentV2 and paSendRTV2, on the one keep-alive session all stations share.

:class:`SoapStationClient` keeps :class:`~shared.standin.stations.StationClient`'s contract (an
:class:`~shared.standin.stations.Answer` per call, never an exception for a station's failure),
so the gateway, the receipts' delivery and the manager's probe are unchanged by the protocol:
an OK answer is the body the gateway reads (``EcNotice``'s fields), a KO carries the station's
``PAA_*`` code with the status the JSON protocol gave it (404 unknown, 409 paid or in progress or
a receipt already received, 410 expired or cancelled, 422 semantics, 400 syntax, 502 otherwise).

The station's broker (``idBrokerPA``) is the registry's ``brokerId`` for the station; without
one, the part of the station's id before its last ``_`` (pagoPA names stations ``<broker>_<nn>``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, Literal

import aiohttp
from lxml import etree
from pydantic import BaseModel, ValidationError

from shared.auth.secrets import SecretProvider
from shared.notices.models import Position
from shared.pagopa import ec, faults, soap
from shared.pagopa.common import EntityUniqueIdentifier, QrCode, Response, Subject
from shared.pagopa.xml import XmlModel
from shared.parties.service import SUBSCRIPTION_KEY_HEADER
from shared.platform.clock import ROME
from shared.standin.models import EcActivateRequest, EcVerifyRequest
from shared.standin.node import creditor_reference_id, cut
from shared.standin.stations import Answer, Operation, StationRef

PAA_STATUS = {
    faults.PAA_PAGAMENTO_SCONOSCIUTO: 404,
    faults.PAA_PAGAMENTO_DUPLICATO: 409,
    faults.PAA_PAGAMENTO_IN_CORSO: 409,
    faults.PAA_RECEIPT_DUPLICATA: 409,
    faults.PAA_PAGAMENTO_SCADUTO: 410,
    faults.PAA_PAGAMENTO_ANNULLATO: 410,
    faults.PAA_SEMANTICA: 422,
    faults.PAA_SINTASSI_XSD: 400,
    faults.PAA_SINTASSI_EXTRAXSD: 400,
}
_ELEMENTS: dict[str, tuple[str, type[Response]]] = {
    "verify": ("paVerifyPaymentNoticeReq", ec.PaVerifyPaymentNoticeRes),
    "activate": ("paGetPaymentV2Request", ec.PaGetPaymentV2Response),
    "receipt": ("paSendRTV2Request", ec.PaSendRTV2Response),
}


def broker_of(station_id: str) -> str:
    return station_id.rsplit("_", 1)[0] if "_" in station_id else station_id


def _who(station: StationRef, pa: str) -> dict[str, str]:
    return {
        "id_pa": pa,
        "id_broker_pa": station.broker or broker_of(station.station_id),
        "id_station": station.station_id,
    }


def request_for(station: StationRef, operation: Operation, payload: BaseModel) -> ec.EcRequest:
    """The paForNode request of a gateway call (a receipt is built by the delivery already)."""
    if isinstance(payload, ec.PaSendRTV2Request):
        return payload
    if isinstance(payload, EcVerifyRequest) and operation == "verify":
        qr = QrCode(fiscal_code=payload.pa_fiscal_code, notice_number=payload.notice_number)
        return ec.PaVerifyPaymentNoticeReq(**_who(station, payload.pa_fiscal_code), qr_code=qr)
    if isinstance(payload, EcActivateRequest) and operation == "activate":
        qr = QrCode(fiscal_code=payload.pa_fiscal_code, notice_number=payload.notice_number)
        return ec.PaGetPaymentV2Request(
            **_who(station, payload.pa_fiscal_code), qr_code=qr, amount=payload.amount
        )
    raise TypeError(f"no paForNode request for {operation} with {type(payload).__name__}")


def _due(day: date | None) -> str:
    # A date without a time: payable until the end of that day in Rome.
    moment = datetime.combine(day or date.max, time(23, 59, 59), tzinfo=ROME)
    return moment.isoformat()


def _notice_body(answer: XmlModel, request: ec.EcRequest) -> dict[str, Any] | None:
    qr: QrCode | None = getattr(request, "qr_code", None)
    if qr is None:
        return {"outcome": "OK"}
    if isinstance(answer, ec.PaVerifyPaymentNoticeRes) and answer.payment_list is not None:
        option = answer.payment_list.payment_option_description
        amount, due = option.amount, option.due_date
        description = answer.payment_description or option.detail_description
        company = answer.company_name
    elif isinstance(answer, ec.PaGetPaymentV2Response) and answer.data is not None:
        amount, due = answer.data.payment_amount, answer.data.due_date
        description, company = answer.data.description, answer.data.company_name
    else:
        return None
    return {
        "outcome": "OK",
        "paFiscalCode": qr.fiscal_code,
        "noticeNumber": qr.notice_number,
        "amount": amount,
        "dueDate": _due(due),
        "description": description or f"notice {qr.notice_number}",
        "companyName": company or qr.fiscal_code,
        "status": "VALID",
    }


def classify(operation: Operation, request: ec.EcRequest, status: int, raw: bytes) -> Answer:
    """A station's HTTP answer as the counters and the gateway read it."""
    if status == 503:
        return Answer("notActive", status, None, "service not active")
    expected, model = _ELEMENTS[operation]
    try:
        message = soap.parse(raw)
    except soap.NotAnEnvelope as error:
        return Answer("error", status, None, f"status {status}, not SOAP: {error}")
    if message.namespace != ec.NAMESPACE or message.name != ec.RESPONSES[expected]:
        return Answer("error", status, None, f"answered {message.name} to {expected}")
    try:
        answer = model.from_element(message.element)
    except ValidationError as error:
        return Answer(
            "error", status, None, f"an answer off the schema: {error.error_count()} errors"
        )
    if isinstance(answer, Response) and answer.fault is not None:
        code = answer.fault.fault_code
        refused = {
            "outcome": "KO",
            "faultCode": code,
            "description": answer.fault.description or "",
        }
        return Answer("ok", PAA_STATUS.get(code, 502), refused)
    found = _notice_body(answer, request)
    if found is None:
        return Answer("error", status, None, "an OK without the payment")
    return Answer("ok", 200, found)


TRANSFER_CATEGORY = "unspecified"
"""A transfer's category (pagoPA's taxonomy): the archive does not keep one."""


def payer_subject(payer: dict[str, Any] | None) -> Subject | None:
    """The payer a PSP's outcome named (``paid["payer"]``) as the receipt's ``ctSubject``: an
    11-digit identifier is a legal person's VAT number (G), anything else a fiscal code (F)."""
    if not payer or not payer.get("fiscalCode"):
        return None
    value = str(payer["fiscalCode"])[:16]
    kind: Literal["F", "G"] = "G" if value.isdigit() and len(value) == 11 else "F"
    return Subject(
        unique_identifier=EntityUniqueIdentifier(type=kind, value=value),
        full_name=cut(payer.get("fullName"), 70) or value,
    )


def receipt_request(
    station: StationRef,
    paid: dict[str, Any],
    *,
    position: Position | None,
    ec_name: str,
    psp_name: str,
    iban: str | None,
) -> ec.PaSendRTV2Request:
    """The paSendRTV2 of a recorded payment. The notice's debtor, description and account come
    from the archive; without the notice there (an EC that does not publish to it), the EC
    stands as the debtor and its registry IBAN as the account. Texts are cut to SANP's limits.

    Raises:
        ValueError: no IBAN is known for the transfer.
    """
    pa, nav = paid["paFiscalCode"], paid["noticeNumber"]
    description = cut(position.description if position else paid.get("description"), 140)
    company = cut(position.company_name if position else ec_name, 140) or pa
    if position is not None:
        debtor = Subject(
            unique_identifier=EntityUniqueIdentifier(
                type=position.entity_type, value=position.entity_fiscal_code[:16]
            ),
            full_name=cut(position.entity_full_name, 70) or "-",
        )
    else:
        debtor = Subject(
            unique_identifier=EntityUniqueIdentifier(type="G", value=pa),
            full_name=cut(company, 70) or pa,
        )
    account = (position.iban if position is not None else None) or iban
    if not account:
        raise ValueError(f"no IBAN for the transfer of notice {nav} of {pa}")
    paid_at = datetime.fromisoformat(paid["paymentDateTime"])
    text = description or f"notice {nav}"
    return ec.PaSendRTV2Request(
        **_who(station, pa),
        receipt=ec.ReceiptV2(
            receipt_id=paid["receiptId"],
            notice_number=nav,
            fiscal_code=pa,
            outcome="OK",
            creditor_reference_id=position.iuv if position else creditor_reference_id(nav),
            payment_amount=paid["amount"],
            description=text,
            company_name=company,
            debtor=debtor,
            payer=payer_subject(paid.get("payer")),
            transfer_list=ec.TransferListPAV2(
                transfer=[
                    ec.TransferPAV2(
                        id_transfer=1,
                        transfer_amount=paid["amount"],
                        fiscal_code_pa=pa,
                        iban=account,
                        remittance_information=text,
                        transfer_category=TRANSFER_CATEGORY,
                    )
                ]
            ),
            id_psp=paid["pspId"],
            psp_company_name=cut(psp_name, 70) or paid["pspId"],
            id_channel=cut(paid.get("channelId") or paid["pspId"], 35) or paid["pspId"],
            channel_description="PSP",
            payment_method=cut(paid.get("paymentMethod"), 35),
            fee=paid.get("fee"),
            payment_date_time=paid_at,
            application_date=paid_at.astimezone(ROME).date(),
            stand_in=bool(paid["standIn"]),
        ),
    )


def probe_succeeded(answer: Answer) -> bool:
    """The manager's probe (a verify of notice 000000000000000000) succeeds only when the
    station answers that it does not know the notice, as pagoPA's manager has it: any other
    answer, a 401 or a 400 included, says the station is not serving."""
    return answer.outcome == "ok" and answer.fault_code == faults.PAA_PAGAMENTO_SCONOSCIUTO


class SoapStationClient:
    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        secrets: SecretProvider,
        *,
        timeout: float,
    ) -> None:
        self._session = session
        self._secrets = secrets
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, station: StationRef, operation: Operation, payload: BaseModel) -> Answer:
        request = request_for(station, operation, payload)
        name = _ELEMENTS[operation][0]
        body = soap.serialise(request.to_element(etree.QName(ec.NAMESPACE, name)))
        headers = {"Content-Type": soap.CONTENT_TYPE, "SOAPAction": f'"{ec.SOAP_ACTIONS[name]}"'}
        if station.secret_name:
            headers[SUBSCRIPTION_KEY_HEADER] = await self._secrets.get(station.secret_name)
        try:
            async with self._session().post(
                station.endpoint, data=body, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return Answer("timeout", detail=f"no answer within {self._timeout.total:g}s")
        except (aiohttp.ClientConnectionError, OSError) as error:
            return Answer("unreachable", detail=f"{type(error).__name__}: {error}")
        return classify(operation, request, status, raw)
