"""Paper notices and files from the page in headless Chromium: the detail's print button
downloads the position's notice, whose text and QR code read back; the search's print button
starts a print job, follows it and downloads its file: one page per VALID position found
(saving the printed notice's first page that the README shows). A CSV with good and bad lines
uploaded through the file input, and an NDJSON dropped on the drop zone, end in their per-line
report and a downloadable file of rejected lines. Also Swagger UI at /api/docs, rendered,
shows every operation id of /api/openapi.json."""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, Route, expect
from pypdf import PdfReader

from local.devauth import DEMO_EDITOR, DEMO_VIEWER
from local.platform import DEMO_EC, Platform
from shared.documents.codes import grouped
from tests.browser.test_backoffice import browser, search_until, serious_violations, signed_in
from tests.conftest import ROOT_PATH, Host, fresh_queues, start_host
from tests.e2e.test_backoffice import POSITIONS, as_user, position
from tests.unit.documents.pages import barcodes

__all__ = ["browser"]  # the module's fixture, shared with the back office's tests

SCREENSHOT = ROOT_PATH / "docs" / "images" / "backoffice-paper-notice.png"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("bo-print-ui"),
        "NOTICES_QUEUE": f"bo-print-ui-{tag}",
        "BACKOFFICE_PRINT_QUEUE": f"bo-print-ui-jobs-{tag}",
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def downloaded(page: Page, button: str) -> bytes:
    with page.expect_download() as download:
        page.locator(button).click()
    path = download.value.path()
    return Path(path).read_bytes()


def rasterise(pdf: bytes, target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "notice.pdf"
        source.write_bytes(pdf)
        stem = Path(folder) / "page"
        subprocess.run(
            ["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", source, stem],
            check=True,
            timeout=60,
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(stem.with_suffix(".png").read_bytes())


def test_a_viewer_prints_a_notice_and_a_searchs_results(browser: Browser, host: Host) -> None:
    debtor = f"VRDNNA80A41H{uuid.uuid4().int % 1000:03d}Z"
    iuvs = [f"01{uuid.uuid4().int % 10**15:015d}" for _ in range(2)]
    for n, iuv in enumerate(iuvs):
        made = as_user(
            host,
            DEMO_EDITOR,
            "POST",
            POSITIONS,
            json=position(
                iuv,
                entityFiscalCode=debtor,
                entityFullName="Anna Verdi",
                amount=8_750 + n,
                description="Mensa scolastica, ottobre",
            ),
        )
        assert made.status_code == 201, made.text

    page = signed_in(browser, host, DEMO_VIEWER)
    page.locator("#q-debtor").fill(debtor)
    # the table reads the EC's positions index, filled a moment after each write: the batch
    # below prints what the search finds, so wait until both positions are there
    search_until(page, page.locator(f'#positions tbody tr[data-iuv="{iuvs[1]}"]'))
    row = page.locator(f'#positions tbody tr[data-iuv="{iuvs[0]}"]')
    expect(row).to_be_visible()
    row.get_by_role("button").click()
    expect(page.locator("#detail")).to_be_visible()

    notice = downloaded(page, "#print-one")
    expect(page.locator("#status")).to_contain_text(f"avviso-3{iuvs[0]}.pdf")
    (text,) = [p.extract_text() for p in PdfReader(io.BytesIO(notice)).pages]
    for expected in (grouped(f"3{iuvs[0]}"), "87,50", "Anna Verdi", "Mensa scolastica"):
        assert expected in text, expected
    assert barcodes(notice)["QRCode"] == f"PAGOPA|002|3{iuvs[0]}|{DEMO_EC}|8750"
    rasterise(notice, SCREENSHOT)
    assert SCREENSHOT.stat().st_size > 20_000

    # a print job: the page polls it, then downloads the file from the link it gives
    batch = downloaded(page, "#print-batch")
    expect(page.locator("#status")).to_contain_text(f"avvisi-{DEMO_EC}.pdf")
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(batch)).pages]
    assert len(pages) == 2
    for iuv in iuvs:
        assert any(grouped(f"3{iuv}") in text for text in pages), iuv


