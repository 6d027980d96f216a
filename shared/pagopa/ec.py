"""paForNode: the primitives the node calls on an EC's station (``schemas/paForNode.xsd``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from shared.pagopa.common import FISCAL_CODE_PA, NOTICE_NUMBER, Metadata, QrCode, Response, Subject
from shared.pagopa.xml import Cents, PositiveCents, XmlBool, XmlModel

NAMESPACE = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"
PROBE_NOTICE_NUMBER = "000000000000000000"
"""The notice the stand-in manager's probe verifies: a healthy station does not know it."""


class EcRequest(XmlModel):
    """Who the node calls for: the EC, its broker and the station."""

    id_pa: str = Field(alias="idPA", min_length=1, max_length=35)
    id_broker_pa: str = Field(alias="idBrokerPA", min_length=1, max_length=35)
    id_station: str = Field(alias="idStation", min_length=1, max_length=35)


class PaVerifyPaymentNoticeReq(EcRequest):
    qr_code: QrCode = Field(alias="qrCode")


class PaymentOptionDescriptionPA(XmlModel):
    amount: PositiveCents
    options: Literal["EQ", "LS", "GT", "ANY"]
    due_date: date | None = Field(default=None, alias="dueDate")
    detail_description: str | None = Field(
        default=None, alias="detailDescription", min_length=1, max_length=140
    )
    all_ccp: XmlBool = Field(alias="allCCP")
    """Every transfer may go to a postal account."""


class PaymentOptionsDescriptionListPA(XmlModel):
    payment_option_description: PaymentOptionDescriptionPA = Field(alias="paymentOptionDescription")


class PaVerifyPaymentNoticeRes(Response):
    payment_list: PaymentOptionsDescriptionListPA | None = Field(default=None, alias="paymentList")
    payment_description: str | None = Field(
        default=None, alias="paymentDescription", min_length=1, max_length=140
    )
    fiscal_code_pa: str | None = Field(default=None, alias="fiscalCodePA", pattern=FISCAL_CODE_PA)
    company_name: str | None = Field(
        default=None, alias="companyName", min_length=1, max_length=140
    )
    office_name: str | None = Field(default=None, alias="officeName", min_length=1, max_length=140)


class PaGetPaymentV2Request(EcRequest):
    qr_code: QrCode = Field(alias="qrCode")
    amount: Cents | None = None
    payment_note: str | None = Field(
        default=None, alias="paymentNote", min_length=1, max_length=210
    )
    transfer_type: Literal["POSTAL", "PAGOPA"] | None = Field(default=None, alias="transferType")
    due_date: date | None = Field(default=None, alias="dueDate")


class TransferPAV2(XmlModel):
    id_transfer: int = Field(alias="idTransfer", ge=1, le=5)
    transfer_amount: PositiveCents = Field(alias="transferAmount")
    fiscal_code_pa: str = Field(alias="fiscalCodePA", pattern=FISCAL_CODE_PA)
    company_name: str | None = Field(
        default=None, alias="companyName", min_length=1, max_length=140
    )
    iban: str = Field(alias="IBAN", min_length=1, max_length=35)
    remittance_information: str = Field(alias="remittanceInformation", min_length=1, max_length=140)
    transfer_category: str = Field(alias="transferCategory", min_length=1, max_length=140)
    metadata: Metadata | None = None


class TransferListPAV2(XmlModel):
    transfer: list[TransferPAV2] = Field(min_length=1, max_length=5)


class PaymentPAV2(XmlModel):
    """``ctPaymentPAV2``: the payment a station gives for a notice being activated."""

    creditor_reference_id: str = Field(alias="creditorReferenceId", min_length=1, max_length=35)
    payment_amount: PositiveCents = Field(alias="paymentAmount")
    due_date: date = Field(alias="dueDate")
    retention_date: datetime | None = Field(default=None, alias="retentionDate")
    last_payment: XmlBool | None = Field(default=None, alias="lastPayment")
    description: str = Field(min_length=1, max_length=140)
    company_name: str = Field(alias="companyName", min_length=1, max_length=140)
    office_name: str | None = Field(default=None, alias="officeName", min_length=1, max_length=140)
    debtor: Subject
    transfer_list: TransferListPAV2 = Field(alias="transferList")
    metadata: Metadata | None = None


