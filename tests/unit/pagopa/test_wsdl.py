"""A SOAP client someone else wrote (zeep), built from the project's WSDL: the requests it
writes are read by our models, and the answers our models write are read by it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import zeep
from lxml import etree

from shared.pagopa import documents, ec, psp, soap
from shared.pagopa.documents import SCHEMAS
from tests.unit.pagopa.samples import EC_MESSAGES, PSP_MESSAGES


@pytest.fixture(scope="module")
def node() -> zeep.Client:
    return zeep.Client(str(SCHEMAS / "nodeForPsp.wsdl"))


@pytest.fixture(scope="module")
def station() -> zeep.Client:
    return zeep.Client(str(SCHEMAS / "paForNode.wsdl"))


def _read(client: zeep.Client, operation: str, raw: bytes) -> object:
    binding = client.service._binding
    return binding._operations[operation].output.deserialize(etree.fromstring(raw))


def test_zeeps_activate_request_reads_as_our_model(node: zeep.Client) -> None:
    envelope = node.create_message(
        node.service,
        "activatePaymentNoticeV2",
        idPSP="DEMOPSP01",
        idBrokerPSP="DEMOBROKER01",
        idChannel="DEMOBROKER01_01",
        password="demo-pass-1",
        idempotencyKey="DEMOPSP01_a1b2c3d4e5",
        qrCode={"fiscalCode": "77777777777", "noticeNumber": "302000000000000001"},
        expirationTime=60_000,
        amount=Decimal("123.40"),
    )
    message = soap.parse(etree.tostring(envelope))
    assert message.name in psp.REQUESTS
    request = psp.REQUESTS[message.name].from_element(message.element)
    assert isinstance(request, psp.ActivatePaymentNoticeV2Request)
    assert request.amount == 12340
    assert request.expiration_time == 60_000
    assert request.qr_code.notice_number == "302000000000000001"


def test_zeeps_outcome_request_reads_as_our_model(node: zeep.Client) -> None:
    envelope = node.create_message(
        node.service,
        "sendPaymentOutcomeV2",
        idPSP="DEMOPSP01",
        idBrokerPSP="DEMOBROKER01",
        idChannel="DEMOBROKER01_01",
        password="demo-pass-1",
        paymentTokens={"paymentToken": ["t1", "t2"]},
        outcome="OK",
        details={
            "paymentMethod": "creditCard",
            "fee": Decimal("1.50"),
            "applicationDate": date(2026, 12, 7),
            "transferDate": date(2026, 12, 8),
        },
    )
    message = soap.parse(etree.tostring(envelope))
    request = psp.SendPaymentOutcomeV2Request.from_element(message.element)
    assert request.payment_tokens.payment_token == ["t1", "t2"]
    assert request.details is not None
    assert request.details.fee == 150


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        ("verifyPaymentNotice", "verifyPaymentNoticeRes"),
        ("activatePaymentNoticeV2", "activatePaymentNoticeV2Response"),
        ("sendPaymentOutcomeV2", "sendPaymentOutcomeV2Response"),
    ],
)
def test_zeep_reads_our_node_answers(node: zeep.Client, operation: str, name: str) -> None:
    for sample_name, message in PSP_MESSAGES:
        if sample_name != name:
            continue
        raw = soap.serialise(message.to_element(etree.QName(psp.NAMESPACE, name)))
        answer = _read(node, operation, raw)
        assert answer.outcome == message.outcome  # type: ignore[attr-defined]
        if message.fault is not None:  # type: ignore[attr-defined]
            assert answer.fault.originalFaultCode == message.fault.original_fault_code  # type: ignore[attr-defined]
        if name == "activatePaymentNoticeV2Response" and message.outcome == "OK":  # type: ignore[attr-defined]
            assert answer.totalAmount == Decimal("100.00")  # type: ignore[attr-defined]
            assert answer.standin is True  # type: ignore[attr-defined]
            assert len(answer.transferList.transfer) == 5  # type: ignore[attr-defined]


def test_zeep_as_the_node_and_as_a_station(station: zeep.Client) -> None:
    envelope = station.create_message(
        station.service,
        "paVerifyPaymentNotice",
        idPA="77777777777",
        idBrokerPA="77777777777",
        idStation="77777777777_01",
        qrCode={"fiscalCode": "77777777777", "noticeNumber": ec.PROBE_NOTICE_NUMBER},
    )
    request = ec.PaVerifyPaymentNoticeReq.from_element(soap.parse(etree.tostring(envelope)).element)
    assert request.qr_code.notice_number == ec.PROBE_NOTICE_NUMBER
    for name, message in EC_MESSAGES:
        if name == "paGetPaymentV2Response":
            raw = soap.serialise(message.to_element(etree.QName(ec.NAMESPACE, name)))
            answer = _read(station, "paGetPaymentV2", raw)
            assert answer.data.paymentAmount == Decimal("100.00")  # type: ignore[attr-defined]
            assert answer.data.debtor.uniqueIdentifier.entityUniqueIdentifierType == "F"  # type: ignore[attr-defined]


def test_the_served_wsdl_names_where_it_is_served() -> None:
    served = documents.wsdl("nodeForPsp.wsdl", "https://example.org/api/node?a=1&b=2")
    address = etree.fromstring(served).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == "https://example.org/api/node?a=1&b=2"


def test_only_the_schema_files_are_served() -> None:
    with pytest.raises(KeyError):
        documents.schema_file("../__init__.py")
