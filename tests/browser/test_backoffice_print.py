"""Paper notices from the page in headless Chromium: the detail's print button downloads the
position's notice, whose text and QR code read back; the search's print button downloads one
page per VALID position found. Saves the printed notice's first page that the README shows.
Also Swagger UI at /api/docs, rendered, shows every operation id of /api/openapi.json."""

from __future__ import annotations

import io
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from local.devauth import DEMO_EDITOR, DEMO_VIEWER
from local.platform import DEMO_EC, Platform
from shared.documents.codes import grouped
from tests.browser.test_backoffice import browser, signed_in
from tests.conftest import ROOT_PATH, Host, fresh_queues, start_host
from tests.e2e.test_backoffice import POSITIONS, as_user, position
from tests.unit.documents.pages import barcodes

__all__ = ["browser"]  # the module's fixture, shared with the back office's tests

SCREENSHOT = ROOT_PATH / "docs" / "images" / "backoffice-paper-notice.png"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    env = {**fresh_queues("bo-print-ui"), "NOTICES_QUEUE": f"bo-print-ui-{uuid.uuid4().hex[:8]}"}
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
    page.get_by_role("button", name="Cerca").click()
    row = page.locator(f'#positions tbody tr[data-iuv="{iuvs[0]}"]')
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

    batch = downloaded(page, "#print-batch")
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
