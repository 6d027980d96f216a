"""The back office in headless Chromium (Debian's, driven by Playwright) through the dev host:
the dev sign-in, an editor's create, find and edit through the page's forms, a viewer's page
without edit controls, and axe-core's accessibility check. Saves the notices table's screenshot
that the README shows."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright

from local.devauth import DEMO_EDITOR, DEMO_VIEWER, DemoUser
from local.platform import DEMO_EC, Platform
from tests.conftest import ROOT_PATH, Host, fresh_queues, start_host

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT_PATH / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT = ROOT_PATH / "docs" / "images" / "backoffice-notices.png"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    env = {**fresh_queues("bo-ui"), "NOTICES_QUEUE": f"bo-ui-{uuid.uuid4().hex[:8]}"}
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


def search_until(page: Page, shown: Locator, timeout: float = 30.0, button: str = "Cerca") -> None:
    """Search again until ``shown`` is in the table: the table reads the EC's positions
    index, which the archive's events fill a moment after a write."""
    deadline = time.monotonic() + timeout
    while True:
        page.get_by_role("button", name=button).click()
        try:
            expect(shown).to_be_visible(timeout=1_000)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            return


def signed_in(
    browser: Browser, host: Host, user: DemoUser, hold: list[Route] | None = None
) -> Page:
    """A page signed in as ``user``; with ``hold``, the page's searches of notices are kept
    unanswered in that list (the test continues them)."""
    # bypass_csp: the page's policy (script-src 'self') would refuse axe-core's injected script
    context = browser.new_context(
        locale="it-IT", viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    page = context.new_page()
    if hold is not None:
        page.route("**/positions?*", lambda route: hold.append(route))
    page.set_default_timeout(15_000)
    page.goto(host.url + "/api/bo")
    expect(page).to_have_url(re.compile(r"/\.auth/login/dev\?"))
    page.get_by_role("button", name=user.name).click()
    expect(page.locator("#positions")).to_be_visible()
    return page


def serious_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def fill(page: Page, **fields: str) -> None:
    for name, value in fields.items():
        page.locator(f"#f-{name}").fill(value)


def test_an_editor_creates_finds_and_edits_a_position(browser: Browser, host: Host) -> None:
    page = signed_in(browser, host, DEMO_EDITOR)
    iuv = f"01{uuid.uuid4().int % 10**15:015d}"
    page.get_by_role("button", name="Nuova posizione").click()
    fill(
        page,
        entityFiscalCode="RSSMRA85T10A562S",
        entityFullName="Mario Rossi",
        iuv=iuv,
        amount="120,50",
        expirationDate="2030-01-31",
        description="TARI 2030",
        iban="IT00X0542811101000000123456",  # wrong check digits: the archive refuses it
    )
    page.locator("#save").click()
    expect(page.locator("#e-iban")).to_contain_text("IBAN")
    expect(page.locator("#f-iban")).to_have_attribute("aria-invalid", "true")

    page.locator("#f-iban").fill("")
    page.locator("#save").click()
    expect(page.locator("#status")).to_contain_text(f"Posizione {iuv} salvata")

    page.locator("#q-iuv").fill(iuv)
    row = page.locator(f'#positions tbody tr[data-iuv="{iuv}"]')
    search_until(page, row)
    expect(row).to_contain_text("120,50")
    expect(row).to_contain_text("Mario Rossi")

    row.get_by_role("button").click()
    page.locator("#edit").click()
    page.locator("#f-amount").fill("99,00")
    page.locator("#f-description").fill("TARI 2030, rata unica")
    page.locator("#save").click()
    expect(page.locator("#detail-fields")).to_contain_text("99,00")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    search_until(page, row.filter(has_text="TARI 2030, rata unica"))

    assert serious_violations(page) == []


def test_the_notices_table_is_accessible_and_shown_in_the_readme(
    browser: Browser, host: Host
) -> None:
    page = signed_in(browser, host, DEMO_EDITOR)
    for n in range(6):
        page.get_by_role("button", name="Nuova posizione").click()
        fill(
            page,
            entityFiscalCode=f"VRDNNA80A41H501{n}",
            entityFullName=[
                "Anna Verdi",
                "Luca Neri",
                "Sara Gallo",
                "Paolo Riva",
                "Giulia Fontana",
                "Marco Longo",
            ][n],
            iuv=f"02{uuid.uuid4().int % 10**15:015d}",
            amount=f"{35 + 12 * n},00",
            expirationDate=f"2030-0{n + 1}-15",
            description=[
                "TARI 2030",
                "Mensa scolastica",
                "Trasporto scolastico",
                "COSAP",
                "Lampade votive",
                "Sanzione CdS",
            ][n],
        )
        page.locator("#save").click()
        expect(page.locator("#status")).to_contain_text("salvata")
    page.locator("#close-detail").click()
    search_until(page, page.locator("#positions tbody tr").nth(5))
    assert serious_violations(page) == []
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_viewer_sees_no_edit_controls_and_the_api_refuses_its_writes(
    browser: Browser, host: Host
) -> None:
    page = signed_in(browser, host, DEMO_VIEWER)
    expect(page.locator("#who")).to_have_text(DEMO_VIEWER.name)
    # the keyboard alone: the first Tab reaches the skip link, Enter in a field searches
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    page.locator("#q-iuv").focus()
    page.keyboard.type("01999999999999999")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Nessuna posizione trovata")
    for control in ("#new", "#edit", "#invalidate", "#save"):
        expect(page.locator(control)).to_have_count(0)
    body = {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": "RSSMRA85T10A562S",
        "entityFullName": "Mario Rossi",
        "iuv": f"01{uuid.uuid4().int % 10**15:015d}",
        "amount": 100,
        "description": "TARI",
        "expirationDate": "2030-01-31T23:59:59+01:00",
    }
    # the page's own session, from inside the page
    status = page.evaluate(
        """async (body) => (await fetch('/api/bo/v1/ecs/77777777777/positions', {
            method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify(body)})).status""",
        body,
    )
    assert status == 403
    assert serious_violations(page) == []