def test_swagger_ui_shows_every_operation_id(browser: Browser, host: Host) -> None:
    document = requests.get(host.url + "/api/openapi.json", timeout=30).json()
    expected = {
        operation["operationId"]
        for path in document["paths"].values()
        for method, operation in path.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert "bo_paper_notices" in expected
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.goto(host.url + "/api/docs")
    shown = page.locator(".opblock-summary-operation-id")
    expect(shown).to_have_count(len(expected))
    assert set(shown.all_inner_texts()) == expected
    page.close()


CSV_HEADER = "iuv;amount;description;expirationDate;entityFiscalCode;entityFullName;entityType"


def test_an_editor_uploads_a_csv_and_reads_its_report(browser: Browser, host: Host) -> None:
    good = [f"01{uuid.uuid4().int % 10**15:015d}" for _ in range(2)]
    due = "2030-03-31T10:00:00Z"
    bad = f"01{uuid.uuid4().int % 10**15:015d}"
    rows = [
        CSV_HEADER,
        f"{good[0]};4500;Mensa;{due};RSSMRA85T10A562S;Mario Rossi;F",
        f"{bad};dieci;Mensa;{due};RSSMRA85T10A562S;Mario Rossi;F",  # amount not a number
        f"{good[1]};4600;Mensa;{due};RSSMRA85T10A562S;Mario Rossi;F",
        f"{bad[:-1]}9;4700;Mensa;{due};;Mario Rossi;F",  # no debtor
    ]
    page = signed_in(browser, host, DEMO_EDITOR)
    expect(page.locator("#files")).to_be_visible()
    page.locator("#file-input").set_input_files(
        {"name": "rate.csv", "mimeType": "text/csv", "buffer": "\n".join(rows).encode()}
    )
    expect(page.locator("#file-progress-text")).to_contain_text("Completato", timeout=60_000)
    expect(page.locator("#file-progress-bar")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#file-summary")).to_contain_text("scritte 2, scartate 2")
    lines = page.locator("#file-rejected tbody tr th")
    expect(lines).to_have_text(["3", "5"])  # the CSV's own line numbers
    assert serious_violations(page) == []

    rejected = downloaded(page, "#file-download").decode()
    table = [line.split(",", 3) for line in rejected.strip().split("\r\n")]
    assert table[0] == ["line", "iupd", "status", "reason"]
    assert [row[0] for row in table[1:]] == ["3", "5"]
    assert all(row[3] for row in table[1:])
    for iuv in good:
        found = as_user(host, DEMO_EDITOR, "GET", f"{POSITIONS}/3{iuv}")
        assert found.status_code == 200, found.text


def test_an_ndjson_dropped_while_the_first_page_loads_is_uploaded(
    browser: Browser, host: Host
) -> None:
    iuv = f"01{uuid.uuid4().int % 10**15:015d}"
    line = json.dumps(position(iuv, amount=5_100))
    held: list[Route] = []
    page = signed_in(browser, host, DEMO_EDITOR, hold=held)
    # the notices' first page is still unanswered: the drop zone takes files already
    expect(page.locator("#files")).to_be_visible()
    for _ in range(100):  # the route's handler runs as Playwright's events reach this thread
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the first page's search was not held"
    transfer = page.evaluate_handle(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "rate.ndjson", {type: "application/x-ndjson"}));
            return transfer;
        }""",
        line + "\nnot json\n",
    )
    page.locator("#file-drop").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#file-summary")).to_contain_text("scritte 1, scartate 1", timeout=60_000)
    for route in held:  # the first page is answered after all
        route.continue_()
    expect(page.locator("#page-number")).to_contain_text("Pagina 1")
    expect(page.locator("#file-rejected tbody tr th")).to_have_text(["2"])
    found = as_user(host, DEMO_VIEWER, "GET", f"{POSITIONS}/3{iuv}")
    assert found.json()["amount"] == 5_100
