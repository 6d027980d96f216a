"""The node's paForNode calls to a station: the requests it writes validate against the
project's XSD, and each kind of answer reads as the gateway, the delivery and the probe expect."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from lxml import etree
from pydantic import ValidationError

from shared.pagopa import ec, faults, soap
from shared.pagopa.common import EntityUniqueIdentifier, Subject
from shared.pagopa.xml import XmlModel
from shared.parties.models import PartyIn
from shared.standin.models import EcActivateRequest, EcVerifyRequest
from shared.standin.soapstation import (
    broker_of,
    classify,
    probe_succeeded,
    receipt_request,
    request_for,
)
from shared.standin.stations import Answer, StationRef
from tests.unit.pagopa.schema import validator

EC = "77777777777"
NOTICE = "302000000000000001"
IBAN = "IT60X0542811101000000123456"
STATION = StationRef(f"{EC}_01", "http://station.example/paForNode", None, (EC,))
VERIFY = EcVerifyRequest(pa_fiscal_code=EC, notice_number=NOTICE)
ACTIVATE = EcActivateRequest(
    pa_fiscal_code=EC,
    notice_number=NOTICE,
    amount=12050,
    payment_token="t" * 35,
    idempotency_key="k",
    psp_id="DEMOPSP",
    expires_at=datetime(2026, 12, 7, tzinfo=UTC),
)
valid = validator("paForNode.xsd")


def _envelope(answer: XmlModel, name: str) -> bytes:
    return soap.serialise(answer.to_element(etree.QName(ec.NAMESPACE, name)))


def test_requests_validate_and_name_the_station_and_its_broker() -> None:
    for operation, payload, name in (
        ("verify", VERIFY, "paVerifyPaymentNoticeReq"),
        ("activate", ACTIVATE, "paGetPaymentV2Request"),
    ):
        request = request_for(STATION, operation, payload)  # type: ignore[arg-type]
        element = request.to_element(etree.QName(ec.NAMESPACE, name))
        assert valid(element) == []
        assert element.findtext("idStation") == f"{EC}_01"
        assert element.findtext("idBrokerPA") == EC
        assert element.findtext("qrCode/noticeNumber") == NOTICE
    assert broker_of("15376371009_01") == "15376371009"


def test_a_broker_the_registry_names_is_the_requests_idbrokerpa() -> None:
    station = StationRef(
        "STAZIONE_REGIONALE", "http://station.example/", None, (EC,), "80012345678"
    )
    request = request_for(station, "verify", VERIFY)
    element = request.to_element(etree.QName(ec.NAMESPACE, "paVerifyPaymentNoticeReq"))
    assert valid(element) == []
    assert element.findtext("idBrokerPA") == "80012345678"
    assert element.findtext("idStation") == "STAZIONE_REGIONALE"


def test_only_a_station_has_a_broker_in_the_registry() -> None:
    station = PartyIn.model_validate(
        {"partyId": "STAZIONE_01", "name": "s", "role": "station", "brokerId": "80012345678"}
    )
    assert station.broker_id == "80012345678"
    with pytest.raises(ValidationError, match="only a station has a brokerId"):
        PartyIn.model_validate(
            {"partyId": "77777777777", "name": "ec", "role": "ec", "brokerId": "80012345678"}
        )
    with pytest.raises(ValidationError):
        PartyIn.model_validate(
            {"partyId": "STAZIONE_01", "name": "s", "role": "station", "brokerId": "x" * 36}
        )


def test_a_payable_verify_reads_as_the_gateways_notice() -> None:
    answer = ec.PaVerifyPaymentNoticeRes(
        outcome="OK",
        payment_list=ec.PaymentOptionsDescriptionListPA(
            payment_option_description=ec.PaymentOptionDescriptionPA(
                amount=12050, options="EQ", due_date=date(2026, 12, 31), all_ccp=False
            )
        ),
        payment_description="TARI 2026",
        company_name="Comune di Prova",
    )
    request = request_for(STATION, "verify", VERIFY)
    read = classify("verify", request, 200, _envelope(answer, "paVerifyPaymentNoticeRes"))
    assert read.accepted
    assert read.body is not None
    assert (read.body["amount"], read.body["description"]) == (12050, "TARI 2026")
    assert read.body["dueDate"].startswith("2026-12-31T23:59:59")


def test_a_get_payment_reads_its_data() -> None:
    answer = ec.PaGetPaymentV2Response(
        outcome="OK",
        data=ec.PaymentPAV2(
            creditor_reference_id=NOTICE[1:],
            payment_amount=12050,
            due_date=date(2026, 12, 31),
            description="TARI 2026",
            company_name="Comune di Prova",
            debtor=Subject(
                unique_identifier=EntityUniqueIdentifier(type="F", value="RSSMRA80A01H501U"),
                full_name="Mario Rossi",
            ),
            transfer_list=ec.TransferListPAV2(
                transfer=[
                    ec.TransferPAV2(
                        id_transfer=1,
                        transfer_amount=12050,
                        fiscal_code_pa=EC,
                        iban="IT60X0542811101000000123456",
                        remittance_information="TARI",
                        transfer_category="9/0101100IM/",
                    )
                ]
            ),
        ),
    )
    request = request_for(STATION, "activate", ACTIVATE)
    read = classify("activate", request, 200, _envelope(answer, "paGetPaymentV2Response"))
    assert read.accepted
    assert read.body is not None
    assert read.body["amount"] == 12050


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (faults.PAA_PAGAMENTO_SCONOSCIUTO, 404),
        (faults.PAA_PAGAMENTO_DUPLICATO, 409),
        (faults.PAA_PAGAMENTO_SCADUTO, 410),
        (faults.PAA_SEMANTICA, 422),
        (faults.PAA_SYSTEM_ERROR, 502),
    ],
)
def test_an_ec_fault_keeps_its_code_with_the_status_the_gateway_maps(
    code: str, status: int
) -> None:
    answer = ec.PaVerifyPaymentNoticeRes(outcome="KO", fault=faults.ec_fault(code, EC))
    request = request_for(STATION, "verify", VERIFY)
    read = classify("verify", request, 200, _envelope(answer, "paVerifyPaymentNoticeRes"))
    assert (read.outcome, read.status, read.fault_code) == ("ok", status, code)
    assert not read.accepted


@pytest.mark.parametrize(
    ("status", "raw", "outcome"),
    [
        (503, b"", "notActive"),
        (401, b"unauthorized", "error"),
        (500, soap.soap_fault("boom", code="Server"), "error"),
        (200, b'{"outcome": "OK"}', "error"),
    ],
    ids=["503", "401", "soap fault", "json"],
)
def test_what_is_no_paForNode_answer_is_a_station_failure(
    status: int, raw: bytes, outcome: str
) -> None:
    request = request_for(STATION, "verify", VERIFY)
    assert classify("verify", request, status, raw).outcome == outcome


def test_the_probe_succeeds_only_on_an_unknown_notice() -> None:
    def verify_answer(code: str | None) -> Answer:
        answer = (
            ec.PaVerifyPaymentNoticeRes(outcome="KO", fault=faults.ec_fault(code, EC))
            if code
            else ec.PaVerifyPaymentNoticeRes(
                outcome="OK",
                payment_list=ec.PaymentOptionsDescriptionListPA(
                    payment_option_description=ec.PaymentOptionDescriptionPA(
                        amount=1, options="EQ", all_ccp=False
                    )
                ),
            )
        )
        request = request_for(
            STATION,
            "verify",
            EcVerifyRequest(pa_fiscal_code=EC, notice_number=ec.PROBE_NOTICE_NUMBER),
        )
        return classify("verify", request, 200, _envelope(answer, "paVerifyPaymentNoticeRes"))

    assert probe_succeeded(verify_answer(faults.PAA_PAGAMENTO_SCONOSCIUTO))
    assert not probe_succeeded(verify_answer(faults.PAA_SYSTEM_ERROR))
    assert not probe_succeeded(verify_answer(faults.PAA_SINTASSI_XSD))
    assert not probe_succeeded(verify_answer(None))
    assert not probe_succeeded(Answer("error", 401, None, "unauthorized"))
    assert not probe_succeeded(Answer("timeout"))


def test_a_receipt_names_the_payer_the_psps_outcome_named_and_validates() -> None:
    paid = {
        "receiptId": "r-1",
        "paFiscalCode": EC,
        "noticeNumber": NOTICE,
        "amount": 12_050,
        "pspId": "DEMOPSP",
        "paymentDateTime": "2026-12-08T10:30:00+01:00",
        "paymentMethod": "creditCard",
        "fee": 150,
        "standIn": True,
        "payer": {"fiscalCode": "VRDGNN80A01H501X", "fullName": "Gianni Verdi"},
    }
    request = receipt_request(
        STATION, paid, position=None, ec_name="Comune", psp_name="PSP", iban=IBAN
    )
    element = request.to_element(etree.QName(ec.NAMESPACE, "paSendRTV2Request"))
    assert valid(element) == []
    payer = element.find("receipt/payer")
    assert payer is not None
    assert payer.findtext("uniqueIdentifier/entityUniqueIdentifierType") == "F"
    assert payer.findtext("uniqueIdentifier/entityUniqueIdentifierValue") == "VRDGNN80A01H501X"
    assert payer.findtext("fullName") == "Gianni Verdi"
    no_payer = receipt_request(
        STATION, {**paid, "payer": None}, position=None, ec_name="C", psp_name="P", iban=IBAN
    )
    assert no_payer.receipt.payer is None
