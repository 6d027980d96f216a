"""The notice archive end to end through the dev host: pagoPA's ACA write API with the demo
EC's and the demo intermediary's keys (the subscription key alone: no function key), reads,
expiry on the dev clock, and a bulk of 20,000 positions that survives a host killed midway."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.cosmos import CosmosClient

from local import notices_cli
from local.devclock import DevClock
from local.platform import DEMO_EC, DEMO_IBAN, Platform
from tests.conftest import ADMIN_KEY, FUNCTION_KEY, Host, fresh_queues, start_host, wait_for

CREATE = "/api/aca/v1/paCreatePosition"
BULK = "/api/aca/v1/positions/bulk"


def notices_env(prefix: str) -> dict[str, str]:
    # The archive's events wait on queues of their own: the citizens' index is another
    # workload (tests/e2e/test_payments_notices.py), and in one dev host process it would
    # compete with the bulks these tests time (20,000 notices of one debtor, each indexed and
    # announced).
    return {
        **fresh_queues(prefix),
        "NOTICES_QUEUE": f"{prefix}-{uuid.uuid4().hex[:8]}",
        "PAYMENTS_NOTICES_QUEUE": f"{prefix}-events-{uuid.uuid4().hex[:8]}",
        "AzureWebJobs.payments_notices_index.Disabled": "true",
        # the journal's consumer too: one more workload on the same events
        "JOURNAL_QUEUE": f"{prefix}-journal-{uuid.uuid4().hex[:8]}",
        "AzureWebJobs.journal_notice_events.Disabled": "true",
    }


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, env=notices_env("notices"))
    try:
        yield started
    finally:
        started.stop()


def ec(host: Host) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]}


def intermediary(host: Host) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_INTERMEDIARY"]}


def dev_now(host: Host) -> datetime:
    state = host.request("GET", "/admin/devclock", key=ADMIN_KEY).json()
    return datetime.fromisoformat(state["now"])


def position(n: int, code: str = "01", **fields: Any) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": f"{code}{n:015d}",
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2030-01-31T23:00:00Z",
        **fields,
    }


def nav(n: int, code: str = "01") -> str:
    return f"3{code}{n:015d}"


def problem(response: requests.Response, status: int, *, aca: bool = True) -> dict[str, Any]:
    """pagoPA's ProblemJson on the ACA routes (application/json), RFC 7807 elsewhere."""
    assert response.status_code == status, response.text
    media = "application/json" if aca else "application/problem+json"
    assert response.headers["Content-Type"].startswith(media)
    found: dict[str, Any] = response.json()
    assert (found["status"], bool(found["detail"])) == (status, True)
    return found


def unique() -> int:
    return uuid.uuid4().int % 10**12


