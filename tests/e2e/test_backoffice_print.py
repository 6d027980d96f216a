"""The back office's paper notices through the dev host: a viewer prints a position's notice and
a search's results (a print job: queued, rendered by the host's queue worker into a blob on
Azurite, read through the link its status gives); the PDF's text and its QR code read back; the
demo EC's postal account brings Poste's data matrix; other ECs and anonymous callers are
refused."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pypdf import PdfReader

from local.devauth import DEMO_EDITOR, DEMO_VIEWER
from local.platform import DEMO_EC, DEMO_POSTAL_ACCOUNT, Platform
from shared.documents.codes import grouped
from tests.conftest import Host, fresh_queues, start_host, wait_for
from tests.e2e.test_backoffice import POSITIONS, as_user, new_iuv, position
from tests.unit.documents.pages import barcodes

BATCH = f"/api/bo/v1/ecs/{DEMO_EC}/paper-notices"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("boprint"),
        "NOTICES_QUEUE": f"boprint-{tag}",
        "BACKOFFICE_PRINT_QUEUE": f"boprint-jobs-{tag}",
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_viewer_prints_a_positions_notice(host: Host) -> None:
    iuv = new_iuv()
    created = as_user(host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv, amount=4_321))
    assert created.status_code == 201, created.text
    printed = as_user(host, DEMO_VIEWER, "GET", f"{POSITIONS}/3{iuv}/paper-notice")
    assert printed.status_code == 200, printed.text
    assert printed.headers["Content-Type"].startswith("application/pdf")
    (text,) = pages(printed.content)
    for expected in (grouped(f"3{iuv}"), "43,21", "Mario Rossi", DEMO_EC, DEMO_POSTAL_ACCOUNT):
        assert expected in text, expected
    found = barcodes(printed.content)
    assert found["QRCode"] == f"PAGOPA|002|3{iuv}|{DEMO_EC}|4321"
    assert DEMO_POSTAL_ACCOUNT in found["DataMatrix"]


def test_a_batch_prints_the_searchs_valid_positions(host: Host) -> None:
    debtor = f"RSSMRA85T10A{uuid.uuid4().int % 1000:03d}S"
    iuvs = [new_iuv() for _ in range(3)]
    for iuv in iuvs:
        made = as_user(
            host, DEMO_EDITOR, "POST", POSITIONS, json=position(iuv, entityFiscalCode=debtor)
        )
        assert made.status_code == 201, made.text
    gone = as_user(host, DEMO_EDITOR, "POST", f"{POSITIONS}/3{iuvs[2]}/invalidate")
    assert gone.status_code == 200, gone.text

    def indexed() -> bool:
        # the search reads the EC's positions index, which the archive's events fill a moment
        # after each write: print once it shows the two VALID and the invalidated one
        page = as_user(host, DEMO_VIEWER, "GET", POSITIONS, params={"debtor": debtor})
        statuses = sorted(p["status"] for p in page.json()["items"])
        return page.status_code == 200 and statuses == ["INVALID", "VALID", "VALID"]

    wait_for(indexed, timeout=30)
    asked = as_user(host, DEMO_VIEWER, "POST", BATCH, params={"debtor": debtor})
    assert asked.status_code == 202, asked.text
    assert asked.json()["notices"] == 2
    status = asked.headers["Location"]

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = as_user(host, DEMO_VIEWER, "GET", status).json()
        return job if job["state"] != "queued" else None

    job = wait_for(ended, timeout=60, interval=0.5)
    assert (job["state"], job["pages"]) == ("done", 2)
    pdf = requests.get(job["url"], timeout=30)  # the link alone: no session, no key
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert f'filename="avvisi-{DEMO_EC}.pdf"' in pdf.headers["Content-Disposition"]
    printed = pages(pdf.content)
    assert len(printed) == 2
    assert all(any(grouped(f"3{iuv}") in text for text in printed) for iuv in iuvs[:2])


def test_printing_is_refused_outside_the_users_ecs_and_without_sign_in(host: Host) -> None:
    other = as_user(host, DEMO_VIEWER, "POST", "/api/bo/v1/ecs/80000000001/paper-notices")
    assert other.status_code == 403
    anonymous = requests.post(host.url + BATCH, timeout=30)
    assert anonymous.status_code == 401
    nothing = as_user(host, DEMO_VIEWER, "POST", BATCH, params={"iuv": "0" * 17})
    assert nothing.status_code == 422
    unknown = as_user(host, DEMO_VIEWER, "GET", f"{BATCH}/{'0' * 32}")
    assert unknown.status_code == 404
