"""The EC simulator (``local/ecsim``) as a real child process: every answer of the station
protocol, its staged outages and its control API.

One simulator serves the module; each test starts from a reset (notices back to the demo ones,
no receipts, no faults, the dev clock at offset 0).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.transports import Transport

from local.devclock import DevClock
from local.ecsim import DEMO_EC_FISCAL_CODE, DEMO_NOTICES, EcSim, Notice, control, start_ecsim
from shared.pagopa import soap
from shared.pagopa.documents import SCHEMAS
from tests.unit.pagopa.schema import validator

CREDENTIAL = "test-station-key"
EC = "12345678901"
SEED = 20261122
NOT_ACTIVE = "SERVICE_NOT_ACTIVE"
"""How the counters name a 503 (answered without a body: an EC emits no node code)."""


@pytest.fixture(scope="module")
def clock_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ecsim") / "clock.json"
    DevClock(path).set_offset(0)
    return path


@pytest.fixture(scope="module")
def ec(clock_file: Path) -> Iterator[EcSim]:
    child = start_ecsim(credential=CREDENTIAL, clock_file=clock_file, demo=True, seed=SEED)
    try:
        yield child
    finally:
        child.stop()


@pytest.fixture(autouse=True)
def fresh(ec: EcSim, clock_file: Path) -> None:
    if DevClock(clock_file).offset_ms:
        move_clock(clock_file, 0)
    control.reset(ec.control_url, notices=True)


class Station:
    """Calls the station as the gateway would."""

    def __init__(self, ec: EcSim) -> None:
        self.ec = ec
        self.http = requests.Session()

    def call(
        self,
        operation: str,
        body: Any = None,
        *,
        key: str | None = CREDENTIAL,
        data: bytes | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        headers = {"Ocp-Apim-Subscription-Key": key} if key is not None else {}
        return self.http.post(
            f"{self.ec.base_url}/{operation}",
            json=body,
            data=data,
            headers=headers,
            timeout=timeout,
        )


@pytest.fixture
def station(ec: EcSim) -> Iterator[Station]:
    caller = Station(ec)
    try:
        yield caller
    finally:
        caller.http.close()


def move_clock(path: Path, offset_ms: int) -> None:
    """Set the dev clock; write again until the file's mtime changes, which is how the
    simulator notices (two writes in one timestamp tick would look like one)."""
    before = path.stat().st_mtime_ns
    DevClock(path).set_offset(offset_ms)
    while path.stat().st_mtime_ns == before:
        time.sleep(0.01)
        DevClock(path).set_offset(offset_ms)


def register(
    ec: EcSim, *, amount: int = 12_345, due: datetime | None = None, number: str | None = None
) -> Notice:
    notice = Notice(
        EC,
        number or "3" + f"{uuid.uuid4().int % 10**17:017d}",
        amount,
        due or datetime.now(UTC) + timedelta(days=30),
        "Test fee",
        "Comune di Test",
    )
    control.put_notices(ec.control_url, [notice])
    return notice


def ids(notice: Notice) -> dict[str, str]:
    return {"paFiscalCode": notice.pa_fiscal_code, "noticeNumber": notice.notice_number}


def activation(
    notice: Notice, token: str, *, amount: int | None = None, expires_in: float = 900
) -> dict[str, Any]:
    expires = datetime.now(UTC) + timedelta(seconds=expires_in)
    return {
        **ids(notice),
        "amount": notice.amount if amount is None else amount,
        "paymentToken": token,
        "idempotencyKey": f"DEMOPSP_{uuid.uuid4().hex[:10]}",
        "pspId": "DEMOPSP",
        "expiresAt": expires.isoformat(),
    }


def receipt(
    notice: Notice, receipt_id: str, *, token: str = "tok-1", outcome: str = "OK"
) -> dict[str, Any]:
    return {
        "receiptId": receipt_id,
        "paymentToken": token,
        **ids(notice),
        "amount": notice.amount,
        "pspId": "DEMOPSP",
        "paymentDateTime": datetime.now(UTC).isoformat(),
        "paymentMethod": "CARD",
        "fee": 150,
        "standIn": True,
        "outcome": outcome,
    }


def assert_ko(response: requests.Response, status: int, fault_code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["outcome"] == "KO"
    assert body["faultCode"] == fault_code
    assert isinstance(body["description"], str)
    assert body["description"]


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


# ---------------------------------------------------------------------- launcher and demo
def test_the_launcher_gives_the_station_and_control_urls(ec: EcSim) -> None:
    assert ec.port != ec.control_port
    assert ec.base_url == f"http://127.0.0.1:{ec.port}/ec/v1"
    assert ec.control_url == f"http://127.0.0.1:{ec.control_port}/control"
    status = control.status(ec.control_url)
    assert status["port"] == ec.port
    assert status["soapUrl"] == ec.soap_url == f"http://127.0.0.1:{ec.port}/paForNode"
    assert status["listening"] is True
    assert status["behaviour"]["seed"] == SEED


def test_the_demo_notices_verify(station: Station) -> None:
    assert DEMO_NOTICES
    for notice in DEMO_NOTICES:
        assert notice.pa_fiscal_code == DEMO_EC_FISCAL_CODE == "77777777777"
        assert notice.notice_number.startswith("3")
        assert len(notice.notice_number) == 18
        assert notice.due_date > datetime.now(UTC) + timedelta(days=3650)
        response = station.call("verify", ids(notice))
        assert response.status_code == 200, response.text
        assert response.json()["amount"] == notice.amount


# ---------------------------------------------------------------------- verify
def test_verify_answers_the_notice(ec: EcSim, station: Station) -> None:
    due = datetime(2031, 5, 31, 21, 59, 59, tzinfo=UTC)
    notice = register(ec, amount=4_990, due=due)
    response = station.call("verify", ids(notice))
    assert response.status_code == 200
    assert response.json() == {
        "outcome": "OK",
        "paFiscalCode": EC,
        "noticeNumber": notice.notice_number,
        "amount": 4_990,
        "dueDate": "2031-05-31T21:59:59Z",
        "description": "Test fee",
        "companyName": "Comune di Test",
        "status": "VALID",
    }


@pytest.mark.parametrize("number", ["000000000000000000", "399999999999999999"])
def test_verify_refuses_an_unknown_notice(station: Station, number: str) -> None:
    assert_ko(
        station.call("verify", {"paFiscalCode": EC, "noticeNumber": number}),
        404,
        "PAA_PAGAMENTO_SCONOSCIUTO",
    )


def test_the_probe_notice_answers_once_someone_registers_it(ec: EcSim, station: Station) -> None:
    probe = register(ec, number="000000000000000000")
    assert station.call("verify", ids(probe)).status_code == 200


def test_verify_refuses_a_paid_notice(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    assert station.call("receipt", receipt(notice, "r-paid")).status_code == 200
    assert_ko(station.call("verify", ids(notice)), 409, "PAA_PAGAMENTO_DUPLICATO")


def test_a_notice_past_its_due_date_is_expired(ec: EcSim, station: Station) -> None:
    notice = register(ec, due=datetime.now(UTC) - timedelta(minutes=1))
    assert_ko(station.call("verify", ids(notice)), 410, "PAA_PAGAMENTO_SCADUTO")
    assert_ko(station.call("activate", activation(notice, "tok-1")), 410, "PAA_PAGAMENTO_SCADUTO")


def test_the_due_date_follows_the_dev_clock(ec: EcSim, station: Station, clock_file: Path) -> None:
    notice = register(ec, due=datetime.now(UTC) + timedelta(hours=1))
    assert station.call("verify", ids(notice)).status_code == 200
    move_clock(clock_file, 2 * 3600 * 1000)
    assert_ko(station.call("verify", ids(notice)), 410, "PAA_PAGAMENTO_SCADUTO")


# ---------------------------------------------------------------------- auth and syntax
@pytest.mark.parametrize("operation", ["verify", "activate", "receipt"])
@pytest.mark.parametrize("key", [None, "", "wrong-key", CREDENTIAL + "x"])
def test_a_missing_or_wrong_credential_is_401(
    ec: EcSim, station: Station, operation: str, key: str | None
) -> None:
    notice = DEMO_NOTICES[0]
    bodies = {
        "verify": ids(notice),
        "activate": activation(notice, "tok-1"),
        "receipt": receipt(notice, "r-auth"),
    }
    refused = station.call(operation, bodies[operation], key=key)
    assert (refused.status_code, refused.content) == (401, b"")
    assert control.receipts(ec.control_url)["total"] == 0


_NOTICE = DEMO_NOTICES[0]
_ACTIVATION = activation(_NOTICE, "tok-1")
_RECEIPT = receipt(_NOTICE, "r-syntax")


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("verify", b"not json"),
        ("verify", b"[]"),
        ("verify", b""),
        ("verify", {"paFiscalCode": EC}),
        ("verify", {"paFiscalCode": 12345678901, "noticeNumber": "300000000000000101"}),
        ("verify", {"paFiscalCode": EC, "noticeNumber": "3001"}),
        ("activate", {k: v for k, v in _ACTIVATION.items() if k != "paymentToken"}),
        ("activate", {**_ACTIVATION, "amount": str(_NOTICE.amount)}),
        ("activate", {**_ACTIVATION, "amount": True}),
        ("activate", {**_ACTIVATION, "amount": 150.5}),
        ("activate", {**_ACTIVATION, "expiresAt": "2030-01-01T10:00:00"}),
        ("activate", {**_ACTIVATION, "expiresAt": "tomorrow"}),
        ("receipt", {k: v for k, v in _RECEIPT.items() if k != "receiptId"}),
        ("receipt", {**_RECEIPT, "standIn": "yes"}),
        ("receipt", {**_RECEIPT, "fee": -1}),
        ("receipt", {**_RECEIPT, "outcome": "MAYBE"}),
    ],
)
def test_bad_input_is_a_syntax_error(
    ec: EcSim, station: Station, operation: str, body: Any
) -> None:
    if isinstance(body, bytes):
        response = station.call(operation, data=body)
    else:
        response = station.call(operation, body)
    expected = "PAA_SINTASSI_EXTRAXSD" if body in (b"not json", b"") else "PAA_SINTASSI_XSD"
    assert_ko(response, 400, expected)
    assert control.receipts(ec.control_url)["total"] == 0
    shown = control.notice(ec.control_url, _NOTICE.pa_fiscal_code, _NOTICE.notice_number)
    assert shown is not None
    assert shown["liveToken"] is None


# ---------------------------------------------------------------------- activate
def test_activate_answers_the_notice_and_the_token(ec: EcSim, station: Station) -> None:
    due = datetime(2031, 1, 31, 22, 59, 59, tzinfo=UTC)
    notice = register(ec, amount=8_400, due=due)
    response = station.call("activate", activation(notice, "tok-a"))
    assert response.status_code == 200
    assert response.json() == {
        "outcome": "OK",
        "paFiscalCode": EC,
        "noticeNumber": notice.notice_number,
        "amount": 8_400,
        "paymentToken": "tok-a",
        "dueDate": "2031-01-31T22:59:59Z",
        "description": "Test fee",
        "companyName": "Comune di Test",
    }
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["liveToken"]["paymentToken"] == "tok-a"
    assert shown["liveToken"]["pspId"] == "DEMOPSP"
    assert shown["paid"] is False


def test_activate_refuses_an_unknown_notice(station: Station) -> None:
    unknown = Notice(EC, "311111111111111111", 100, datetime.now(UTC), "x", "y")
    assert_ko(
        station.call("activate", activation(unknown, "tok-1")), 404, "PAA_PAGAMENTO_SCONOSCIUTO"
    )


def test_activate_refuses_another_amount(ec: EcSim, station: Station) -> None:
    notice = register(ec, amount=10_000)
    assert_ko(
        station.call("activate", activation(notice, "tok-1", amount=9_999)), 422, "PAA_SEMANTICA"
    )
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["liveToken"] is None


def test_activate_refuses_a_paid_notice(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    assert station.call("receipt", receipt(notice, "r-1")).status_code == 200
    assert_ko(station.call("activate", activation(notice, "tok-2")), 409, "PAA_PAGAMENTO_DUPLICATO")


def test_a_live_token_holds_the_notice_until_it_expires_by_the_dev_clock(
    ec: EcSim, station: Station, clock_file: Path
) -> None:
    notice = register(ec)
    assert station.call("activate", activation(notice, "tok-1", expires_in=600)).status_code == 200
    again = station.call("activate", activation(notice, "tok-1", expires_in=600))
    assert again.status_code == 200
    assert again.json()["paymentToken"] == "tok-1"
    assert_ko(
        station.call("activate", activation(notice, "tok-2", expires_in=600)),
        409,
        "PAA_PAGAMENTO_IN_CORSO",
    )

    move_clock(clock_file, 601 * 1000)
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["liveToken"] is None
    other = station.call("activate", activation(notice, "tok-2", expires_in=1200))
    assert other.status_code == 200, other.text
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["liveToken"]["paymentToken"] == "tok-2"


def test_a_ko_receipt_frees_the_notice_without_paying_it(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    assert station.call("activate", activation(notice, "tok-1")).status_code == 200
    response = station.call("receipt", receipt(notice, "r-ko", outcome="KO"))
    assert response.status_code == 200
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["paid"] is False
    assert station.call("activate", activation(notice, "tok-2")).status_code == 200


# ---------------------------------------------------------------------- receipts
def test_a_receipt_pays_the_notice_and_a_duplicate_is_409(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    assert station.call("activate", activation(notice, "tok-1")).status_code == 200
    body = receipt(notice, "r-once", token="tok-1")
    first = station.call("receipt", body)
    assert first.status_code == 200
    assert first.json() == {"outcome": "OK"}
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["paid"] is True
    assert shown["paidBy"] == "r-once"
    assert shown["liveToken"] is None

    assert_ko(station.call("receipt", body), 409, "PAA_RECEIPT_DUPLICATA")
    assert_ko(station.call("receipt", body), 409, "PAA_RECEIPT_DUPLICATA")
    received = control.receipts(ec.control_url)
    assert received["deliveries"] == {"r-once": 3}
    assert received["total"] == 3
    [stored] = received["receipts"]
    assert {k: stored[k] for k in body} == body
    assert stored["deliveries"] == 3
    assert stored["knownNotice"] is True


def test_a_receipt_for_an_unknown_notice_is_stored(ec: EcSim, station: Station) -> None:
    unknown = Notice(EC, "322222222222222222", 700, datetime.now(UTC), "x", "y")
    assert station.call("receipt", receipt(unknown, "r-unknown")).status_code == 200
    received = control.receipts(ec.control_url)
    assert received["deliveries"] == {"r-unknown": 1}
    assert received["receipts"][0]["knownNotice"] is False
    assert control.notice(ec.control_url, EC, unknown.notice_number) is None


# ---------------------------------------------------------------------- outages
def test_down_refuses_connections_and_up_serves_again_on_the_same_port(
    ec: EcSim, station: Station
) -> None:
    notice = DEMO_NOTICES[0]
    assert station.call("verify", ids(notice)).status_code == 200  # a pooled connection

    status = control.set_behaviour(ec.control_url, state="down")
    assert status["listening"] is False
    assert status["behaviour"]["state"] == "down"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ec.port), timeout=5).close()
    with pytest.raises(requests.ConnectionError):
        station.call("verify", ids(notice))

    status = control.set_behaviour(ec.control_url, state="up")
    assert status["listening"] is True
    assert status["port"] == ec.port
    assert station.call("verify", ids(notice)).status_code == 200


def test_a_timeout_fraction_of_one_never_answers_and_does_not_process(
    ec: EcSim, station: Station
) -> None:
    notice = register(ec)
    control.set_behaviour(ec.control_url, timeout_fraction=1.0)
    with pytest.raises(requests.Timeout):
        station.call("receipt", receipt(notice, "r-lost"), timeout=0.5)
    status = control.status(ec.control_url)
    assert status["counters"]["held"] == 1
    assert status["counters"]["outcomes"] == {}
    assert control.receipts(ec.control_url)["total"] == 0
    # The client went away: the held call ends too (nothing keeps spinning for it).
    wait_for(
        lambda: control.status(ec.control_url)["counters"]["holding"] == 0,
        "the held call ends when its client disconnects",
    )

    control.set_behaviour(ec.control_url, timeout_fraction=0.0)
    assert station.call("receipt", receipt(notice, "r-lost"), timeout=5).status_code == 200


def test_down_drops_held_calls(ec: EcSim) -> None:
    control.set_behaviour(ec.control_url, timeout_fraction=1.0)
    with socket.create_connection(("127.0.0.1", ec.port), timeout=10) as conn:
        body = b'{"paFiscalCode": "77777777777", "noticeNumber": "300000000000000101"}'
        conn.sendall(
            b"POST /ec/v1/verify HTTP/1.1\r\nHost: ec\r\nContent-Type: "
            b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_for(
            lambda: control.status(ec.control_url)["counters"]["holding"] == 1, "the call is held"
        )
        control.set_behaviour(ec.control_url, state="down")
        assert conn.recv(1024) == b""  # closed without an answer
    wait_for(
        lambda: control.status(ec.control_url)["counters"]["holding"] == 0,
        "the held call ends with its connection",
    )


def test_not_active_fraction_one_answers_503_and_zero_serves(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    control.set_behaviour(ec.control_url, not_active_fraction=1.0)
    for operation, body in [
        ("verify", ids(notice)),
        ("activate", activation(notice, "tok-1")),
        ("receipt", receipt(notice, "r-na")),
    ]:
        inactive = station.call(operation, body)
        assert (inactive.status_code, inactive.content) == (503, b"")
    assert control.receipts(ec.control_url)["total"] == 0
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["liveToken"] is None

    control.set_behaviour(ec.control_url, not_active_fraction=0.0)
    assert station.call("verify", ids(notice)).status_code == 200


def not_active_pattern(ec: EcSim, station: Station, calls: int) -> list[bool]:
    notice = DEMO_NOTICES[1]
    pattern = []
    for _ in range(calls):
        response = station.call("verify", ids(notice))
        assert response.status_code in (200, 503), response.text
        pattern.append(response.status_code == 503)
    return pattern


def test_half_not_active_over_200_calls_is_about_half_and_repeats_with_the_seed(
    ec: EcSim, station: Station
) -> None:
    control.set_behaviour(ec.control_url, not_active_fraction=0.5, seed=7)
    first = not_active_pattern(ec, station, 200)
    assert 70 <= sum(first) <= 130
    counters = control.status(ec.control_url)["counters"]
    assert counters["answers"]["verify"] == {"OK": 200 - sum(first), NOT_ACTIVE: sum(first)}

    control.set_behaviour(ec.control_url, seed=7)
    assert not_active_pattern(ec, station, 200) == first


def test_delay_holds_every_answer(ec: EcSim, station: Station) -> None:
    control.set_behaviour(ec.control_url, delay_ms=300)
    for operation, body, status in [
        ("verify", ids(DEMO_NOTICES[0]), 200),
        ("verify", {"noticeNumber": "1"}, 400),
    ]:
        started = time.monotonic()
        response = station.call(operation, body)
        assert time.monotonic() - started >= 0.3
        assert response.status_code == status


# ---------------------------------------------------------------------- control API
def test_the_counters_count_calls_and_answers(ec: EcSim, station: Station) -> None:
    notice = register(ec)
    station.call("verify", ids(notice))
    station.call("verify", ids(notice), key="wrong")
    station.call("activate", activation(notice, "tok-1"))
    station.call("activate", activation(notice, "tok-2"))
    station.call("receipt", receipt(notice, "r-c"))
    counters = control.status(ec.control_url)["counters"]
    assert counters["calls"] == {"verify": 2, "activate": 2, "receipt": 1}
    assert counters["answers"] == {
        "verify": {"OK": 1, "UNAUTHORIZED": 1},
        "activate": {"OK": 1, "PAA_PAGAMENTO_IN_CORSO": 1},
        "receipt": {"OK": 1},
    }
    assert counters["outcomes"] == {"OK": 3, "UNAUTHORIZED": 1, "PAA_PAGAMENTO_IN_CORSO": 1}


@pytest.mark.parametrize(
    "body",
    [
        {"state": "sideways"},
        {"delayMs": -1},
        {"delayMs": "100"},
        {"timeoutFraction": 1.5},
        {"timeoutFraction": -0.1},
        {"notActiveFraction": 2},
        {"notActiveFraction": "half"},
        {"colour": "red"},
    ],
)
def test_a_bad_behaviour_is_400_and_changes_nothing(ec: EcSim, body: dict[str, Any]) -> None:
    before = control.status(ec.control_url)["behaviour"]
    response = requests.put(f"{ec.control_url}/behaviour", json=body, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]
    assert control.status(ec.control_url)["behaviour"] == before


@pytest.mark.parametrize(
    "notice",
    [
        {"paFiscalCode": EC, "noticeNumber": "3" * 18, "amount": 100},
        {**DEMO_NOTICES[0].to_json(), "amount": "100"},
        {**DEMO_NOTICES[0].to_json(), "amount": 0},
        {**DEMO_NOTICES[0].to_json(), "dueDate": "2030-01-01"},
        {**DEMO_NOTICES[0].to_json(), "noticeNumber": "12"},
        {**DEMO_NOTICES[0].to_json(), "extra": 1},
    ],
)
def test_a_bad_notice_is_400(ec: EcSim, notice: dict[str, Any]) -> None:
    with pytest.raises(control.ControlError) as refused:
        control.put_notices(ec.control_url, [notice])
    assert refused.value.status == 400


def test_reset_brings_the_station_back_and_keeps_notices_unless_asked(
    ec: EcSim, station: Station
) -> None:
    notice = register(ec)
    assert station.call("receipt", receipt(notice, "r-reset")).status_code == 200
    control.set_behaviour(
        ec.control_url, state="down", delay_ms=50, timeout_fraction=0.2, not_active_fraction=0.3
    )

    status = control.reset(ec.control_url)
    assert status["listening"] is True
    assert status["behaviour"] == {
        "state": "up",
        "delayMs": 0,
        "timeoutFraction": 0.0,
        "notActiveFraction": 0.0,
        "seed": SEED,
    }
    assert status["counters"]["calls"] == {"verify": 0, "activate": 0, "receipt": 0}
    assert control.receipts(ec.control_url) == {"receipts": [], "deliveries": {}, "total": 0}
    shown = control.notice(ec.control_url, EC, notice.notice_number)
    assert shown is not None
    assert shown["paid"] is False
    assert station.call("verify", ids(notice)).status_code == 200

    control.reset(ec.control_url, notices=True)
    assert control.notice(ec.control_url, EC, notice.notice_number) is None
    demo = DEMO_NOTICES[0]
    assert control.notice(ec.control_url, demo.pa_fiscal_code, demo.notice_number) is not None


# ------------------------------------------------------------------ paForNode (SOAP)
# zeep, built from the project's paForNode WSDL, calls the station as the node would: a client
# the simulator's author did not write.
PA_FOR_NODE_BINDING = "{http://pagopa-api.pagopa.gov.it/paForNode}paForNodeBinding"
_valid_ec = validator("paForNode.xsd")


@pytest.fixture
def node(ec: EcSim) -> Iterator[tuple[Any, HistoryPlugin]]:
    session = requests.Session()
    session.headers["Ocp-Apim-Subscription-Key"] = CREDENTIAL
    history = HistoryPlugin()
    client = zeep.Client(
        str(SCHEMAS / "paForNode.wsdl"),
        transport=Transport(session=session, timeout=10, operation_timeout=10),
        plugins=[history],
    )
    yield client.create_service(PA_FOR_NODE_BINDING, ec.soap_url), history
    session.close()


def _answers_validate(history: HistoryPlugin) -> None:
    for envelope in (history.last_sent["envelope"], history.last_received["envelope"]):
        body = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
        assert _valid_ec(body) == [], etree.tostring(body)


WHO_PA = {"idPA": DEMO_EC_FISCAL_CODE, "idBrokerPA": DEMO_EC_FISCAL_CODE, "idStation": "S_01"}


def _euros(cents: int) -> Decimal:
    """Cents as the contract writes them: two decimals always (49.90, not 49.9)."""
    return Decimal(cents).scaleb(-2)


def _qr(number: str) -> dict[str, str]:
    return {"fiscalCode": DEMO_EC_FISCAL_CODE, "noticeNumber": number}


def test_soap_verify_answers_a_demo_notice_in_euros(node: tuple[Any, HistoryPlugin]) -> None:
    service, history = node
    demo = DEMO_NOTICES[0]
    answer = service.paVerifyPaymentNotice(**WHO_PA, qrCode=_qr(demo.notice_number))
    _answers_validate(history)
    assert answer.outcome == "OK"
    option = answer.paymentList.paymentOptionDescription
    assert option.amount == _euros(demo.amount)
    assert answer.paymentDescription == demo.description


def test_soap_probe_notice_is_unknown_with_a_paa_code(node: tuple[Any, HistoryPlugin]) -> None:
    service, history = node
    answer = service.paVerifyPaymentNotice(**WHO_PA, qrCode=_qr("000000000000000000"))
    _answers_validate(history)
    assert (answer.outcome, answer.fault.faultCode) == ("KO", "PAA_PAGAMENTO_SCONOSCIUTO")
    assert answer.fault.id == DEMO_EC_FISCAL_CODE


def test_soap_get_payment_checks_the_amount(node: tuple[Any, HistoryPlugin]) -> None:
    service, history = node
    demo = DEMO_NOTICES[1]
    paid = service.paGetPaymentV2(
        **WHO_PA, qrCode=_qr(demo.notice_number), amount=_euros(demo.amount)
    )
    _answers_validate(history)
    assert paid.outcome == "OK"
    assert paid.data.paymentAmount == _euros(demo.amount)
    assert len(paid.data.transferList.transfer) == 1
    wrong = service.paGetPaymentV2(**WHO_PA, qrCode=_qr(demo.notice_number), amount=Decimal("1.00"))
    assert (wrong.outcome, wrong.fault.faultCode) == ("KO", "PAA_SEMANTICA")


def _receipt(number: str, receipt_id: str, amount: int) -> dict[str, Any]:
    debtor = {
        "uniqueIdentifier": {
            "entityUniqueIdentifierType": "F",
            "entityUniqueIdentifierValue": "RSSMRA80A01H501U",
        },
        "fullName": "Mario Rossi",
    }
    return {
        "receiptId": receipt_id,
        "noticeNumber": number,
        "fiscalCode": DEMO_EC_FISCAL_CODE,
        "outcome": "OK",
        "creditorReferenceId": number[1:],
        "paymentAmount": _euros(amount),
        "description": "TARI",
        "companyName": "Comune di Demo",
        "debtor": debtor,
        "transferList": {
            "transfer": [
                {
                    "idTransfer": 1,
                    "transferAmount": _euros(amount),
                    "fiscalCodePA": DEMO_EC_FISCAL_CODE,
                    "IBAN": "IT60X0542811101000000123456",
                    "remittanceInformation": "TARI",
                    "transferCategory": "9/0101100IM/",
                }
            ]
        },
        "idPSP": "DEMOPSP",
        "PSPCompanyName": "Demo PSP",
        "idChannel": "DEMOBROKERPSP_01",
        "channelDescription": "app",
        "paymentDateTime": datetime(2026, 12, 7, 10, tzinfo=UTC),
        "standIn": True,
    }


def test_soap_receipt_pays_once_and_a_repeat_is_a_duplicate(
    ec: EcSim, node: tuple[Any, HistoryPlugin]
) -> None:
    service, history = node
    demo = DEMO_NOTICES[2]
    receipt_id = f"r{uuid.uuid4().hex[:12]}"
    first = service.paSendRTV2(
        **WHO_PA, receipt=_receipt(demo.notice_number, receipt_id, demo.amount)
    )
    _answers_validate(history)
    assert first.outcome == "OK"
    again = service.paSendRTV2(
        **WHO_PA, receipt=_receipt(demo.notice_number, receipt_id, demo.amount)
    )
    assert (again.outcome, again.fault.faultCode) == ("KO", "PAA_RECEIPT_DUPLICATA")
    stored = {r["receiptId"]: r for r in control.receipts(ec.control_url)["receipts"]}
    assert stored[receipt_id]["standIn"] is True
    assert stored[receipt_id]["deliveries"] == 2
    paid = service.paVerifyPaymentNotice(**WHO_PA, qrCode=_qr(demo.notice_number))
    assert paid.fault.faultCode == "PAA_PAGAMENTO_DUPLICATO"


def test_soap_the_station_emits_only_paa_codes(ec: EcSim) -> None:
    raw = requests.post(
        ec.soap_url,
        data=b'{"json": true}',
        headers={"Ocp-Apim-Subscription-Key": CREDENTIAL},
        timeout=10,
    )
    assert raw.status_code == 400
    assert (soap.fault_reason(raw.content) or "").startswith("PAA_SINTASSI_EXTRAXSD")
    unauthorized = requests.post(ec.soap_url, data=b"<x/>", timeout=10)
    assert (unauthorized.status_code, unauthorized.content) == (401, b"")
    control.set_behaviour(ec.control_url, not_active_fraction=1)
    inactive = requests.post(
        ec.soap_url, data=b"<x/>", headers={"Ocp-Apim-Subscription-Key": CREDENTIAL}, timeout=10
    )
    assert (inactive.status_code, inactive.content) == (503, b"")
    assert b"PPT_" not in raw.content + unauthorized.content + inactive.content


@pytest.mark.parametrize(
    ("children", "at_fault"),
    [
        (
            "<idPA>{ec}</idPA><idBrokerPA>{ec}</idBrokerPA><qrCode><fiscalCode>{ec}</fiscalCode>"
            "<noticeNumber>{n}</noticeNumber></qrCode><idStation>S_01</idStation>",
            "qrCode",
        ),
        (
            "<idPA>{ec}</idPA><idBrokerPA>{ec}</idBrokerPA><idStation>S_01</idStation><qrCode>"
            "<fiscalCode>{ec}</fiscalCode><noticeNumber>{n}</noticeNumber></qrCode>"
            "<marcaDaBollo>1</marcaDaBollo>",
            "marcaDaBollo",
        ),
    ],
    ids=["out of the schema's order", "an element the schema does not know"],
)
def test_soap_a_request_off_the_xsd_is_refused_as_a_validating_station_would(
    ec: EcSim, children: str, at_fault: str
) -> None:
    # The models would read both (they ignore order and unknown elements): the simulator checks
    # the stand-in's requests against the XSD itself, with a validator of its own.
    body = children.format(ec=DEMO_EC_FISCAL_CODE, n=DEMO_NOTICES[0].notice_number)
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:pafn="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body>'
        f"<pafn:paVerifyPaymentNoticeReq>{body}</pafn:paVerifyPaymentNoticeReq>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()
    answer = requests.post(
        ec.soap_url, data=envelope, headers={"Ocp-Apim-Subscription-Key": CREDENTIAL}, timeout=10
    )
    assert answer.status_code == 200
    message = soap.parse(answer.content)
    assert _valid_ec(message.element) == []
    assert message.element.findtext("outcome") == "KO"
    assert message.element.findtext("fault/faultCode") == "PAA_SINTASSI_XSD"
    assert at_fault in (message.element.findtext("fault/description") or "")


def test_the_json_routes_emit_no_node_code_either(ec: EcSim, station: Station) -> None:
    answers = [station.call("verify", {"noticeNumber": "1"}), station.call("verify", key="wrong")]
    control.set_behaviour(ec.control_url, not_active_fraction=1)
    answers.append(station.call("verify", ids(DEMO_NOTICES[0])))
    assert [a.status_code for a in answers] == [400, 401, 503]
    assert all(b"PPT_" not in a.content for a in answers)
