"""The event journal in headless Chromium through the dev host: the demo editor signs in,
creates and edits a position through the page's forms, then reads in the journal section the
archive's events of both, its writes and its sign-in, and downloads them as CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from local.devauth import DEMO_EDITOR
from local.platform import Platform
from tests.conftest import Host, fresh_queues, start_host

CHROMIUM = "/usr/bin/chromium"


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # as root, Chromium's sandbox cannot start
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def signed_in_editor(browser: Browser, host: Host) -> Page:
    context = browser.new_context(
        locale="it-IT", viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(host.url + "/api/bo")
    expect(page).to_have_url(re.compile(r"/\.auth/login/dev\?"))
    page.get_by_role("button", name=DEMO_EDITOR.name).click()
    expect(page.locator("#positions")).to_be_visible()
    return page


def create_and_edit(page: Page, iuv: str) -> None:
    page.get_by_role("button", name="Nuova posizione").click()
    for name, value in {
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": iuv,
        "amount": "120,50",
        "expirationDate": "2030-01-31",
        "description": "TARI 2030",
    }.items():
        page.locator(f"#f-{name}").fill(value)
    page.locator("#save").click()
    expect(page.locator("#status")).to_contain_text(f"Posizione {iuv} salvata")
    page.locator("#edit").click()
    page.locator("#f-amount").fill("99,00")
    page.locator("#save").click()
    expect(page.locator("#detail-fields")).to_contain_text("99,00")


def test_the_editors_create_edit_and_sign_in_are_in_the_journal_and_its_csv(
    browser: Browser, host: Host
) -> None:
    page = signed_in_editor(browser, host)
    iuv = f"01{uuid.uuid4().int % 10**15:015d}"
    nav = f"3{iuv}"
    create_and_edit(page, iuv)

    page.locator("#j-object").fill(nav)
    rows = page.locator("#journal tbody tr")
    # the archive's events reach the journal through its queue: search until both are there
    for _ in range(40):
        page.locator("#journal-find").click()
        expect(page.locator("#journal-page")).to_be_visible()
        kinds = [rows.nth(i).get_attribute("data-kind") for i in range(rows.count())]
        if "position.updated" in kinds and "position.created" in kinds:
            break
        page.wait_for_timeout(500)
    kinds = [rows.nth(i).get_attribute("data-kind") for i in range(rows.count())]
    assert sorted(kinds) == ["position.created", "position.updated", "write", "write"]
    write = page.locator('#journal tbody tr[data-kind="write"]').first
    expect(write).to_contain_text(DEMO_EDITOR.name)
    expect(write).to_contain_text("Modifica posizione")
    expect(page.locator('#journal tbody tr[data-kind="position.updated"]')).to_contain_text(
        "amount: 9900"
    )

    page.locator("#j-object").fill("")
    page.locator("#j-kind").select_option("signin")
    signins = page.locator('#journal tbody tr[data-kind="signin"]')
    for _ in range(40):  # the sign-in, too, follows through the journal's queue
        page.locator("#journal-find").click()
        expect(page.locator("#journal-page")).to_be_visible()
        if signins.count():
            break
        page.wait_for_timeout(500)
    expect(page.locator('#journal tbody tr[data-kind="signin"]').first).to_contain_text(
        DEMO_EDITOR.name
    )

    page.locator("#j-kind").select_option("")
    page.locator("#j-object").fill(nav)
    page.locator("#journal-find").click()
    expect(rows).to_have_count(4)
    with page.expect_download() as download:
        page.locator("#journal-csv").click()
    path = download.value.path()
    assert path is not None
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert sorted(r["kind"] for r in exported) == sorted(kinds)
    assert {r["object"] for r in exported} == {nav}
    assert any(r["whoName"] == DEMO_EDITOR.name for r in exported)
