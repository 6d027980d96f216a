"""Benchmark of the back office's notices table: an EC with 50,000 positions, the first page
rendered in headless Chromium beside the API call alone, in the same run.

- Loaded: ``--positions`` positions of the demo EC through the archive's own bulk upload
  (NDJSON), until its report says COMPLETED.
- Measured: the time from navigating to ``/api/bo`` (signed in as the demo viewer) to the
  first page's rows in the table, in headless Chromium (Debian's, through Playwright), two
  ways: from Python (``page.goto`` until Playwright finds the 20th row: Playwright's own round
  trips included, the figure of earlier runs) and in the page (from the navigation's start to
  the frame after the 20th row is in the table, ``performance.now()``: the rendered table
  alone).
- Baseline: ``GET /api/bo/v1/ecs/{ec}/positions?pageSize=20`` alone, the same call the page
  makes, with the same session, from Python.
- Target: browser / API <= 1.5. Each side ``--rounds`` times, alternating; medians.

The search is one query in the EC's partition of the positions index (docs/backoffice.md),
which the index's consumer fills from the archive's events: the run waits until the last loaded
position is indexed, then until every queue of the archive's events is empty (their consumers
share the emulator with the search), both printed, before measuring. The local Cosmos emulator
filters a partition out of the whole container before each query, so the API's own figure
still grows with the container: the ratio is what this run compares.

Run: ``python -m bench.backoffice [--positions 50000] [--rounds 7]``. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from azure.servicebus import ServiceBusClient
from playwright.sync_api import sync_playwright

from bench.common import bench_settings, start_devhost
from local.devauth import COOKIE, DEMO_VIEWER, session_cookie
from local.platform import DEMO_EC, Platform

DATABASE = "bench-backoffice"
BULK = "/api/aca/v1/positions/bulk"
CHROMIUM = "/usr/bin/chromium"
PAGE_SIZE = 20
MOST_PER_UPLOAD = 50_000
DEFAULT_QUEUES = {
    "BACKOFFICE_POSITIONS_QUEUE": "backoffice-positions",
    "PAYMENTS_NOTICES_QUEUE": "payments-notices",
    "JOURNAL_QUEUE": "journal",
}
"""The archive's event destinations (functions/root.py) and their local names."""


def position(n: int) -> dict[str, Any]:
    return {
        "paFiscalCode": DEMO_EC,
        "entityType": "F",
        "entityFiscalCode": f"RSSMRA85T10A{n % 1000:03d}S",
        "entityFullName": "Mario Rossi",
        "iuv": f"01{n:015d}",
        "amount": 1_000 + n % 50_000,
        "description": "TARI 2030 - rata unica",
        "expirationDate": "2030-01-31T23:00:00Z",
    }


def load(host: str, key: str, positions: int) -> float:
    started = time.perf_counter()
    headers = {"Ocp-Apim-Subscription-Key": key}
    for first in range(0, positions, MOST_PER_UPLOAD):
        count = min(MOST_PER_UPLOAD, positions - first)
        body = "\n".join(json.dumps(position(first + i)) for i in range(count)).encode()
        accepted = requests.post(host + BULK, data=body, headers=headers, timeout=300)
        assert accepted.status_code == 202, accepted.text
        report_path = accepted.json()["report"]
        while True:
            time.sleep(1)
            report = requests.get(host + report_path, headers=headers, timeout=60).json()
            if report["status"] == "COMPLETED":
                assert report["written"] == count, report
                break
    return time.perf_counter() - started


def wait_indexed(host: str, positions: int, budget: float = 3_600) -> float:
    """Seconds from now until the index's consumer has indexed the last loaded position."""
    started = time.perf_counter()
    last = position(positions - 1)["iuv"]
    while time.perf_counter() - started < budget:
        answer = requests.get(
            f"{host}/api/bo/v1/ecs/{DEMO_EC}/positions",
            params={"iuv": last, "pageSize": 1},
            cookies={COOKIE: session_cookie(DEMO_VIEWER)},
            timeout=120,
        )
        if answer.status_code == 200 and answer.json()["items"]:
            return time.perf_counter() - started
        time.sleep(2)
    raise Unanswered(f"position {last} not indexed within {budget:.0f} s")


def api_call(host: str) -> float:
    started = time.perf_counter()
    answer = requests.get(
        f"{host}/api/bo/v1/ecs/{DEMO_EC}/positions",
        params={"pageSize": PAGE_SIZE},
        cookies={COOKIE: session_cookie(DEMO_VIEWER)},
        timeout=120,
    )
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise Unanswered(f"{answer.status_code} after {seconds:.1f} s: {answer.text[:300]}")
    assert len(answer.json()["items"]) == PAGE_SIZE, answer.text
    return seconds


