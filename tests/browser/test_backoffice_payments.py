"""The back office's payments section in headless Chromium through the dev host: a notice a
citizen pays with a card shows on the EC's payments (the PSP's name and id, not stand-in, the
payer, the method and the PSP's fee, its receipt PDF naming them), and the CSV export downloads
with it; axe-core finds nothing serious in the section."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from pypdf import PdfReader

from local.devauth import DEMO_VIEWER
from local.platform import Platform
from tests.browser.test_backoffice import browser, search_until, serious_violations, signed_in
from tests.conftest import Host, start_host
from tests.e2e.test_payments import confirm, create
from tests.e2e.test_standin import new_notices, standin_env
from tests.e2e.test_wallet import CF, onboarded

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {**standin_env(), "BACKOFFICE_POSITIONS_QUEUE": f"bo-positions-ui-{tag}"}
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


def test_a_citizens_payment_shows_on_the_payments_page_and_in_its_csv(
    browser: Browser, host: Host, platform: Platform, ec_control: str
) -> None:
    card = onboarded(platform, host, platform.env["WALLET_PSP_BASE_URL"])
    [number] = new_notices(host, ec_control, 1)
    created = create(platform, host, number)
    paid = confirm(platform, host, created["transactionId"], card.wallet_id, "tap-1")
    assert paid.json()["status"] == "NOTIFIED_OK", paid.text

    page = signed_in(browser, host, DEMO_VIEWER)
    row = page.locator(f'#payments tbody tr[data-notice="{number}"]')
    search_until(page, row, button="Mostra pagamenti")
    expect(row).to_contain_text("73,00")
    expect(row.locator("td").nth(6)).to_have_text("No")
    expect(row.locator("td").nth(7)).to_have_text(CF)  # the payer
    expect(row.locator("td").nth(8)).to_contain_text("CP, 1,00")  # the method, the PSP's fee
    # the PSP: the registry's name, then its id
    named = re.fullmatch(r"(.+) \((.+)\)", row.locator("td").nth(5).inner_text().strip())
    assert named, row.locator("td").nth(5).inner_text()
    psp_name, psp = named.groups()
    assert serious_violations(page) == []
    pdf = page.request.get(host.url + (row.locator("a.receipt-pdf").get_attribute("href") or ""))
    assert pdf.ok
    assert pdf.headers["content-type"].startswith("application/pdf")
    text = PdfReader(io.BytesIO(pdf.body())).pages[0].extract_text()
    assert " ".join(number[i : i + 4] for i in range(0, 18, 4)) in text
    # who paid, how, through which PSP and its fee (the total: 73,00 + 1,00)
    for shown in (CF, "CP (carta / card)", psp_name, psp, "1,00", "74,00"):
        assert shown in text, shown

    with page.expect_download() as download:
        page.locator("#p-export").click()
    text = download.value.path().read_text(encoding="utf-8")
    rows = {r["noticeCode"]: r for r in csv.DictReader(io.StringIO(text))}
    assert (rows[number]["amountCents"], rows[number]["standIn"]) == ("7300", "false")
    assert (rows[number]["payerFiscalCode"], rows[number]["method"]) == (CF, "CP")
    assert (rows[number]["psp"], rows[number]["pspName"]) == (psp, psp_name)
    assert rows[number]["feeCents"] == "100"