# ------------------------------------------------------------------ the write API
def test_the_behaviour_table_through_the_host(host: Host) -> None:
    n = unique()
    created = host.request("POST", CREATE, json=position(n), headers=ec(host), key=None)
    assert created.status_code == 200, created.text
    assert created.json() == {
        **position(n),
        "expirationDate": "2030-01-31T23:00",
        "nav": nav(n),
        "companyName": "Comune di Demo (creditor institution)",
        "iban": DEMO_IBAN,
        "switchToExpired": False,
        "status": "VALID",
    }
    updated = host.request("POST", CREATE, json=position(n, amount=1), headers=ec(host))
    assert (updated.status_code, updated.json()["amount"]) == (200, 1)
    again = host.request(
        "POST", CREATE, json=position(n, amount=2, nav="0" + nav(n)[1:]), headers=ec(host)
    )
    assert (again.json()["amount"], again.json()["nav"]) == (2, nav(n))  # the same IUPD
    invalid = host.request("POST", CREATE, json=position(n, amount=0), headers=ec(host))
    assert (invalid.status_code, invalid.json()["status"]) == (200, "INVALID")
    problem(host.request("POST", CREATE, json=position(n), headers=ec(host)), 409)
    problem(host.request("POST", CREATE, json=position(unique(), amount=0), headers=ec(host)), 422)
    problem(
        host.request(
            "POST", CREATE, json=position(n, paFiscalCode="80000000009"), headers=ec(host)
        ),
        404,
    )
    read = host.request("GET", f"/api/aca/v1/positions/{DEMO_EC}/{nav(n)}", headers=ec(host))
    assert [c["action"] for c in read.json()["history"]] == [
        "created",
        "updated",
        "updated",
        "invalidated",
    ]
    assert read.json()["iupd"] == f"ACA_{DEMO_EC}_{position(n)['iuv']}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", -1),
        ("amount", 10**11),
        ("amount", "5"),
        ("paFiscalCode", "1234"),
        ("entityType", "X"),
        ("entityFiscalCode", "R"),
        ("entityFullName", ""),
        ("iuv", ""),
        ("description", "x" * 256),
        ("expirationDate", "2030-02-30T00:00:00Z"),
        ("expirationDate", "tomorrow"),
        ("expirationDate", "2030-01-01T00:00:00"),
        ("nav", ""),
        ("iban", None),
        ("postalIban", "IT60"),
        ("switchToExpired", "yes"),
        ("payStandIn", None),
    ],
)
def test_every_bad_field_is_400_naming_it(host: Host, field: str, value: Any) -> None:
    found = problem(
        host.request("POST", CREATE, json=position(unique(), **{field: value}), headers=ec(host)),
        400,
    )
    assert [e["loc"] for e in found["errors"]] == [[field]]


def test_malformed_and_oversize_bodies_are_4xx(host: Host) -> None:
    for raw, status in [
        (b"", 422),  # pagoPA's spec leaves the body optional: see docs/aca-contract.md
        (b"{", 400),
        (b"[1]", 400),
        (b"\xff", 400),
        (b" " * 70_000, 413),
    ]:
        problem(host.request("POST", CREATE, data=raw, headers=ec(host)), status)


def test_keys_and_who_may_act(host: Host) -> None:
    body = position(unique())
    problem(host.request("POST", CREATE, json=body), 401)  # a function key is no credential here
    problem(
        host.request("POST", CREATE, json=body, headers={"Ocp-Apim-Subscription-Key": "nope"}), 401
    )
    by_query = f"{CREATE}?subscription-key={host.env['DEV_PARTY_KEY_EC']}"
    assert host.request("POST", by_query, json=position(unique()), key=None).status_code == 200
    acquirer = {"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_ACQUIRER"]}
    problem(host.request("POST", CREATE, json=body, headers=acquirer), 403)
    # the demo intermediary acts for the demo EC on segregation codes 01 and 02 only
    assert host.request("POST", CREATE, json=body, headers=intermediary(host)).ok
    refused = problem(
        host.request(
            "POST", CREATE, json=position(unique(), code="03"), headers=intermediary(host)
        ),
        409,
    )
    assert refused["title"] == "Unauthorized action"
    narrowed = f"{CREATE}?segregationCodes=02"
    problem(
        host.request(
            "POST", narrowed, json=position(unique(), code="01"), headers=intermediary(host)
        ),
        409,
    )
    assert host.request(
        "POST", narrowed, json=position(unique(), code="02"), headers=intermediary(host)
    ).ok
    problem(
        host.request("POST", f"{CREATE}?segregationCodes=2", json=body, headers=intermediary(host)),
        400,
    )