def wait_drained(connection: str, queues: list[str], budget: float = 3_600) -> float:
    """Seconds from now until every queue of the archive's events is empty (peeked twice in a
    row): their consumers (the positions index, the citizens' index, the journal) share the
    emulator with the search, so measuring while they still drain measures them."""
    started = time.perf_counter()
    empty_in_a_row = 0
    with ServiceBusClient.from_connection_string(connection) as client:
        while time.perf_counter() - started < budget:
            waiting = 0
            for queue in queues:
                with client.get_queue_receiver(queue) as receiver:
                    waiting += len(receiver.peek_messages(max_message_count=1, sequence_number=0))
            empty_in_a_row = 0 if waiting else empty_in_a_row + 1
            if empty_in_a_row >= 2:
                return time.perf_counter() - started
            time.sleep(5)
    raise Unanswered(f"{queues} not drained within {budget:.0f} s")


class Unanswered(RuntimeError):
    """The API did not give the first page (the interim search timed out, say)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), bench_settings(DATABASE), azurite=True)
        try:
            platform.provision()
            child = start_devhost(platform)
            host = f"http://127.0.0.1:{child.port}"
            try:
                loaded = load(host, platform.env["DEV_PARTY_KEY_EC"], args.positions)
                print(f"loaded {args.positions} positions of {DEMO_EC} in {loaded:.1f} s")
                indexed = wait_indexed(host, args.positions)
                print(f"the last one indexed {indexed:.1f} s after the upload's report")
                events = [
                    platform.env.get(setting) or DEFAULT_QUEUES[setting]
                    for setting in DEFAULT_QUEUES
                ]
                drained = wait_drained(platform.env["ServiceBusConnection"], events)
                print(f"the archive's event queues drained {drained:.1f} s after that")
                try:
                    api_call(host)
                except Unanswered as refused:
                    print(f"the API did not answer the first page: {refused}")
                    return
                api, rendered, in_page = [], [], []
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                    )
                    context = browser.new_context()
                    context.add_cookies(
                        [{"name": COOKIE, "value": session_cookie(DEMO_VIEWER), "url": host}]
                    )
                    context.add_init_script(TABLE_CLOCK)
                    page = context.new_page()
                    page.set_default_timeout(120_000)
                    page.goto(f"{host}/api/bo")  # warm: the page's files cached, as a user's
                    page.locator("#positions tbody tr").nth(PAGE_SIZE - 1).wait_for()
                    api_call(host)
                    for _ in range(args.rounds):
                        api.append(api_call(host))
                        started = time.perf_counter()
                        page.goto(f"{host}/api/bo")
                        page.locator("#positions tbody tr").nth(PAGE_SIZE - 1).wait_for()
                        rendered.append(time.perf_counter() - started)
                        page.wait_for_function("window.__tableAt !== null")
                        in_page.append(page.evaluate("window.__tableAt") / 1000)
                    browser.close()
            finally:
                child.stop()
        finally:
            platform.stop()
    a, b = statistics.median(api), statistics.median(rendered)
    c = statistics.median(in_page)
    print(f"first page of {PAGE_SIZE}, {args.rounds} rounds, medians:")
    print(f"  API call alone (baseline)      {a * 1000:8.0f} ms  (all: {fmt(api)})")
    print(f"  rendered table, from Python    {b * 1000:8.0f} ms  (all: {fmt(rendered)})")
    print(f"  rendered table, in the page    {c * 1000:8.0f} ms  (all: {fmt(in_page)})")
    print(f"  ratio browser / API            {b / a:8.2f}   (from Python; target <= 1.5)")
    print(f"  ratio browser / API            {c / a:8.2f}   (in the page; target <= 1.5)")


TABLE_CLOCK = f"""
window.__tableAt = null;
new MutationObserver((_, observer) => {{
  if (document.querySelectorAll("#positions tbody tr").length < {PAGE_SIZE}) return;
  observer.disconnect();
  // the frame that draws the rows, then the task after it: the table is on screen
  requestAnimationFrame(() => setTimeout(() => {{ window.__tableAt = performance.now(); }}, 0));
}}).observe(document, {{ childList: true, subtree: true }});
"""
"""Runs in the page before its own scripts: when the rendered table is there, from the
navigation's start."""


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


if __name__ == "__main__":
    main()
