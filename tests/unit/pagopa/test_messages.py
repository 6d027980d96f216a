"""Every message of the primitives served: what the models write validates against the
project's XSD and reads back equal; what the XSD refuses, the models refuse too."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from lxml import etree
from pydantic import ValidationError

from shared.pagopa import ec, psp, soap
from shared.pagopa.common import QrCode, Response
from shared.pagopa.faults import PAA_PAGAMENTO_SCONOSCIUTO, PPT_ERRORE_EMESSO_DA_PAA
from shared.pagopa.xml import XmlModel
from tests.unit.pagopa.samples import CREDENTIALS, EC_MESSAGES, PSP_MESSAGES, QR
from tests.unit.pagopa.schema import Validate


def _qualified(namespace: str, name: str) -> etree.QName:
    return etree.QName(namespace, name)


@pytest.mark.parametrize(("name", "message"), PSP_MESSAGES, ids=[n for n, _ in PSP_MESSAGES])
def test_psp_messages_validate_and_read_back(
    psp_schema: Validate, name: str, message: XmlModel
) -> None:
    element = message.to_element(_qualified(psp.NAMESPACE, name))
    assert psp_schema(element) == []
    parsed = soap.parse(soap.serialise(element))
    assert (parsed.namespace, parsed.name) == (psp.NAMESPACE, name)
    assert type(message).from_element(parsed.element) == message


@pytest.mark.parametrize(("name", "message"), EC_MESSAGES, ids=[n for n, _ in EC_MESSAGES])
def test_ec_messages_validate_and_read_back(
    ec_schema: Validate, name: str, message: XmlModel
) -> None:
    element = message.to_element(_qualified(ec.NAMESPACE, name))
    assert ec_schema(element) == []
    parsed = soap.parse(soap.serialise(element))
    assert (parsed.namespace, parsed.name) == (ec.NAMESPACE, name)
    assert type(message).from_element(parsed.element) == message


def test_amounts_are_cents_inside_and_euros_on_the_wire() -> None:
    request = psp.ActivatePaymentNoticeV2Request(**CREDENTIALS, qr_code=QR, amount=1)
    element = request.to_element(_qualified(psp.NAMESPACE, "activatePaymentNoticeV2Request"))
    assert element.findtext("amount") == "0.01"
    element.find("amount").text = "1234.50"  # type: ignore[union-attr]
    assert psp.ActivatePaymentNoticeV2Request.from_element(element).amount == 123450


def test_a_forwarded_ec_fault_keeps_the_ecs_code_as_original() -> None:
    name, message = PSP_MESSAGES[2]
    element = message.to_element(_qualified(psp.NAMESPACE, name))
    assert element.findtext("outcome") == "KO"
    assert element.findtext("fault/faultCode") == PPT_ERRORE_EMESSO_DA_PAA
    assert element.findtext("fault/originalFaultCode") == PAA_PAGAMENTO_SCONOSCIUTO


def test_a_ko_without_a_fault_is_refused() -> None:
    with pytest.raises(ValidationError):
        Response(outcome="KO")


def test_elements_the_models_do_not_serve_are_ignored() -> None:
    element = psp.VerifyPaymentNoticeReq(**CREDENTIALS, qr_code=QR).to_element("r")
    etree.SubElement(element, "somethingNewer").text = "x"
    assert psp.VerifyPaymentNoticeReq.from_element(element).qr_code == QR


def _set(path: str, text: str) -> Callable[[etree._Element], None]:
    def change(element: etree._Element) -> None:
        found = element.find(path)
        assert found is not None, path
        found.text = text

    return change


def _repeat(path: str) -> Callable[[etree._Element], None]:
    def change(element: etree._Element) -> None:
        found = element.find(path)
        assert found is not None, path
        found.addnext(copy.deepcopy(found))

    return change


def _drop(path: str) -> Callable[[etree._Element], None]:
    def change(element: etree._Element) -> None:
        found = element.find(path)
        assert found is not None, path
        found.getparent().remove(found)  # type: ignore[union-attr]

    return change


# The first (OK, complete) sample of each message: the KO ones lack the elements changed below.
_PSP = dict(reversed(PSP_MESSAGES))
_EC = dict(reversed(EC_MESSAGES))
REFUSED = [
    ("verifyPaymentNoticeReq", _set("qrCode/noticeNumber", "30200000000000000"), "17 digits"),
    ("verifyPaymentNoticeReq", _set("qrCode/fiscalCode", "1234567890A"), "fiscal code letter"),
    ("verifyPaymentNoticeReq", _set("password", "short"), "password under 8"),
    ("verifyPaymentNoticeReq", _set("password", "p" * 16), "password over 15"),
    ("verifyPaymentNoticeReq", _set("idPSP", "p" * 36), "idPSP over 35"),
    ("verifyPaymentNoticeReq", _drop("idChannel"), "no channel"),
    ("activatePaymentNoticeV2Request", _set("amount", "100.5"), "one decimal"),
    ("activatePaymentNoticeV2Request", _set("amount", "100"), "no decimals"),
    ("activatePaymentNoticeV2Request", _set("amount", "-1.00"), "negative"),
    ("activatePaymentNoticeV2Request", _set("amount", "1000000000.00"), "over the maximum"),
    ("activatePaymentNoticeV2Request", _set("expirationTime", "1800001"), "over 30 minutes"),
    ("activatePaymentNoticeV2Request", _set("idempotencyKey", "DEMOPSP01-a1b2c3d4e5"), "no _"),
    ("activatePaymentNoticeV2Request", _set("idempotencyKey", "D_a1b2c3d4e5"), "prefix of 1"),
    ("activatePaymentNoticeV2Request", _set("paymentMethod", "XX"), "unknown method"),
    ("activatePaymentNoticeV2Request", _set("touchPoint", "WEB"), "unknown touch point"),
    ("activatePaymentNoticeV2Response", _set("paymentToken", "t" * 36), "token over 35"),
    ("activatePaymentNoticeV2Response", _repeat("transferList/transfer"), "six transfers"),
    ("activatePaymentNoticeV2Response", _set("transferList/transfer/IBAN", "IT6"), "bad IBAN"),
    ("activatePaymentNoticeV2Response", _set("standin", "yes"), "not a boolean"),
    ("sendPaymentOutcomeV2Request", _repeat("paymentTokens/paymentToken"), "six tokens"),
    ("sendPaymentOutcomeV2Request", _set("outcome", "MAYBE"), "outcome"),
    ("sendPaymentOutcomeV2Request", _set("details/applicationDate", "2026-13-01"), "date"),
    ("sendPaymentOutcomeV2Request", _set("details/paymentMethod", "CP"), "V2 method names"),
    ("sendPaymentOutcomeV2Request", _set("details/payer/fullName", "F" * 71), "fullName 71"),
    (
        "sendPaymentOutcomeV2Request",
        _set("details/payer/uniqueIdentifier/entityUniqueIdentifierType", "X"),
        "entity type",
    ),
]
EC_REFUSED = [
    ("paGetPaymentV2Response", _set("data/description", "d" * 141), "description 141"),
    ("paGetPaymentV2Response", _set("data/paymentAmount", "0.00"), "zero amount"),
    ("paGetPaymentV2Response", _repeat("data/transferList/transfer"), "six transfers"),
    ("paGetPaymentV2Response", _drop("data/debtor"), "no debtor"),
    ("paGetPaymentV2Response", _set("data/transferList/transfer/idTransfer", "6"), "id 6"),
    ("paSendRTV2Request", _set("receipt/PSPCompanyName", "p" * 71), "PSP name 71"),
    ("paSendRTV2Request", _set("receipt/standIn", "maybe"), "standIn not a boolean"),
    ("paVerifyPaymentNoticeRes", _repeat("paymentList/paymentOptionDescription"), "two options"),
]


@pytest.mark.parametrize(("name", "change", "why"), REFUSED, ids=[r[2] for r in REFUSED])
def test_what_the_psp_schema_refuses_the_models_refuse(
    psp_schema: Validate, name: str, change: Callable[[etree._Element], None], why: str
) -> None:
    message = _PSP[name]
    element = message.to_element(_qualified(psp.NAMESPACE, name))
    change(element)
    assert psp_schema(element) != []
    with pytest.raises(ValidationError):
        type(message).from_element(element)


@pytest.mark.parametrize(("name", "change", "why"), EC_REFUSED, ids=[r[2] for r in EC_REFUSED])
def test_what_the_ec_schema_refuses_the_models_refuse(
    ec_schema: Validate, name: str, change: Callable[[etree._Element], None], why: str
) -> None:
    message = _EC[name]
    element = message.to_element(_qualified(ec.NAMESPACE, name))
    change(element)
    assert ec_schema(element) != []
    with pytest.raises(ValidationError):
        type(message).from_element(element)


def test_the_qr_code_model_is_shared_by_both_protocols() -> None:
    assert psp.VerifyPaymentNoticeReq.model_fields["qr_code"].annotation is QrCode
    assert ec.PaVerifyPaymentNoticeReq.model_fields["qr_code"].annotation is QrCode