def test_a_nav_of_another_segregation_code_cannot_reach_that_notice(host: Host) -> None:
    """The attack: the demo intermediary (codes 01, 02) sends a code-01 IUV with the nav of
    the EC's code-03 notice, single and in a bulk, to take it over and then read it."""
    n = unique()
    assert host.request("POST", CREATE, json=position(n, code="03"), headers=ec(host)).ok
    path = f"/api/aca/v1/positions/{DEMO_EC}/{nav(n, '03')}"
    before = host.request("GET", path, headers=ec(host)).json()
    hijack = position(
        n,
        code="01",
        nav=nav(n, "03"),
        amount=1,
        description="pay here",
        iban="IT42L1234512345123456789012",
    )
    for route in (CREATE, f"{CREATE}?segregationCodes=01"):
        problem(host.request("POST", route, json=hijack, headers=intermediary(host)), 409)
    found = problem(host.request("POST", CREATE, json=hijack, headers=ec(host)), 422)
    assert [e["loc"] for e in found["errors"]] == [["nav"]]
    accepted = host.request("POST", BULK, json=[hijack], headers=intermediary(host))
    assert accepted.status_code == 202, accepted.text
    report_path = accepted.json()["report"]

    def done() -> dict[str, Any] | None:
        report: dict[str, Any] = host.request("GET", report_path, headers=intermediary(host)).json()
        return report if report["status"] == "COMPLETED" else None

    report = wait_for(done, timeout=30)
    assert (report["written"], report["rejected"]) == (0, 1)
    assert report["rejectedLines"][0]["status"] == 409
    assert host.request("GET", path, headers=ec(host)).json() == before
    problem(host.request("GET", path, headers=intermediary(host)), 403)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expirationDate", "0999-12-31T23:00:00Z"),
        ("expirationDate", "2100-01-01T00:00:00+01:00"),
        ("entityFullName", "Mario\u0000Rossi"),
        ("iban", "IT60X0542811101000000123457"),
    ],
)
def test_an_out_of_bounds_value_is_422_and_the_notice_is_never_stored(
    host: Host, field: str, value: str
) -> None:
    n = unique()
    found = problem(
        host.request("POST", CREATE, json=position(n, **{field: value}), headers=ec(host)), 422
    )
    assert [e["loc"] for e in found["errors"]] == [[field]]
    problem(host.request("GET", f"/api/aca/v1/positions/{DEMO_EC}/{nav(n)}", headers=ec(host)), 404)
    # the same notice, well formed, is then an ordinary create
    assert host.request("POST", CREATE, json=position(n), headers=ec(host)).ok


@pytest.mark.parametrize(
    "element",
    [b'{"amount": 1' + b"1" * 5000 + b"}", b'{"description": "\\ud800"}', b'"a\\u0000"'],
)
def test_a_hostile_bulk_array_is_400(host: Host, element: bytes) -> None:
    raw = b"[" + json.dumps(position(unique())).encode() + b", " + element + b"]"
    problem(host.request("POST", BULK, data=raw, headers=ec(host)), 400)


def test_reads_and_operator_reads(host: Host) -> None:
    n = unique()
    host.request("POST", CREATE, json=position(n, code="07"), headers=ec(host))
    path = f"{DEMO_EC}/{nav(n, '07')}"
    assert host.request("GET", f"/api/aca/v1/positions/{path}", headers=ec(host)).ok
    problem(host.request("GET", f"/api/aca/v1/positions/{path}", headers=intermediary(host)), 403)
    problem(
        host.request("GET", f"/api/aca/v1/positions/{DEMO_EC}/{nav(unique())}", headers=ec(host)),
        404,
    )
    refused = host.request("GET", f"/api/ops/notices/positions/{path}")  # the function key
    assert (refused.status_code, refused.content) == (401, b"")  # the host's own 401
    ops = host.request("GET", f"/api/ops/notices/positions/{path}", key=ADMIN_KEY)
    assert ops.json()["iuv"] == f"07{n:015d}"


def test_expiry_follows_the_dev_clock(host: Host) -> None:
    n = unique()
    expires = (dev_now(host) + timedelta(hours=1)).isoformat()
    host.request(
        "POST",
        CREATE,
        json=position(n, switchToExpired=True, expirationDate=expires),
        headers=ec(host),
    )
    path = f"/api/ops/notices/positions/{DEMO_EC}/{nav(n)}"
    assert host.request("GET", path, key=ADMIN_KEY).json()["status"] == "VALID"
    host.advance_clock(2 * 3600)  # the 5-minute timer comes due on the dev clock

    def expired_by_the_timer() -> bool:
        history = host.request("GET", path, key=ADMIN_KEY).json()["history"]
        return history[-1]["action"] == "expired"

    wait_for(expired_by_the_timer, timeout=30)
    assert host.request("GET", path, key=ADMIN_KEY).json()["status"] == "EXPIRED"


