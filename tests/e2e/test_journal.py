"""The event journal through the dev host: an editor's writes reach it twice (the archive's
events through JOURNAL_QUEUE, and the write with who and from where), a viewer reads and
exports it, an upload is recorded started and finished (the back office's and an
intermediary's through the ACA contract), a sign-in once, another EC's journal is refused, and
nothing can change an entry."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.devauth import COOKIE, DEMO_EDITOR, DEMO_VIEWER, DemoUser, session_cookie
from local.platform import DEMO_EC, DEMO_INTERMEDIARY, Platform
from tests.conftest import Host, fresh_queues, start_host, wait_for

POSITIONS = f"/api/bo/v1/ecs/{DEMO_EC}/positions"
JOURNAL = "/api/bo/v1/journal"
CLIENT = "203.0.113.7"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("bo-jr"),
        "NOTICES_QUEUE": f"bo-jr-notices-{tag}",
        "JOURNAL_QUEUE": f"bo-jr-journal-{tag}",
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def as_user(host: Host, user: DemoUser, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method, host.url + path, cookies={COOKIE: session_cookie(user)}, timeout=30, **kwargs
    )


def position(iuv: str, **fields: Any) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv,
        "amount": 12_050,
        "description": "TARI 2026",
        "expirationDate": "2030-01-31T23:59:59+01:00",
        **fields,
    }


def test_an_editors_writes_are_in_the_journal_with_who_and_from_where(host: Host) -> None:
    iuv = f"01{uuid.uuid4().int % 10**15:015d}"
    nav = f"3{iuv}"
    forwarded = {"X-Forwarded-For": f"{CLIENT}:51234"}
    created = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv), headers=forwarded)
    assert created.status_code == 201, created.text
    edited = as_user(
        host, DEMO_EDITOR, "PUT", f"{POSITIONS}/{nav}", json=position(iuv, amount=9_900)
    )
    assert edited.status_code == 200, edited.text
    gone = as_user(host, DEMO_EDITOR, "POST", f"{POSITIONS}/{nav}/invalidate")
    assert gone.status_code == 200, gone.text

    def archive_kinds() -> list[dict[str, Any]] | None:
        read = as_user(host, DEMO_VIEWER, "GET", JOURNAL, params={"ec": DEMO_EC, "object": nav})
        assert read.status_code == 200, read.text
        items: list[dict[str, Any]] = read.json()["items"]
        return items if len([i for i in items if i["kind"] != "write"]) == 3 else None

    items = wait_for(archive_kinds, timeout=30)
    assert [i["kind"] for i in items if i["kind"] != "write"] == [
        "position.invalidated",
        "position.updated",
        "position.created",
    ]
    writes = [i for i in items if i["kind"] == "write"]
    assert [w["summary"] for w in writes] == [
        "Annullamento posizione",
        "Modifica posizione",
        "Creazione posizione",
    ]
    assert {w["who"]["objectId"] for w in writes} == {DEMO_EDITOR.object_id}
    assert writes[-1]["from"] == CLIENT

    export = as_user(
        host, DEMO_VIEWER, "GET", JOURNAL + ".csv", params={"ec": DEMO_EC, "object": nav}
    )
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["id"] for r in rows] == [i["id"] for i in items]


def test_an_upload_is_recorded_started_and_finished_with_its_counts(host: Host) -> None:
    good = position(f"01{uuid.uuid4().int % 10**15:015d}")
    lines = b"".join(
        json.dumps(line).encode() + b"\n" for line in (good, {**good, "amount": "ten euros"})
    )
    uploaded = as_user(
        host,
        DEMO_EDITOR,
        "POST",
        f"/api/bo/v1/ecs/{DEMO_EC}/uploads",
        data=lines,
        headers={
            "Content-Type": "application/x-ndjson",
            "X-File-Name": "rate%20TARI.ndjson",
            "X-Forwarded-For": CLIENT,
        },
    )
    assert uploaded.status_code == 202, uploaded.text
    bulk = uploaded.json()["bulkId"]

    def both() -> list[dict[str, Any]] | None:
        read = as_user(host, DEMO_VIEWER, "GET", JOURNAL, params={"ec": DEMO_EC, "object": bulk})
        assert read.status_code == 200, read.text
        items: list[dict[str, Any]] = read.json()["items"]
        return items if len(items) == 2 else None

    finished, started = wait_for(both, timeout=60)
    assert (started["kind"], started["who"]["objectId"], started["from"]) == (
        "upload.started",
        DEMO_EDITOR.object_id,
        CLIENT,
    )
    assert (started["fields"]["fileName"], started["fields"]["lines"]) == ("rate TARI.ndjson", 2)
    assert finished["kind"] == "upload.finished"
    assert (finished["fields"]["written"], finished["fields"]["rejected"]) == (1, 1)


def test_an_intermediarys_aca_bulk_is_in_the_ecs_journal_with_the_intermediary_as_who(
    host: Host,
) -> None:
    good = position(f"01{uuid.uuid4().int % 10**15:015d}")
    uploaded = host.request(
        "POST",
        "/api/aca/v1/positions/bulk",
        key=None,
        data=json.dumps(good).encode() + b"\n",
        headers={
            "Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_INTERMEDIARY"],
            "Content-Type": "application/x-ndjson",
            "X-Forwarded-For": CLIENT,
        },
    )
    assert uploaded.status_code == 202, uploaded.text
    bulk = uploaded.json()["bulkId"]

    def both() -> list[dict[str, Any]] | None:
        read = as_user(host, DEMO_VIEWER, "GET", JOURNAL, params={"ec": DEMO_EC, "object": bulk})
        items: list[dict[str, Any]] = read.json()["items"]
        return items if len(items) == 2 else None

    finished, started = wait_for(both, timeout=60)
    assert (started["kind"], started["who"]["objectId"], started["from"]) == (
        "upload.started",
        DEMO_INTERMEDIARY,
        CLIENT,
    )
    assert (finished["kind"], finished["fields"]["written"]) == ("upload.finished", 1)


def test_a_sign_in_is_recorded_once(host: Host) -> None:
    for _ in range(2):
        assert as_user(host, DEMO_VIEWER, "GET", "/api/bo/v1/me").status_code == 200

    def mine() -> list[dict[str, Any]]:  # the entry follows through the journal's queue
        read = as_user(host, DEMO_VIEWER, "GET", JOURNAL, params={"ec": DEMO_EC, "kind": "signin"})
        items = read.json()["items"]
        return [i for i in items if i["who"]["objectId"] == DEMO_VIEWER.object_id]

    assert len(wait_for(mine, timeout=30)) == 1


def test_another_ecs_journal_is_refused_and_no_route_changes_an_entry(host: Host) -> None:
    other = as_user(host, DEMO_EDITOR, "GET", JOURNAL, params={"ec": "12345678901"})
    assert other.status_code == 403
    for method in ("PUT", "DELETE", "POST", "PATCH"):
        assert as_user(host, DEMO_EDITOR, method, JOURNAL, params={"ec": DEMO_EC}).status_code in (
            404,
            405,
        )