class PaGetPaymentV2Response(Response):
    data: PaymentPAV2 | None = None


class ReceiptV2(XmlModel):
    """``ctReceiptV2``: what the EC gets of a payment (``standIn`` when the stand-in took it)."""

    receipt_id: str = Field(alias="receiptId", min_length=1)
    notice_number: str = Field(alias="noticeNumber", pattern=NOTICE_NUMBER)
    fiscal_code: str = Field(alias="fiscalCode", pattern=FISCAL_CODE_PA)
    outcome: Literal["OK", "KO"]
    creditor_reference_id: str = Field(alias="creditorReferenceId", min_length=1, max_length=35)
    payment_amount: Cents = Field(alias="paymentAmount")
    description: str = Field(min_length=1, max_length=140)
    company_name: str = Field(alias="companyName", min_length=1, max_length=140)
    office_name: str | None = Field(default=None, alias="officeName", min_length=1, max_length=140)
    debtor: Subject
    transfer_list: TransferListPAV2 = Field(alias="transferList")
    id_psp: str = Field(alias="idPSP", min_length=1, max_length=35)
    psp_fiscal_code: str | None = Field(
        default=None, alias="pspFiscalCode", min_length=1, max_length=70
    )
    psp_partita_iva: str | None = Field(
        default=None, alias="pspPartitaIVA", min_length=1, max_length=20
    )
    psp_company_name: str = Field(alias="PSPCompanyName", min_length=1, max_length=70)
    id_channel: str = Field(alias="idChannel", min_length=1, max_length=35)
    channel_description: str = Field(alias="channelDescription", min_length=1, max_length=35)
    payer: Subject | None = None
    payment_method: str | None = Field(
        default=None, alias="paymentMethod", min_length=1, max_length=35
    )
    payment_note: str | None = Field(
        default=None, alias="paymentNote", min_length=1, max_length=210
    )
    fee: Cents | None = None
    primary_ci_incurred_fee: Cents | None = Field(default=None, alias="primaryCiIncurredFee")
    id_bundle: str | None = Field(default=None, alias="idBundle", min_length=1, max_length=70)
    id_ci_bundle: str | None = Field(default=None, alias="idCiBundle", min_length=1, max_length=70)
    payment_date_time: datetime | None = Field(default=None, alias="paymentDateTime")
    application_date: date | None = Field(default=None, alias="applicationDate")
    transfer_date: date | None = Field(default=None, alias="transferDate")
    metadata: Metadata | None = None
    stand_in: XmlBool | None = Field(default=None, alias="standIn")


class PaSendRTV2Request(EcRequest):
    receipt: ReceiptV2


class PaSendRTV2Response(Response):
    pass


REQUESTS: dict[str, type[EcRequest]] = {
    "paVerifyPaymentNoticeReq": PaVerifyPaymentNoticeReq,
    "paGetPaymentV2Request": PaGetPaymentV2Request,
    "paSendRTV2Request": PaSendRTV2Request,
}
RESPONSES: dict[str, str] = {
    "paVerifyPaymentNoticeReq": "paVerifyPaymentNoticeRes",
    "paGetPaymentV2Request": "paGetPaymentV2Response",
    "paSendRTV2Request": "paSendRTV2Response",
}
SOAP_ACTIONS: dict[str, str] = {
    "paVerifyPaymentNoticeReq": "paVerifyPaymentNotice",
    "paGetPaymentV2Request": "paGetPaymentV2",
    "paSendRTV2Request": "paSendRTV2",
}
"""The SOAPAction header of each request (the operation's name, quoted on the wire)."""