# ------------------------------------------------------------------ bulk uploads
def test_bulk_uploads_refuse_what_they_cannot_take(host: Host) -> None:
    problem(host.request("POST", BULK, data=b"", headers=ec(host)), 400)
    problem(host.request("POST", BULK, data=b"[{]", headers=ec(host)), 400)
    problem(host.request("POST", BULK, data=b"{}\n" * 50_001, headers=ec(host)), 413)
    problem(host.request("POST", BULK, data=b" " * (20 * 1024 * 1024 + 1), headers=ec(host)), 413)
    problem(host.request("GET", f"/api/aca/v1/bulk/{'0' * 32}", headers=ec(host)), 404)
    problem(host.request("GET", "/api/aca/v1/bulk/nope", headers=ec(host)), 400)


def test_a_small_json_array_bulk_reports_each_rejected_line(host: Host) -> None:
    base = unique()
    items = [
        position(base + 1),
        {"oops": 1},
        position(base + 2, amount=-1),
        7,
        position(base + 3, code="03"),
    ]
    accepted = host.request("POST", BULK, json=items, headers=intermediary(host))
    assert accepted.status_code == 202, accepted.text
    report_path = accepted.json()["report"]

    def done() -> dict[str, Any] | None:
        report: dict[str, Any] = host.request("GET", report_path, headers=intermediary(host)).json()
        return report if report["status"] == "COMPLETED" else None

    report = wait_for(done, timeout=30)
    assert (report["accepted"], report["written"], report["rejected"]) == (5, 1, 4)
    assert [r["line"] for r in report["rejectedLines"]] == [2, 3, 4, 5]
    problem(host.request("GET", report_path, headers=ec(host)), 403)


def test_the_cli_splits_a_csv_and_reports_rejected_lines_by_file_line(
    host: Host, tmp_path: Path
) -> None:
    base = unique()
    rows = [position(base + i) for i in range(7)]
    rows[4]["amount"] = "12.50"  # file line 6
    rows[5]["paFiscalCode"] = "80000000001"  # file line 7
    path = tmp_path / "positions.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out, bar = io.StringIO(), io.StringIO()
    status = notices_cli.main(
        [
            str(path),
            "--url",
            host.url,
            "--key",
            host.env["DEV_PARTY_KEY_EC"],
            "--function-key",
            FUNCTION_KEY,
            "--max-lines",
            "3",
            "--poll-seconds",
            "0.2",
        ],
        out=out,
        progress_stream=bar,
    )
    report = out.getvalue()
    assert status == 2, report
    assert "7 positions in 3 upload(s): 5 written, 2 rejected" in report
    assert "line 6: amount:" in report
    assert "line 7: " in report
    assert "100.0%" in bar.getvalue()
    read = host.request("GET", f"/api/aca/v1/positions/{DEMO_EC}/{nav(base + 6)}", headers=ec(host))
    assert read.json()["amount"] == 12_050


BULK_SIZE = 20_000


