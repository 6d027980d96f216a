"""Stand-in payments end to end through the dev host, moving its clock instead of waiting: the
EC (the EC simulator) goes down, its station enters stand-in, citizens pay from the archive,
receipts wait; the EC comes back, the probes succeed, the station leaves and every receipt is
delivered exactly once. A host killed between an outcome and the receipt's delivery; bad input
on every field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin

from local.ecsim import Notice, control
from local.platform import DEMO_EC, DEMO_STATION, Platform, demo_channel
from shared.pagopa import soap
from shared.standin.payments import new_token
from tests.conftest import ADMIN_KEY, Host, base_settings, fresh_queues, start_host, wait_for
from tests.e2e.test_notices import dev_now
from tests.unit.pagopa.schema import validator

API = "/api/standin/v1"
STATION = f"/api/ops/standin/stations/{DEMO_STATION}"


def standin_env() -> dict[str, str]:
    return {
        **fresh_queues("standin"),
        "STANDIN_RECEIPTS_QUEUE": f"standin-receipts-{uuid.uuid4().hex[:8]}",
    }


def psp(host: Host) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_PSP"]}


def new_notices(host: Host, ec_control: str, count: int) -> list[str]:
    """``count`` notices in the archive and at the EC, same amount and description."""
    base = uuid.uuid4().int % 10**12
    numbers = []
    due = dev_now(host) + timedelta(days=365)  # earlier tests may have moved the clock by years
    for i in range(count):
        iuv = f"01{base:012d}{i:03d}"
        response = host.request(
            "POST",
            "/api/aca/v1/paCreatePosition",
            headers={"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]},
            json={
                "paFiscalCode": DEMO_EC,
                "entityType": "F",
                "entityFiscalCode": "RSSMRA85T10A562S",
                "entityFullName": "Mario Rossi",
                "iuv": iuv,
                "amount": 7_300 + i,
                "description": f"Refezione scolastica {i}",
                "expirationDate": due.isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        numbers.append("3" + iuv)
    control.put_notices(
        ec_control,
        [
            Notice(DEMO_EC, n, 7_300 + i, due, f"Refezione scolastica {i}", "Comune di Demo")
            for i, n in enumerate(numbers)
        ],
    )
    return numbers


def verify(host: Host, number: str) -> Any:
    return host.request(
        "POST",
        f"{API}/verify",
        headers=psp(host),
        json={"paFiscalCode": DEMO_EC, "noticeNumber": number},
    )


def activate(host: Host, number: str, key: str) -> Any:
    verified = verify(host, number)
    assert verified.status_code == 200, verified.text
    activated = host.request(
        "POST",
        f"{API}/activate",
        headers=psp(host),
        json={
            "paFiscalCode": DEMO_EC,
            "noticeNumber": number,
            "amount": verified.json()["amount"],
            "idempotencyKey": key,
            "pspId": "DEMOPSP",
        },
    )
    assert activated.status_code == 200, activated.text
    return verified, activated


def report(host: Host, token: str, receipt: str, paid_at: str | None = None) -> Any:
    """An OK outcome of ``token`` with ``receipt``, paid at ``paid_at`` (default: now)."""
    return host.request(
        "POST",
        f"{API}/outcome",
        headers=psp(host),
        json={
            "paymentToken": token,
            "outcome": "OK",
            "pspId": "DEMOPSP",
            "receiptId": receipt,
            "paymentDateTime": paid_at or dev_now(host).isoformat(),
            "paymentMethod": "CP",
            "fee": 150,
        },
    )


def pay(host: Host, number: str, receipt: str) -> dict[str, Any]:
    verified, activated = activate(host, number, f"idem-{receipt}")
    outcome = report(host, activated.json()["paymentToken"], receipt)
    assert outcome.status_code == 200, outcome.text
    result: dict[str, Any] = {
        "verify": verified.json(),
        "activate": activated.json(),
        "outcome": outcome.json(),
    }
    return result


def evaluate(host: Host, seconds: float = 300) -> dict[str, Any]:
    host.advance_clock(seconds)
    ran = host.request("POST", "/admin/functions/standin_evaluate", key=ADMIN_KEY)
    assert ran.status_code in (200, 202, 204), ran.text
    station = host.request("GET", STATION, key=ADMIN_KEY)
    assert station.status_code == 200, station.text
    result: dict[str, Any] = station.json()
    return result


def delivered(ec_control: str, receipts: list[str]) -> dict[str, int]:
    counts: dict[str, int] = control.receipts(ec_control)["deliveries"]
    return {r: counts.get(r, 0) for r in receipts}


def test_an_outage_from_entry_to_every_receipt_delivered_once(
    platform: Platform, ec_control: str
) -> None:
    host = start_host(platform, env=standin_env())
    try:
        numbers = new_notices(host, ec_control, 5)
        # PSPs call the node's SOAP primitives (zeep, built from the project's WSDL); every
        # message checked against the project's XSD.
        history = HistoryPlugin()
        node = zeep.Client(f"{host.url}/api/node/v1/nodeForPsp?wsdl", plugins=[history])
        normal = _verify_in_soap(node, history, numbers[0])
        assert (normal.outcome, normal.standin) == ("OK", False)
        assert normal.paymentDescription == "Refezione scolastica 0"

        # The EC goes down. Each round: 5 minutes later the manager runs (the host's timer
        # fires too, on the dev clock), then three verifies.
        control.set_behaviour(ec_control, state="down")
        rounds: list[list[Any]] = []
        for _ in range(7):
            evaluate(host)
            answers = [_verify_in_soap(node, history, number) for number in numbers[:3]]
            rounds.append([a.fault.faultCode if a.outcome == "KO" else a.standin for a in answers])
        # More than 3 of the 6 slots of the window must be faulty: the fifth run enters.
        unreachable = "PPT_STAZIONE_INT_PA_IRRAGGIUNGIBILE"
        assert rounds == [[unreachable] * 3] * 4 + [[True] * 3] * 3, rounds
        station = host.request("GET", STATION, key=ADMIN_KEY).json()
        assert station["mode"] == "STANDIN", station
        entered = [h for h in station["history"] if h["event"] == "entered"]
        assert len(entered) == 1
        assert "4 of 6 slots" in entered[0]["reason"]
        assert "100.0% of the traffic" in entered[0]["reason"]

        # PSPs pay from the archive (standin true; SANP's receipt id is the payment token);
        # the receipts cannot reach the EC yet.
        receipts = []
        for number in numbers:
            paid = _pay_in_soap(node, history, number)
            assert (paid["verifyStandin"], paid["activateStandin"]) == (True, True)
            receipts.append(paid["token"])
        # Each receipt's first delivery fails and is rescheduled (RESCHEDULE_BASE_SECONDS is
        # an hour in the tests); the manager keeps the station in stand-in meanwhile.
        wait_for(lambda: host.child.output.count("rescheduled as attempt 1 ") >= len(receipts))
        for _ in range(3):
            assert evaluate(host)["mode"] == "STANDIN"
        assert delivered(ec_control, receipts) == dict.fromkeys(receipts, 0)

        # The EC comes back. The rescheduled deliveries come due (the clock is not moved
        # while they run: a lock would expire) and each receipt arrives once.
        control.set_behaviour(ec_control, state="up")
        host.advance_clock(7200)
        wait_for(lambda: all(n == 1 for n in delivered(ec_control, receipts).values()), timeout=30)
        # The probes succeed; after an hour in stand-in and 7 good probes the station leaves.
        modes = [evaluate(host)["mode"] for _ in range(8)]
        assert modes[-1] == "NORMAL", modes
        station = host.request("GET", STATION, key=ADMIN_KEY).json()
        assert [h["event"] for h in station["history"]][-2:] == ["entered", "left"]
        assert sum(p["ok"] for p in station["probes"]) > 6
        for _ in range(3):  # later timers, sweeps and redeliveries send nothing twice
            evaluate(host, 900)
        assert delivered(ec_control, receipts) == dict.fromkeys(receipts, 1)
        stored = control.receipts(ec_control)["receipts"]
        ours = [r for r in stored if r["receiptId"] in receipts]
        assert len(ours) == len(receipts)
        assert all(r["standIn"] is True for r in ours)  # each came as paSendRTV2, standIn true
        assert {r["debtor"] for r in ours} == {"Mario Rossi"}  # the archive's debtor

        # Back in normal mode the EC answers, and knows the notices are paid.
        again = verify(host, numbers[0])
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "PAA_PAGAMENTO_DUPLICATO"
        for number, receipt in zip(numbers, receipts, strict=True):
            position = host.request(
                "GET", f"/api/ops/notices/positions/{DEMO_EC}/{number}", key=ADMIN_KEY
            ).json()
            assert position["status"] == "PAID"
            assert position["receiptId"] == receipt
    finally:
        host.stop()


def test_a_host_killed_before_the_delivery_delivers_after_restart(
    platform: Platform, ec_control: str
) -> None:
    env = standin_env()
    database = f"db-{uuid.uuid4().hex[:10]}"
    first = start_host(
        platform, database=database, env={**env, "AzureWebJobs.standin_receipts.Disabled": "true"}
    )
    receipt = f"rcpt-{uuid.uuid4().hex[:12]}"
    try:
        number = new_notices(first, ec_control, 1)[0]
        forced = first.request(
            "PUT",
            f"{STATION}/force",
            key=ADMIN_KEY,
            headers={"x-operator": "e2e"},
            json={"mode": "STANDIN", "reason": "EC maintenance"},
        )
        assert forced.status_code == 200, forced.text
        assert forced.json()["forced"]["by"] == "e2e"
        pay(first, number, receipt)
    finally:
        first.child.proc.kill()  # no clean shutdown
        first.stop()
    assert delivered(ec_control, [receipt]) == {receipt: 0}
    second = start_host(platform, database=database, env=env)
    try:
        wait_for(lambda: delivered(ec_control, [receipt])[receipt] == 1, timeout=30)
        released = second.request("DELETE", f"{STATION}/force", key=ADMIN_KEY)
        assert released.status_code == 200, released.text
        assert released.json()["mode"] == "NORMAL"
        assert [h["event"] for h in released.json()["history"]] == ["forced", "released"]
    finally:
        second.stop()


# ------------------------------------------------------------------ bad input


def position_status(host: Host, number: str) -> str:
    response = host.request("GET", f"/api/ops/notices/positions/{DEMO_EC}/{number}", key=ADMIN_KEY)
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


def test_a_payment_time_out_of_range_records_nothing_and_the_receipt_arrives(
    host: Host, ec_control: str
) -> None:
    [number] = new_notices(host, ec_control, 1)
    _, activated = activate(host, number, f"idem-{uuid.uuid4().hex[:8]}")
    token = activated.json()["paymentToken"]
    receipt = f"rcpt-{uuid.uuid4().hex[:12]}"
    # Year 1 at +14:00 cannot be converted to UTC: once recorded, no delivery could send it.
    refused = report(host, token, receipt, "0001-01-01T00:00:00+14:00")
    assert refused.status_code == 422, refused.text
    assert [e["loc"] for e in refused.json()["errors"]] == [["paymentDateTime"]]
    assert position_status(host, number) == "VALID"
    paid_at = dev_now(host).replace(microsecond=0)
    paid = report(host, token, receipt, paid_at.isoformat())  # the token is still live
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "PAID"
    assert position_status(host, number) == "PAID"
    wait_for(lambda: delivered(ec_control, [receipt]) == {receipt: 1}, timeout=30)
    [sent] = [r for r in control.receipts(ec_control)["receipts"] if r["receiptId"] == receipt]
    assert datetime.fromisoformat(sent["paymentDateTime"]) == paid_at


def test_one_receipt_id_cannot_pay_two_notices_of_an_ec(host: Host, ec_control: str) -> None:
    first, second = new_notices(host, ec_control, 2)
    receipt, other = (f"rcpt-{uuid.uuid4().hex[:12]}" for _ in range(2))
    pay(host, first, receipt)
    _, activated = activate(host, second, f"idem-{uuid.uuid4().hex[:8]}")
    token = activated.json()["paymentToken"]
    # The EC would answer the second receipt "duplicate": it would never have it.
    reused = report(host, token, receipt)
    assert reused.status_code == 409, reused.text
    assert reused.json()["code"] == "RECEIPT_REUSED"
    assert position_status(host, second) == "VALID"
    assert report(host, token, other).status_code == 200
    wait_for(lambda: delivered(ec_control, [receipt, other]) == {receipt: 1, other: 1}, timeout=30)
    by_id = {r["receiptId"]: r for r in control.receipts(ec_control)["receipts"]}
    assert (by_id[receipt]["noticeNumber"], by_id[other]["noticeNumber"]) == (first, second)


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, env=standin_env())
    try:
        yield started
    finally:
        started.stop()


NOTICE = {"paFiscalCode": DEMO_EC, "noticeNumber": "301000000000000001"}
ACTIVATE = {**NOTICE, "amount": 100, "idempotencyKey": "k-1", "pspId": "DEMOPSP"}
OUTCOME = {
    "paymentToken": new_token(DEMO_EC, "301000000000000001"),
    "outcome": "OK",
    "pspId": "DEMOPSP",
    "receiptId": "r-1",
    "paymentDateTime": "2026-11-22T10:00:00Z",
    "paymentMethod": "CP",
    "fee": 0,
}
BAD_VALUES: dict[str, list[Any]] = {
    "paFiscalCode": ["7777777777", "7777777777x", 77777777777, None, ""],
    "noticeNumber": ["30100000000000000", "3010000000000000011", "30100000000000000a", 3, None],
    "amount": [0, -1, "100", 1.5, 100_000_000_000, None, True],
    "idempotencyKey": ["", "k" * 71, "with space", 5, None],
    "pspId": ["", "-bad", "x" * 65, 5, None],
    "paymentToken": ["", "short", f"{DEMO_EC}301000000000000001{'A' * 16}", 5, None],
    "outcome": ["ok", "MAYBE", "", 1, None],
    "receiptId": ["", "r" * 65, "has space", 1, None],
    "paymentDateTime": [
        "2026-11-22T10:00:00",
        "yesterday",
        "",
        1,
        None,
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        1_795_000_000,
    ],
    "paymentMethod": ["", "x" * 36, "card payment", 1, None],
    "fee": [-1, "0", 1.5, None, 100_000_000_000, True],
}
BODIES = {"verify": NOTICE, "activate": ACTIVATE, "outcome": OUTCOME}
CASES = [
    (operation, field, value)
    for operation, body in BODIES.items()
    for field in body
    for value in BAD_VALUES[field]
]


@pytest.mark.parametrize(("operation", "field", "value"), CASES)
def test_every_bad_field_is_a_clear_4xx(host: Host, operation: str, field: str, value: Any) -> None:
    body = {**BODIES[operation], field: value}
    response = host.request("POST", f"{API}/{operation}", headers=psp(host), json=body)
    assert response.status_code == 422, (field, value, response.text)
    problem = response.json()
    assert problem["errors"][0]["loc"] == [field], problem


@pytest.mark.parametrize("operation", list(BODIES))
def test_missing_unknown_and_malformed_bodies_and_keys(host: Host, operation: str) -> None:
    path = f"{API}/{operation}"
    body = BODIES[operation]
    for field in body:
        missing = {k: v for k, v in body.items() if k != field}
        response = host.request("POST", path, headers=psp(host), json=missing)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["errors"][0]["loc"] == [field]
    extra = host.request("POST", path, headers=psp(host), json={**body, "pan": "4111"})
    assert extra.status_code == 422
    assert extra.json()["errors"][0]["loc"] == ["pan"]
    for raw in (b"", b"{", b"[]", b"null"):
        malformed = host.request(
            "POST", path, headers={**psp(host), "Content-Type": "application/json"}, data=raw
        )
        assert malformed.status_code in (400, 422), (raw, malformed.text)
    assert host.request("POST", path, json=body).status_code == 401  # no party key
    assert (
        host.request(
            "POST", path, headers={"Ocp-Apim-Subscription-Key": "nope"}, json=body
        ).status_code
        == 401
    )
    # the party key alone: the route is anonymous at the Functions level (no key of ours)
    answered = host.request("POST", path, key=None, headers=psp(host), json=body)
    assert answered.status_code not in (401, 403), answered.text  # served on the PSP's key
    as_ec = host.request(
        "POST", path, json=body, headers={"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]}
    )
    assert as_ec.status_code == 403, as_ec.text


def test_operators_get_clear_answers(host: Host) -> None:
    assert host.request("GET", f"{STATION}x", key=ADMIN_KEY).status_code == 404
    bad = host.request(
        "PUT", f"{STATION}/force", key=ADMIN_KEY, json={"mode": "DOWN", "reason": "x"}
    )
    assert bad.status_code == 422
    assert (
        host.request("PUT", f"{STATION}/force", key=ADMIN_KEY, json={"mode": "STANDIN"}).status_code
        == 422
    )
    assert host.request("GET", STATION).status_code == 401  # a function key is not enough
    listed = host.request("GET", "/api/ops/standin/stations", key=ADMIN_KEY)
    assert listed.status_code == 200
    assert isinstance(listed.json()["stations"], list)


def test_openapi_documents_the_json_gateway_and_the_node_serves_its_wsdl(host: Host) -> None:
    document = host.request("GET", "/api/openapi.json", key=None).json()
    for operation in ("verify", "activate", "outcome"):
        post = document["paths"][f"{API}/{operation}"]["post"]
        assert {"502", "504"} <= set(post["responses"]) or operation == "outcome"
    # Stations are called in SOAP (paForNode): no JSON webhooks of ours describe them.
    assert not {"ecVerify", "ecActivate", "ecReceipt"} & set(document.get("webhooks", {}))
    assert not any(path.startswith("node/") for path in document["paths"])
    served = host.request("GET", "/api/node/v1/nodeForPsp?wsdl", key=None)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("text/xml")
    address = etree.fromstring(served.content).find(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert address is not None
    assert address.get("location") == f"{host.url}/api/node/v1/nodeForPsp"
    for name in ("nodeForPsp.xsd", "common.xsd"):
        assert host.request("GET", f"/api/node/v1/schemas/{name}", key=None).status_code == 200
    for name in ("paForNode.wsdl", "..%2F__init__.py", "nope.xsd"):
        assert host.request("GET", f"/api/node/v1/schemas/{name}", key=None).status_code == 404


# ------------------------------------------------------------------ the node's SOAP primitives
_CHANNEL = demo_channel(base_settings())  # what the tests' platform seeded
WHO = {
    "idPSP": _CHANNEL.id_psp,
    "idBrokerPSP": _CHANNEL.id_broker_psp,
    "idChannel": _CHANNEL.id_channel,
    "password": _CHANNEL.password,
}
_valid_psp = validator("nodeForPsp.xsd")


def _soap_body(envelope: Any) -> etree._Element:
    body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    return body[0]


def _verify_in_soap(node: zeep.Client, history: HistoryPlugin, number: str) -> Any:
    """verifyPaymentNotice through zeep, both messages checked against our XSD."""
    answer = node.service.verifyPaymentNotice(
        **WHO, qrCode={"fiscalCode": DEMO_EC, "noticeNumber": number}
    )
    for envelope in (history.last_sent["envelope"], history.last_received["envelope"]):
        body = _soap_body(envelope)
        assert _valid_psp(body) == [], etree.tostring(body)
    return answer


def _pay_in_soap(node: zeep.Client, history: HistoryPlugin, number: str) -> dict[str, Any]:
    """verify, activate and outcome through zeep; every message checked against our XSD."""
    seen: list[etree._Element] = []

    def call(operation: str, **kwargs: Any) -> Any:
        answer = getattr(node.service, operation)(**WHO, **kwargs)
        for envelope in (history.last_sent["envelope"], history.last_received["envelope"]):
            body = _soap_body(envelope)
            assert _valid_psp(body) == [], etree.tostring(body)
            seen.append(body)
        return answer

    qr = {"fiscalCode": DEMO_EC, "noticeNumber": number}
    verified = call("verifyPaymentNotice", qrCode=qr)
    assert verified.outcome == "OK", verified.fault
    amount = verified.paymentList.paymentOptionDescription[0].amount
    activated = call(
        "activatePaymentNoticeV2",
        idempotencyKey=f"DEMOPSP_{uuid.uuid4().hex[:10]}",
        qrCode=qr,
        amount=amount,
    )
    assert activated.outcome == "OK", activated.fault
    assert len(activated.paymentToken) <= 35
    paid = call(
        "sendPaymentOutcomeV2",
        paymentTokens={"paymentToken": [activated.paymentToken]},
        outcome="OK",
        details={
            "paymentMethod": "creditCard",
            "fee": Decimal("0.50"),
            "applicationDate": date(2026, 12, 7),
            "transferDate": date(2026, 12, 8),
        },
    )
    assert paid.outcome == "OK", paid.fault
    return {
        "verifyStandin": verified.standin,
        "activateStandin": activated.standin,
        "amount": amount,
        "token": activated.paymentToken,
        "messages": len(seen),
    }


def test_a_psp_pays_through_soap_in_normal_mode_and_in_stand_in(
    host: Host, ec_control: str
) -> None:
    history = HistoryPlugin()
    node = zeep.Client(f"{host.url}/api/node/v1/nodeForPsp?wsdl", plugins=[history])
    normal, in_standin = new_notices(host, ec_control, 2)
    paid = _pay_in_soap(node, history, normal)
    assert (paid["verifyStandin"], paid["activateStandin"]) == (False, False)
    assert paid["amount"] == Decimal("73.00")
    assert paid["messages"] == 6
    forced = host.request(
        "PUT", f"{STATION}/force", key=ADMIN_KEY, json={"mode": "STANDIN", "reason": "soap"}
    )
    assert forced.status_code == 200, forced.text
    try:
        paid = _pay_in_soap(node, history, in_standin)
        assert (paid["verifyStandin"], paid["activateStandin"]) == (True, True)
        assert paid["amount"] == Decimal("73.01")
        assert position_status(host, in_standin) == "PAID"
    finally:
        host.request("DELETE", f"{STATION}/force", key=ADMIN_KEY)


def test_a_wrong_channel_password_is_a_ko_and_json_a_soap_fault(host: Host) -> None:
    node = zeep.Client(f"{host.url}/api/node/v1/nodeForPsp?wsdl")
    answer = node.service.verifyPaymentNotice(
        **{**WHO, "password": "not-the-one"},
        qrCode={"fiscalCode": DEMO_EC, "noticeNumber": "301000000000000001"},
    )
    assert (answer.outcome, answer.fault.faultCode) == ("KO", "PPT_AUTENTICAZIONE")
    refused = host.request(
        "POST", "/api/node/v1/nodeForPsp", key=None, json={"paFiscalCode": DEMO_EC}
    )
    assert refused.status_code == 500
    assert (soap.fault_reason(refused.content) or "").startswith("PPT_SINTASSI_EXTRAXSD")
