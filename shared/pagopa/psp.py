"""nodeForPsp: the primitives a PSP calls on the node (``schemas/nodeForPsp.xsd``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from shared.pagopa.common import FISCAL_CODE_PA, Metadata, QrCode, Response, Subject
from shared.pagopa.xml import Cents, PositiveCents, XmlBool, XmlModel

NAMESPACE = "http://pagopa-api.pagopa.gov.it/node/nodeForPsp.xsd"
IDEMPOTENCY_KEY = r"^[a-zA-Z0-9]{2,18}_[a-zA-Z0-9]{10}$"
IBAN = r"^[a-zA-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$"
MAX_EXPIRATION_MS = 1_800_000
"""A token lives at most 30 minutes, which is also the node's default."""

PaymentMethodFee = Literal["BBT", "BP", "AD", "CP", "PO", "OBEP", "JIF", "MYBK", "PPAL"]
TouchPoint = Literal["IO", "WISP", "CHECKOUT", "PSP", "ATM", "BETTING", "TS", "HB", "POS"]
PaymentMethod = Literal["cash", "creditCard", "bancomat", "other"]
PaymentChannel = Literal["frontOffice", "atm", "onLine", "app", "other"]


class PspRequest(XmlModel):
    """What every PSP primitive opens with: who calls, and the channel's password."""

    id_psp: str = Field(alias="idPSP", min_length=1, max_length=35)
    id_broker_psp: str = Field(alias="idBrokerPSP", min_length=1, max_length=35)
    id_channel: str = Field(alias="idChannel", min_length=1, max_length=35)
    password: str = Field(min_length=8, max_length=15, repr=False)


class VerifyPaymentNoticeReq(PspRequest):
    qr_code: QrCode = Field(alias="qrCode")


class PaymentOptionDescription(XmlModel):
    amount: PositiveCents
    options: Literal["EQ", "LS", "GT", "ANY"]
    due_date: date | None = Field(default=None, alias="dueDate")
    payment_note: str | None = Field(
        default=None, alias="paymentNote", min_length=1, max_length=210
    )


class PaymentOptionsDescriptionList(XmlModel):
    payment_option_description: list[PaymentOptionDescription] = Field(
        alias="paymentOptionDescription", min_length=1, max_length=5
    )


class VerifyPaymentNoticeRes(Response):
    payment_list: PaymentOptionsDescriptionList | None = Field(default=None, alias="paymentList")
    payment_description: str | None = Field(
        default=None, alias="paymentDescription", min_length=1, max_length=210
    )
    fiscal_code_pa: str | None = Field(default=None, alias="fiscalCodePA", pattern=FISCAL_CODE_PA)
    company_name: str | None = Field(
        default=None, alias="companyName", min_length=1, max_length=140
    )
    office_name: str | None = Field(default=None, alias="officeName", min_length=1, max_length=140)
    standin: XmlBool | None = None


class ActivatePaymentNoticeV2Request(PspRequest):
    idempotency_key: str | None = Field(
        default=None, alias="idempotencyKey", pattern=IDEMPOTENCY_KEY
    )
    qr_code: QrCode = Field(alias="qrCode")
    expiration_time: int | None = Field(
        default=None, alias="expirationTime", ge=0, le=MAX_EXPIRATION_MS
    )
    amount: Cents
    due_date: date | None = Field(default=None, alias="dueDate")
    payment_note: str | None = Field(
        default=None, alias="paymentNote", min_length=1, max_length=210
    )
    payment_method: PaymentMethodFee | None = Field(default=None, alias="paymentMethod")
    touch_point: TouchPoint | None = Field(default=None, alias="touchPoint")


class TransferPSPV2(XmlModel):
    id_transfer: int = Field(alias="idTransfer", ge=1, le=5)
    transfer_amount: Cents = Field(alias="transferAmount")
    fiscal_code_pa: str = Field(alias="fiscalCodePA", pattern=FISCAL_CODE_PA)
    company_name: str | None = Field(
        default=None, alias="companyName", min_length=1, max_length=140
    )
    iban: str | None = Field(default=None, alias="IBAN", pattern=IBAN)
    remittance_information: str = Field(alias="remittanceInformation", min_length=1, max_length=140)
    transfer_category: str | None = Field(
        default=None, alias="transferCategory", min_length=1, max_length=140
    )
    metadata: Metadata | None = None


class TransferListPSPV2(XmlModel):
    transfer: list[TransferPSPV2] = Field(min_length=1, max_length=5)


class ActivatePaymentNoticeV2Response(Response):
    total_amount: Cents | None = Field(default=None, alias="totalAmount")
    payment_description: str | None = Field(
        default=None, alias="paymentDescription", min_length=1, max_length=140
    )
    fiscal_code_pa: str | None = Field(default=None, alias="fiscalCodePA", pattern=FISCAL_CODE_PA)
    company_name: str | None = Field(
        default=None, alias="companyName", min_length=1, max_length=140
    )
    office_name: str | None = Field(default=None, alias="officeName", min_length=1, max_length=140)
    payment_token: str | None = Field(
        default=None, alias="paymentToken", min_length=1, max_length=35
    )
    transfer_list: TransferListPSPV2 | None = Field(default=None, alias="transferList")
    metadata: Metadata | None = None
    creditor_reference_id: str | None = Field(
        default=None, alias="creditorReferenceId", min_length=1, max_length=35
    )
    all_ccp: XmlBool | None = Field(default=None, alias="allCCP")
    standin: XmlBool | None = None


class PaymentTokens(XmlModel):
    payment_token: list[str] = Field(alias="paymentToken", min_length=1, max_length=5)


class OutcomeDetailsV2(XmlModel):
    payment_method: PaymentMethod = Field(alias="paymentMethod")
    payment_channel: PaymentChannel | None = Field(default=None, alias="paymentChannel")
    fee: Cents
    primary_ci_incurred_fee: Cents | None = Field(default=None, alias="primaryCiIncurredFee")
    id_bundle: str | None = Field(default=None, alias="idBundle", min_length=1, max_length=70)
    id_ci_bundle: str | None = Field(default=None, alias="idCiBundle", min_length=1, max_length=70)
    payer: Subject | None = None
    application_date: date = Field(alias="applicationDate")
    transfer_date: date = Field(alias="transferDate")


class SendPaymentOutcomeV2Request(PspRequest):
    idempotency_key: str | None = Field(
        default=None, alias="idempotencyKey", pattern=IDEMPOTENCY_KEY
    )
    payment_tokens: PaymentTokens = Field(alias="paymentTokens")
    outcome: Literal["OK", "KO"]
    details: OutcomeDetailsV2 | None = None


class SendPaymentOutcomeV2Response(Response):
    pass


REQUESTS: dict[str, type[PspRequest]] = {
    "verifyPaymentNoticeReq": VerifyPaymentNoticeReq,
    "activatePaymentNoticeV2Request": ActivatePaymentNoticeV2Request,
    "sendPaymentOutcomeV2Request": SendPaymentOutcomeV2Request,
}
"""The request elements served, by name."""
RESPONSES: dict[str, str] = {
    "verifyPaymentNoticeReq": "verifyPaymentNoticeRes",
    "activatePaymentNoticeV2Request": "activatePaymentNoticeV2Response",
    "sendPaymentOutcomeV2Request": "sendPaymentOutcomeV2Response",
}
"""Each request element's response element."""