@pytest.mark.solo  # the emulator and two hosts take both cores for a minute
def test_a_bulk_of_20000_survives_a_host_killed_midway(platform: Platform) -> None:
    database = f"db-bulk-{uuid.uuid4().hex[:8]}"
    env = notices_env("bulk")
    base = (uuid.uuid4().int % 10**9) * 100_000  # 15 digits at most: nav = "301" + 15
    lines = [json.dumps(position(base + i)) for i in range(BULK_SIZE)]
    bad = {
        101: "{not json",
        5_002: json.dumps(position(base, amount=-1)),
        15_003: json.dumps(position(base, paFiscalCode="80000000001")),
    }
    for line, text in bad.items():
        lines.insert(line - 1, text)
    upload = ("\n".join(lines) + "\n").encode()
    first = start_host(platform, database=database, env=env)
    try:
        accepted = first.request("POST", BULK, data=upload, headers=ec(first), timeout=120)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["accepted"] == BULK_SIZE + len(bad)
        report_path = accepted.json()["report"]

        def report(host: Host) -> dict[str, Any]:
            # while 256 writes are in flight a poll may get a 503 problem (Cosmos busy,
            # Retry-After): ask again rather than fail on an answer the API may give
            def answered() -> dict[str, Any] | None:
                response = host.request("GET", report_path, headers=ec(host))
                if response.status_code == 503:
                    return None
                assert response.status_code == 200, response.text
                found: dict[str, Any] = response.json()
                return found

            result: dict[str, Any] = wait_for(answered, timeout=20, interval=0.2)
            return result

        wait_for(lambda: report(first)["chunksDone"] >= 3, timeout=60, interval=0.05)
        os.killpg(first.child.proc.pid, signal.SIGKILL)  # a crash: nothing is settled
    finally:
        first.stop()
    container = _positions(platform, database)
    stored_at_kill = _count(container)
    # The dead host's message locks expire (Service Bus's lock duration, on the dev clock).
    DevClock(platform.clock_file).advance(70)
    second = start_host(platform, database=database, env=env)
    try:
        killed_at = report(second)
        assert killed_at["status"] == "PROCESSING"
        # chunks were cut short: positions stored that no finished chunk accounts for
        assert stored_at_kill > killed_at["written"]
        final = wait_for(
            lambda: (r := report(second))["status"] == "COMPLETED" and r, timeout=150, interval=0.5
        )
    finally:
        second.stop()
    assert (final["written"], final["rejected"], final["pending"]) == (BULK_SIZE, 3, 0)
    assert [r["line"] for r in final["rejectedLines"]] == sorted(bad)
    # exactly once: every position exists once, and was written once (one history entry)
    writes = list(
        container.query_items(
            "SELECT VALUE ARRAY_LENGTH(c.history) FROM c WHERE c.kind = 'position'",
            enable_cross_partition_query=True,
        )
    )
    assert len(writes) == BULK_SIZE
    assert set(writes) == {1}


def gpd_position(n: int, **option: Any) -> dict[str, Any]:
    """One element of pagoPA's upload file: a GPD payment position that is an ACA position."""
    iuv = f"01{n:015d}"
    amount = option.pop("amount", 12_050)
    return {
        "iupd": f"ACA_{DEMO_EC}_{iuv}",
        "type": "F",
        "fiscalCode": "RSSMRA85T10A562S",
        "fullName": "Mario Rossi",
        "companyName": "Comune di Demo",
        "switchToExpired": False,
        "payStandIn": True,
        "paymentOption": [
            {
                "iuv": iuv,
                "amount": amount,
                "description": "TARI 2026",
                "isPartialPayment": False,
                "dueDate": "2030-01-31T23:00:00",
                "transfer": [
                    {
                        "idTransfer": "1",
                        "amount": option.pop("transfer_amount", amount),
                        "remittanceInformation": "TARI 2026",
                        "category": "9/0101108TS/",
                        "iban": DEMO_IBAN,
                    }
                ],
                **option,
            }
        ],
    }


def zip_upload(items: list[Any], key: str = "paymentPositions") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("positions.json", json.dumps({key: items}))
    return buffer.getvalue()


UPLOAD = (
    f"/api/upload/aca/debt-positions-service/v2/brokers/{DEMO_EC}/organizations/{DEMO_EC}"
    "/debtpositions/file"
)


