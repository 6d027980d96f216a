"""One full message of each primitive served, every optional element present (the schema's
limits at their widest where it matters: five transfers, five tokens, 140-character texts)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.pagopa import ec, psp
from shared.pagopa.common import (
    EntityUniqueIdentifier,
    MapEntry,
    Metadata,
    QrCode,
    Subject,
)
from shared.pagopa.faults import PAA_PAGAMENTO_SCONOSCIUTO, ec_fault, forwarded
from shared.pagopa.xml import XmlModel

EC = "77777777777"
NOTICE = "302000000000000001"
QR = QrCode(fiscal_code=EC, notice_number=NOTICE)
CREDENTIALS = {
    "id_psp": "DEMOPSP01",
    "id_broker_psp": "DEMOBROKER01",
    "id_channel": "DEMOBROKER01_01",
    "password": "demo-pass-1",
}
STATION = {"id_pa": EC, "id_broker_pa": "77777777777", "id_station": "77777777777_01"}
SUBJECT = Subject(
    unique_identifier=EntityUniqueIdentifier(type="F", value="RSSMRA80A01H501U"),
    full_name="M" * 70,
    street_name="Via Roma",
    civic_number="1",
    postal_code="00100",
    city="Roma",
    state_province_region="RM",
    country="IT",
    email="mario.rossi@example.org",
)
METADATA = Metadata(map_entry=[MapEntry(key="k", value="v")])
PSP_TRANSFERS = psp.TransferListPSPV2(
    transfer=[
        psp.TransferPSPV2(
            id_transfer=i,
            transfer_amount=2000,
            fiscal_code_pa=EC,
            company_name="Comune di Prova",
            iban="IT60X0542811101000000123456",
            remittance_information="r" * 140,
            transfer_category="9/0101100IM/",
            metadata=METADATA,
        )
        for i in range(1, 6)
    ]
)
EC_TRANSFERS = ec.TransferListPAV2(
    transfer=[
        ec.TransferPAV2(
            id_transfer=i,
            transfer_amount=2000,
            fiscal_code_pa=EC,
            company_name="Comune di Prova",
            iban="IT60X0542811101000000123456",
            remittance_information="tari",
            transfer_category="9/0101100IM/",
            metadata=METADATA,
        )
        for i in range(1, 6)
    ]
)
KO = {"outcome": "KO", "fault": forwarded(ec_fault(PAA_PAGAMENTO_SCONOSCIUTO, EC, "no such"))}

PSP_MESSAGES: list[tuple[str, XmlModel]] = [
    ("verifyPaymentNoticeReq", psp.VerifyPaymentNoticeReq(**CREDENTIALS, qr_code=QR)),
    (
        "verifyPaymentNoticeRes",
        psp.VerifyPaymentNoticeRes(
            outcome="OK",
            payment_list=psp.PaymentOptionsDescriptionList(
                payment_option_description=[
                    psp.PaymentOptionDescription(
                        amount=10000, options="EQ", due_date=date(2026, 12, 31), payment_note="n"
                    )
                ]
            ),
            payment_description="d" * 210,
            fiscal_code_pa=EC,
            company_name="c" * 140,
            office_name="o",
            standin=True,
        ),
    ),
    ("verifyPaymentNoticeRes", psp.VerifyPaymentNoticeRes(**KO)),
    (
        "activatePaymentNoticeV2Request",
        psp.ActivatePaymentNoticeV2Request(
            **CREDENTIALS,
            idempotency_key="DEMOPSP01_a1b2c3d4e5",
            qr_code=QR,
            expiration_time=1_800_000,
            amount=10000,
            due_date=date(2026, 12, 31),
            payment_note="note",
            payment_method="CP",
            touch_point="IO",
        ),
    ),
    (
        "activatePaymentNoticeV2Response",
        psp.ActivatePaymentNoticeV2Response(
            outcome="OK",
            total_amount=10000,
            payment_description="TARI 2026",
            fiscal_code_pa=EC,
            company_name="Comune di Prova",
            office_name="Tributi",
            payment_token="a" * 35,
            transfer_list=PSP_TRANSFERS,
            metadata=METADATA,
            creditor_reference_id="02000000000000001",
            all_ccp=False,
            standin=True,
        ),
    ),
    ("activatePaymentNoticeV2Response", psp.ActivatePaymentNoticeV2Response(**KO)),
    (
        "sendPaymentOutcomeV2Request",
        psp.SendPaymentOutcomeV2Request(
            **CREDENTIALS,
            idempotency_key="DEMOPSP01_a1b2c3d4e5",
            payment_tokens=psp.PaymentTokens(payment_token=[f"token{i}" for i in range(5)]),
            outcome="OK",
            details=psp.OutcomeDetailsV2(
                payment_method="creditCard",
                payment_channel="app",
                fee=150,
                primary_ci_incurred_fee=0,
                id_bundle="b",
                id_ci_bundle="c",
                payer=SUBJECT,
                application_date=date(2026, 12, 7),
                transfer_date=date(2026, 12, 8),
            ),
        ),
    ),
    ("sendPaymentOutcomeV2Response", psp.SendPaymentOutcomeV2Response(outcome="OK")),
    ("sendPaymentOutcomeV2Response", psp.SendPaymentOutcomeV2Response(**KO)),
]

EC_MESSAGES: list[tuple[str, XmlModel]] = [
    ("paVerifyPaymentNoticeReq", ec.PaVerifyPaymentNoticeReq(**STATION, qr_code=QR)),
    (
        "paVerifyPaymentNoticeRes",
        ec.PaVerifyPaymentNoticeRes(
            outcome="OK",
            payment_list=ec.PaymentOptionsDescriptionListPA(
                payment_option_description=ec.PaymentOptionDescriptionPA(
                    amount=10000,
                    options="EQ",
                    due_date=date(2026, 12, 31),
                    detail_description="TARI",
                    all_ccp=False,
                )
            ),
            payment_description="TARI 2026",
            fiscal_code_pa=EC,
            company_name="Comune di Prova",
            office_name="Tributi",
        ),
    ),
    (
        "paVerifyPaymentNoticeRes",
        ec.PaVerifyPaymentNoticeRes(outcome="KO", fault=ec_fault(PAA_PAGAMENTO_SCONOSCIUTO, EC)),
    ),
    (
        "paGetPaymentV2Request",
        ec.PaGetPaymentV2Request(
            **STATION,
            qr_code=QR,
            amount=10000,
            payment_note="n",
            transfer_type="PAGOPA",
            due_date=date(2026, 12, 31),
        ),
    ),
    (
        "paGetPaymentV2Response",
        ec.PaGetPaymentV2Response(
            outcome="OK",
            data=ec.PaymentPAV2(
                creditor_reference_id="02000000000000001",
                payment_amount=10000,
                due_date=date(2026, 12, 31),
                retention_date=datetime(2027, 1, 31, tzinfo=UTC),
                last_payment=True,
                description="d" * 140,
                company_name="Comune di Prova",
                office_name="Tributi",
                debtor=SUBJECT,
                transfer_list=EC_TRANSFERS,
                metadata=METADATA,
            ),
        ),
    ),
    (
        "paSendRTV2Request",
        ec.PaSendRTV2Request(
            **STATION,
            receipt=ec.ReceiptV2(
                receipt_id="c0ffee",
                notice_number=NOTICE,
                fiscal_code=EC,
                outcome="OK",
                creditor_reference_id="02000000000000001",
                payment_amount=10000,
                description="TARI 2026",
                company_name="Comune di Prova",
                office_name="Tributi",
                debtor=SUBJECT,
                transfer_list=EC_TRANSFERS,
                id_psp="DEMOPSP01",
                psp_fiscal_code="12345678901",
                psp_partita_iva="12345678901",
                psp_company_name="Demo PSP",
                id_channel="DEMOBROKER01_01",
                channel_description="app",
                payer=SUBJECT,
                payment_method="creditCard",
                payment_note="n",
                fee=150,
                primary_ci_incurred_fee=0,
                id_bundle="b",
                id_ci_bundle="c",
                payment_date_time=datetime(2026, 12, 7, 10, 0, tzinfo=UTC),
                application_date=date(2026, 12, 7),
                transfer_date=date(2026, 12, 8),
                metadata=METADATA,
                stand_in=True,
            ),
        ),
    ),
    ("paSendRTV2Response", ec.PaSendRTV2Response(outcome="OK")),
]
