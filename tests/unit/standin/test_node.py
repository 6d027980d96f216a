"""The node's SOAP primitives for PSPs: authentication as the node does it, the gateway's answers
and refusals as SANP's OK/KO, and every answer valid against the project's XSD."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from lxml import etree

from shared.pagopa import faults, psp, soap
from shared.pagopa.common import EntityUniqueIdentifier, QrCode, Subject
from shared.parties.models import PartyIn
from shared.parties.service import PartyRegistry
from shared.platform.errors import (
    Conflict,
    DependencyError,
    DomainError,
    NotFound,
    UpstreamFailed,
)
from shared.standin.channels import ChannelIn, Channels, password_matches
from shared.standin.models import (
    ActivateIn,
    Activation,
    NoticeAnswer,
    NoticeRef,
    OutcomeIn,
    OutcomeOut,
)
from shared.standin.node import Node, Reply
from shared.standin.payments import new_token
from tests.fakes.parties import MemoryPartyStore
from tests.unit.pagopa.schema import validator

NOW = datetime(2026, 12, 7, 10, tzinfo=UTC)
EC = "77777777777"
NOTICE = "302000000000000001"
PASSWORD = "demo-pass-1"
WHO = {
    "id_psp": "DEMOPSP",
    "id_broker_psp": "DEMOBROKER",
    "id_channel": "DEMOBROKER_01",
    "password": PASSWORD,
}
QR = QrCode(fiscal_code=EC, notice_number=NOTICE)
TOKEN = new_token(EC, NOTICE)
valid = validator("nodeForPsp.xsd")


class FakeGateway:
    def __init__(self) -> None:
        self.refusal: BaseException | None = None
        self.calls: list[tuple[str, Any]] = []
        self.description = "TARI 2026"
        self.lifetimes: list[timedelta | None] = []

    def _refuse(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def _answer(self) -> dict[str, Any]:
        return {
            "paFiscalCode": EC,
            "noticeNumber": NOTICE,
            "amount": 12050,
            "dueDate": datetime(2026, 12, 31, tzinfo=UTC),
            "description": self.description,
            "companyName": "Comune di Prova",
            "status": "VALID",
            "standIn": True,
        }

    async def verify(self, party: Any, notice: NoticeRef, *, now: datetime) -> NoticeAnswer:
        self.calls.append(("verify", notice))
        self._refuse()
        return NoticeAnswer.model_validate(self._answer())

    async def activate(
        self,
        party: Any,
        request: ActivateIn,
        *,
        now: datetime,
        lifetime: timedelta | None = None,
    ) -> Activation:
        self.calls.append(("activate", request))
        self.lifetimes.append(lifetime)
        self._refuse()
        return Activation.model_validate(
            {
                **self._answer(),
                "paymentToken": TOKEN,
                "expiresAt": now,
                "idempotencyKey": request.idempotency_key,
                "pspId": request.psp_id,
            }
        )

    async def outcome(self, party: Any, request: OutcomeIn, *, now: datetime) -> OutcomeOut:
        self.calls.append(("outcome", request))
        self._refuse()
        return OutcomeOut(
            receipt_id=request.receipt_id,
            payment_token=request.payment_token,
            outcome=request.outcome,
            status="PAID",
            pa_fiscal_code=EC,
            notice_number=NOTICE,
            stand_in=True,
        )


class MemoryDocuments:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    async def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        return self.items.get(key)

    async def upsert(self, document: dict[str, Any]) -> dict[str, Any]:
        self.items[(document["id"], document["pk"])] = dict(document)
        return document


async def _world(*, enabled: bool = True) -> tuple[Node, FakeGateway, MemoryDocuments]:
    registry = PartyRegistry(MemoryPartyStore())
    await registry.register(PartyIn(party_id="DEMOPSP", name="Demo PSP", role="psp"), now=NOW)
    await registry.register(
        PartyIn(
            party_id="DEMOBROKER",
            name="Demo broker",
            role="intermediary",
            acts_for={"DEMOPSP": []},
        ),
        now=NOW,
    )
    await registry.register(PartyIn(party_id="OTHERPSP", name="Other", role="psp"), now=NOW)
    documents = MemoryDocuments()
    channels = Channels(documents, registry)
    await channels.put(
        "DEMOBROKER_01",
        ChannelIn(broker_id="DEMOBROKER", psps=["DEMOPSP"], password=PASSWORD, enabled=enabled),
        now=NOW,
    )
    gateway = FakeGateway()
    return Node(channels, gateway), gateway, documents


def _read(reply: Reply, name: str) -> etree._Element:
    assert reply.status == 200
    message = soap.parse(reply.body)
    assert (message.namespace, message.name) == (psp.NAMESPACE, name)
    assert valid(message.element) == []
    return message.element


def _call(request: psp.PspRequest, name: str) -> bytes:
    return soap.serialise(request.to_element(etree.QName(psp.NAMESPACE, name)))


VERIFY = psp.VerifyPaymentNoticeReq(**WHO, qr_code=QR)


async def test_verify_answers_the_notice_with_standin_and_euros() -> None:
    node, gateway, _ = await _world()
    reply = await node.answer(_call(VERIFY, "verifyPaymentNoticeReq"), now=NOW)
    answer = psp.VerifyPaymentNoticeRes.from_element(_read(reply, "verifyPaymentNoticeRes"))
    assert answer.outcome == "OK"
    assert answer.standin is True
    assert answer.payment_list is not None
    assert answer.payment_list.payment_option_description[0].amount == 12050
    assert gateway.calls == [("verify", NoticeRef(pa_fiscal_code=EC, notice_number=NOTICE))]


async def test_an_archive_text_longer_than_sanp_takes_is_cut_to_its_limit() -> None:
    node, gateway, _ = await _world()
    gateway.description = "x" * 255
    reply = await node.answer(_call(VERIFY, "verifyPaymentNoticeReq"), now=NOW)
    answer = psp.VerifyPaymentNoticeRes.from_element(_read(reply, "verifyPaymentNoticeRes"))
    assert answer.payment_description == "x" * 209 + "…"


async def test_activate_passes_cents_and_the_key_and_answers_a_sanp_token() -> None:
    node, gateway, _ = await _world()
    request = psp.ActivatePaymentNoticeV2Request(
        **WHO, idempotency_key="DEMOPSP_a1b2c3d4e5", qr_code=QR, amount=12050
    )
    reply = await node.answer(_call(request, "activatePaymentNoticeV2Request"), now=NOW)
    answer = psp.ActivatePaymentNoticeV2Response.from_element(
        _read(reply, "activatePaymentNoticeV2Response")
    )
    assert (answer.outcome, answer.payment_token, answer.standin) == ("OK", TOKEN, True)
    assert answer.total_amount == 12050
    assert answer.creditor_reference_id == NOTICE[1:]
    sent = gateway.calls[0][1]
    assert (sent.amount, sent.idempotency_key, sent.psp_id) == (
        12050,
        "DEMOPSP_a1b2c3d4e5",
        "DEMOPSP",
    )


async def test_an_outcome_records_each_token_with_the_token_as_receipt_id() -> None:
    node, gateway, _ = await _world()
    tokens = [TOKEN, new_token(EC, "302000000000000002")]
    request = psp.SendPaymentOutcomeV2Request(
        **WHO,
        payment_tokens=psp.PaymentTokens(payment_token=tokens),
        outcome="OK",
        details=psp.OutcomeDetailsV2(
            payment_method="creditCard",
            fee=150,
            payer=Subject(
                unique_identifier=EntityUniqueIdentifier(type="F", value="VRDGNN80A01H501X"),
                full_name="Gianni Verdi",
            ),
            application_date=NOW.date(),
            transfer_date=NOW.date(),
        ),
    )
    reply = await node.answer(_call(request, "sendPaymentOutcomeV2Request"), now=NOW)
    answer = psp.SendPaymentOutcomeV2Response.from_element(
        _read(reply, "sendPaymentOutcomeV2Response")
    )
    assert answer.outcome == "OK"
    recorded = [call[1] for call in gateway.calls]
    assert [(o.payment_token, o.receipt_id, o.fee) for o in recorded] == [
        (t, t, 150) for t in tokens
    ]
    # the payer the PSP named reaches the payment (and so the EC's receipt)
    assert {(o.payer and o.payer.fiscal_code, o.payer and o.payer.full_name) for o in recorded} == {
        ("VRDGNN80A01H501X", "Gianni Verdi")
    }


async def test_a_token_the_node_never_issued_is_unknown() -> None:
    node, gateway, _ = await _world()
    request = psp.SendPaymentOutcomeV2Request(
        **WHO, payment_tokens=psp.PaymentTokens(payment_token=["not-ours"]), outcome="KO"
    )
    reply = await node.answer(_call(request, "sendPaymentOutcomeV2Request"), now=NOW)
    element = _read(reply, "sendPaymentOutcomeV2Response")
    assert element.findtext("fault/faultCode") == faults.PPT_TOKEN_SCONOSCIUTO
    assert gateway.calls == []


def _who(**changes: str) -> dict[str, str]:
    return {**WHO, **changes}


@pytest.mark.parametrize(
    ("who", "code"),
    [
        (_who(id_psp="NOPSP"), faults.PPT_PSP_SCONOSCIUTO),
        (_who(id_broker_psp="NOBROKER"), faults.PPT_INTERMEDIARIO_PSP_SCONOSCIUTO),
        (_who(id_channel="NOCHANNEL"), faults.PPT_CANALE_SCONOSCIUTO),
        (_who(password="wrong-pass"), faults.PPT_AUTENTICAZIONE),
        (_who(id_psp="OTHERPSP", id_broker_psp="OTHERPSP"), faults.PPT_AUTORIZZAZIONE),
    ],
    ids=["psp", "broker", "channel", "password", "channel of another broker"],
)
async def test_the_node_authenticates_psp_broker_channel_and_password(
    who: dict[str, str], code: str
) -> None:
    node, gateway, _ = await _world()
    request = psp.VerifyPaymentNoticeReq(**who, qr_code=QR)  # type: ignore[arg-type]
    reply = await node.answer(_call(request, "verifyPaymentNoticeReq"), now=NOW)
    element = _read(reply, "verifyPaymentNoticeRes")
    assert element.findtext("outcome") == "KO"
    assert element.findtext("fault/faultCode") == code
    assert gateway.calls == []


async def test_a_disabled_channel_is_refused() -> None:
    node, _, _ = await _world(enabled=False)
    reply = await node.answer(_call(VERIFY, "verifyPaymentNoticeReq"), now=NOW)
    element = _read(reply, "verifyPaymentNoticeRes")
    assert element.findtext("fault/faultCode") == faults.PPT_CANALE_DISABILITATO


async def test_the_channel_password_is_stored_hashed() -> None:
    _, _, documents = await _world()
    (channel,) = documents.items.values()
    assert PASSWORD not in str(channel)
    assert channel["passwordHash"].startswith("scrypt$")


async def test_concurrent_calls_check_a_password_once_and_off_the_event_loop() -> None:
    registry = PartyRegistry(MemoryPartyStore())
    await registry.register(PartyIn(party_id="DEMOPSP", name="Demo PSP", role="psp"), now=NOW)
    await registry.register(
        PartyIn(
            party_id="DEMOBROKER", name="Broker", role="intermediary", acts_for={"DEMOPSP": []}
        ),
        now=NOW,
    )
    threads: list[int] = []

    def counting(stored: str, password: str) -> bool:
        threads.append(threading.get_ident())
        return password_matches(stored, password)

    channels = Channels(MemoryDocuments(), registry, check_password=counting)
    await channels.put(
        "DEMOBROKER_01",
        ChannelIn(broker_id="DEMOBROKER", psps=["DEMOPSP"], password=PASSWORD),
        now=NOW,
    )
    node = Node(channels, FakeGateway())
    replies = await asyncio.gather(
        *(node.answer(_call(VERIFY, "verifyPaymentNoticeReq"), now=NOW) for _ in range(20))
    )
    outcomes = {_read(reply, "verifyPaymentNoticeRes").findtext("outcome") for reply in replies}
    assert outcomes == {"OK"}
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()
    wrong = psp.VerifyPaymentNoticeReq(**_who(password="wrong-pass"), qr_code=QR)  # type: ignore[arg-type]
    replies = await asyncio.gather(
        *(node.answer(_call(wrong, "verifyPaymentNoticeReq"), now=NOW) for _ in range(5))
    )
    faults_seen = {_read(r, "verifyPaymentNoticeRes").findtext("fault/faultCode") for r in replies}
    assert faults_seen == {faults.PPT_AUTENTICAZIONE}
    assert len(threads) == 2


@pytest.mark.parametrize(
    ("refusal", "code", "original"),
    [
        (
            NotFound("no such notice", code=faults.PAA_PAGAMENTO_SCONOSCIUTO),
            faults.PPT_ERRORE_EMESSO_DA_PAA,
            faults.PAA_PAGAMENTO_SCONOSCIUTO,
        ),
        (
            UpstreamFailed("late", status=504, code="STATION_TIMEOUT"),
            faults.PPT_STAZIONE_INT_PA_TIMEOUT,
            None,
        ),
        (
            UpstreamFailed("down", code="STATION_UNREACHABLE"),
            faults.PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE,
            None,
        ),
        (
            UpstreamFailed("off", code="STATION_NOT_ACTIVE"),
            faults.PPT_STAZIONE_INT_PA_SERVIZIO_NONATTIVO,
            None,
        ),
        (Conflict("busy", code="PAYMENT_IN_PROGRESS"), faults.PPT_PAGAMENTO_IN_CORSO, None),
        (Conflict("paid", code="ALREADY_PAID"), faults.PPT_PAGAMENTO_DUPLICATO, None),
        (NotFound("none", code="UNKNOWN_NOTICE"), faults.PPT_PAGAMENTO_SCONOSCIUTO, None),
        (DependencyError("cosmos", "429"), faults.PPT_SYSTEM_ERROR, None),
    ],
    ids=[
        "ec fault",
        "timeout",
        "unreachable",
        "not active",
        "in progress",
        "paid",
        "unknown",
        "busy",
    ],
)
async def test_refusals_are_a_ko_with_sanps_code(
    refusal: DomainError | DependencyError, code: str, original: str | None
) -> None:
    node, gateway, _ = await _world()
    gateway.refusal = refusal
    reply = await node.answer(_call(VERIFY, "verifyPaymentNoticeReq"), now=NOW)
    element = _read(reply, "verifyPaymentNoticeRes")
    assert element.findtext("outcome") == "KO"
    assert element.findtext("fault/faultCode") == code
    assert element.findtext("fault/originalFaultCode") == original


async def test_a_message_off_the_schema_is_a_syntax_ko_that_never_echoes_the_password() -> None:
    node, gateway, _ = await _world()
    element = VERIFY.to_element(etree.QName(psp.NAMESPACE, "verifyPaymentNoticeReq"))
    element.find("qrCode/noticeNumber").text = "12"  # type: ignore[union-attr]
    element.find("idPSP").text = "P" * 36  # type: ignore[union-attr]
    reply = await node.answer(soap.serialise(element), now=NOW)
    answer = _read(reply, "verifyPaymentNoticeRes")
    assert answer.findtext("fault/faultCode") == faults.PPT_SINTASSI_XSD
    assert PASSWORD not in reply.body.decode()
    assert gateway.calls == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"paFiscalCode": "77777777777"}',
        soap.serialise(etree.Element(etree.QName(psp.NAMESPACE, "activatePaymentNoticeReq"))),
        soap.serialise(etree.Element(etree.QName("urn:other", "verifyPaymentNoticeReq"))),
    ],
    ids=["json", "primitive not served", "other namespace"],
)
async def test_what_is_no_primitive_served_gets_a_soap_fault(raw: bytes) -> None:
    node, gateway, _ = await _world()
    reply = await node.answer(raw, now=NOW)
    assert reply.status == 500
    reason = soap.fault_reason(reply.body)
    assert reason is not None
    assert reason.startswith(faults.PPT_SINTASSI_EXTRAXSD)
    assert gateway.calls == []


async def test_expiration_time_in_ms_is_the_token_s_lifetime_asked_of_the_gateway() -> None:
    node, gateway, _ = await _world()
    for asked in (60_000, None):
        request = psp.ActivatePaymentNoticeV2Request(
            **WHO, qr_code=QR, amount=12050, expiration_time=asked
        )
        await node.answer(_call(request, "activatePaymentNoticeV2Request"), now=NOW)
    assert gateway.lifetimes == [timedelta(minutes=1), None]