@pytest.mark.solo  # the emulator and two hosts take both cores for a minute
def test_a_multipart_upload_of_20000_survives_a_host_killed_midway(platform: Platform) -> None:
    """pagoPA's upload file (a ZIP of one JSON file, multipart/form-data), as a client built
    from gpd-4-aca_massive_v2 sends it: 20,000 positions and three bad ones, the host killed
    after three chunks, a new host finishing it: each position written once, both reports."""
    database = f"db-file-{uuid.uuid4().hex[:8]}"
    env = notices_env("file")
    base = (uuid.uuid4().int % 10**9) * 100_000
    items: list[Any] = [gpd_position(base + i) for i in range(BULK_SIZE)]
    bad = {
        101: {**gpd_position(base), "iupd": "not-an-aca-iupd"},
        5_002: gpd_position(base, amount=-1),
        15_003: gpd_position(base, transfer_amount=1),
    }
    for line, element in bad.items():
        items.insert(line - 1, element)
    archive = zip_upload(items)
    first = start_host(platform, database=database, env=env)
    key = {"Ocp-Apim-Subscription-Key": first.env["DEV_PARTY_KEY_EC"]}
    try:
        accepted = first.request(
            "POST",
            UPLOAD,
            files={"file": ("positions.zip", archive, "application/zip")},
            headers=key,
            key=None,
            timeout=120,
        )
        assert (accepted.status_code, accepted.content) == (202, b""), accepted.text
        status_path = accepted.headers["Location"]
        file_id = status_path.split("/")[-2]

        def lines(host: Host) -> dict[str, Any]:
            def answered() -> dict[str, Any] | None:
                response = host.request("GET", f"/api/aca/v1/bulk/{file_id}", headers=key)
                if response.status_code == 503:  # Cosmos busy: Retry-After
                    return None
                assert response.status_code == 200, response.text
                found: dict[str, Any] = response.json()
                return found

            result: dict[str, Any] = wait_for(answered, timeout=20, interval=0.2)
            return result

        wait_for(lambda: lines(first)["chunksDone"] >= 3, timeout=60, interval=0.05)
        os.killpg(first.child.proc.pid, signal.SIGKILL)  # a crash: nothing is settled
    finally:
        first.stop()
    container = _positions(platform, database)
    stored_at_kill = _count(container)
    DevClock(platform.clock_file).advance(70)  # the dead host's message locks expire
    second = start_host(platform, database=database, env=env)
    try:
        killed_at = lines(second)
        assert killed_at["status"] == "PROCESSING"
        assert stored_at_kill > killed_at["written"]
        early = second.request("GET", status_path.replace("/status", "/report"), headers=key)
        assert early.status_code in (425, 503), early.text
        final = wait_for(
            lambda: (r := lines(second))["status"] == "COMPLETED" and r, timeout=150, interval=0.5
        )
        status = second.request("GET", status_path, headers=key, key=None).json()
        report = second.request(
            "GET", status_path.replace("/status", "/report"), headers=key, key=None
        ).json()
    finally:
        second.stop()
    assert (final["written"], final["rejected"], final["pending"]) == (BULK_SIZE, 3, 0)
    assert [(r["line"], r["status"]) for r in final["rejectedLines"]] == [
        (line, 400) for line in sorted(bad)
    ]
    assert (status["operationStatus"], status["processedItem"], status["submittedItem"]) == (
        "COMPLETED_WITH_WARNINGS",
        BULK_SIZE + 3,
        BULK_SIZE + 3,
    )
    by_status: dict[int, list[str]] = {}
    for group in report["responses"]:
        by_status.setdefault(group["statusCode"], []).extend(group["iupds"])
    assert sorted(by_status) == [201, 400]  # created once, by this upload, crash or not
    assert len(set(by_status[201])) == len(by_status[201]) == BULK_SIZE
    assert len(by_status[400]) == 3
    # exactly once: every position exists once, and was written once (one history entry)
    writes = list(
        container.query_items(
            "SELECT VALUE ARRAY_LENGTH(c.history) FROM c WHERE c.kind = 'position'",
            enable_cross_partition_query=True,
        )
    )
    assert len(writes) == BULK_SIZE
    assert set(writes) == {1}


def _positions(platform: Platform, database: str) -> Any:
    settings = platform.settings(COSMOS_DATABASE=database)
    client = CosmosClient(settings.cosmos_endpoint, credential=settings.cosmos_key or "")
    return client.get_database_client(database).get_container_client(settings.notices_container)


def _count(container: Any) -> int:
    [count] = list(
        container.query_items(
            "SELECT VALUE COUNT(1) FROM c WHERE c.kind = 'position'",
            enable_cross_partition_query=True,
        )
    )
    return int(count)
