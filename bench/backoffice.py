"""Benchmark of the back office's notices table: an EC with 50,000 positions, the first page
rendered in headless Chromium beside the API call alone, in the same run.

- Loaded: ``--positions`` positions of the demo EC through the archive's own bulk upload
  (NDJSON), until its report says COMPLETED.
- Measured: the time from navigating to ``/api/bo`` (signed in as the demo viewer) to the
  first page's rows in the table, in headless Chromium (Debian's, through Playwright), two
  ways: from Python (``page.goto`` until the page's table clock has run, read by plain
  evaluations every 5 ms: Playwright's own round trips included) and in the page (from the
  navigation's start to the frame after the 20th row is in the table, ``performance.now()``:
  the rendered table alone). Until this commit the rounds waited with a Playwright locator,
  whose selector engine runs on the page's main thread (evaluated in every new document, its
  polls forcing layouts): the harness slowed the page it timed.
- Baseline: ``GET /api/bo/v1/ecs/{ec}/positions?pageSize=20`` alone, the same call the page
  makes, with the same session, from Python.
- Target: browser / API <= 1.5. Each side ``--rounds`` times, alternating; medians.

The search is one query in the EC's partition of the positions index (docs/backoffice.md),
which the index's consumer fills from the archive's events: the run waits until the last loaded
position is indexed, then until every queue of the archive's events is empty (their consumers
share the emulator with the search), both printed, before measuring. The local Cosmos emulator
filters a partition out of the whole container before each query, so the API's own figure
still grows with the container: the ratio is what this run compares.

``--index seed`` loads only ``--reference`` positions that way and writes the rest straight to
the archive and the index (:mod:`bench.backoffice_seed`, checked against the uploaded ones): 50,000
positions' 150,000 events would take the local emulators far longer than the measurement. After
the rounds, one more load's timeline (``performance`` entries) is printed for each page.

Run: ``python -m bench.backoffice [--positions 50000] [--rounds 7] [--index seed]``. Prints;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from azure.servicebus import ServiceBusClient
from playwright.sync_api import Page, sync_playwright

from bench import backoffice_seed
from bench.common import bench_settings, start_devhost, start_devhost_in, upsert_all
from local.devauth import COOKIE, DEMO_VIEWER, session_cookie
from local.platform import DEMO_EC, Platform
from local.process import Child
from shared.notices.ec_index import entry_of
from shared.platform.clients import Clients
from shared.platform.config import load_settings

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


def queues(platform: Platform) -> list[str]:
    """The archive's event queues' names on this platform."""
    return [platform.env.get(setting) or DEFAULT_QUEUES[setting] for setting in DEFAULT_QUEUES]


EVENT_CONSUMERS = ("backoffice_positions_index", "payments_notices_index", "journal_notice_events")
"""The functions taking the archive's events (tests/functions/test_triggers.py)."""


async def index_directly(env: dict[str, str]) -> tuple[float, int]:
    """Write the positions index's entries of the demo EC's archived positions (what the
    consumer would write, ``entry_of``), 32 upserts at a time: seconds and entries."""
    clients = Clients(load_settings(env))
    try:
        container = clients.container(clients.settings.notices_container)
        started = time.perf_counter()
        query = "SELECT * FROM c WHERE c.kind = 'position' AND c.paFiscalCode = @ec"
        # big pages: the emulator scans the whole container for each page of a query
        found = container.query_items(
            query, parameters=[{"name": "@ec", "value": DEMO_EC}], max_item_count=5000
        )
        entries = [entry_of(document) async for document in found]
        await upsert_all(container, entries, 32)
        return time.perf_counter() - started, len(entries)
    finally:
        await clients.close()


class Unanswered(RuntimeError):
    """The API did not give the first page (the interim search timed out, say)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--index",
        choices=("consumers", "direct", "seed"),
        default="consumers",
        help="how the positions index is filled: by its consumer from the archive's events "
        "(waiting for every event queue to drain), or, once loaded, directly from the "
        "archive's documents by a host without the archive's event consumers (the local "
        "emulator drains 50,000 positions' events at a few messages a second); seed: the "
        "first --reference positions by the upload and the consumers, the rest written "
        "directly to the archive and the index (bench/backoffice_seed.py), then a host "
        "without the event consumers",
    )
    parser.add_argument("--reference", type=int, default=100)
    parser.add_argument(
        "--trace",
        type=Path,
        help="write Chromium's trace of the last load of each page to TRACE.<n>.json",
    )
    parser.add_argument(
        "--cosmos-timeout",
        type=float,
        help="COSMOS_TIMEOUT_SECONDS of the measured host with --index seed (default: the app's)",
    )
    parser.add_argument(
        "--beside",
        type=Path,
        help="a copy of another version of the app (its static/ built): a second dev host "
        "runs it on the same emulators, and its page is timed in the same rounds",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        platform = Platform(Path(state), bench_settings(DATABASE), azurite=True)
        try:
            platform.provision()
            quiet = {f"AzureWebJobs.{name}.Disabled": "true" for name in EVENT_CONSUMERS}
            # the local emulator interprets the search over the whole partition: on a loaded
            # box a bigger EC may need more than the default 5 s budget
            slow_query = (
                {"COSMOS_TIMEOUT_SECONDS": str(args.cosmos_timeout)} if args.cosmos_timeout else {}
            )
            child = start_devhost(platform)
            host = f"http://127.0.0.1:{child.port}"
            other: Child | None = None
            try:
                uploaded = args.reference if args.index == "seed" else args.positions
                loaded = load(host, platform.env["DEV_PARTY_KEY_EC"], uploaded)
                print(f"loaded {uploaded} positions of {DEMO_EC} in {loaded:.1f} s")
                if args.index == "seed":
                    indexed = wait_indexed(host, uploaded)
                    drained = wait_drained(platform.env["ServiceBusConnection"], queues(platform))
                    print(f"indexed after {indexed:.1f} s, events drained {drained:.1f} s later")
                    child.stop()
                    started = time.perf_counter()
                    print(backoffice_seed.run(platform.env, position, uploaded, args.positions))
                    print(f"seeded in {time.perf_counter() - started:.1f} s")
                    child = start_devhost(platform, **quiet, **slow_query)
                    host = f"http://127.0.0.1:{child.port}"
                elif args.index == "direct":
                    # a host without the event consumers from now on (they ran while loading:
                    # the broker refuses sends once unconsumed events pile up)
                    child.stop()
                    child = start_devhost(platform, **quiet)
                    host = f"http://127.0.0.1:{child.port}"
                    seconds, entries = asyncio.run(index_directly(platform.env))
                    print(f"indexed {entries} positions directly in {seconds:.1f} s")
                else:
                    indexed = wait_indexed(host, args.positions)
                    print(f"the last one indexed {indexed:.1f} s after the upload's report")
                    drained = wait_drained(platform.env["ServiceBusConnection"], queues(platform))
                    print(f"the archive's event queues drained {drained:.1f} s after that")
                try:
                    api_call(host)
                except Unanswered as refused:
                    print(f"the API did not answer the first page: {refused}")
                    return
                pages = {"this page": host}
                if args.beside:
                    other = start_devhost_in(
                        args.beside.resolve(),
                        platform,
                        **(quiet if args.index != "consumers" else {}),
                        **(slow_query if args.index == "seed" else {}),
                    )
                    pages[f"page of {args.beside}"] = f"http://127.0.0.1:{other.port}"
                api, timed = measure(host, pages, args.rounds, args.trace)
            finally:
                if other is not None:
                    other.stop()
                child.stop()
        finally:
            platform.stop()
    a = statistics.median(api)
    print(f"first page of {PAGE_SIZE}, {args.rounds} rounds, medians:")
    print(f"  API call alone (baseline)      {a * 1000:8.0f} ms  (all: {fmt(api)})")
    for name, (outer, inner) in timed.items():
        b, c = statistics.median(outer), statistics.median(inner)
        print(f"  {name}:")
        print(f"    rendered table, from Python  {b * 1000:8.0f} ms  (all: {fmt(outer)})")
        print(f"    rendered table, in the page  {c * 1000:8.0f} ms  (all: {fmt(inner)})")
        print(f"    ratio browser / API          {b / a:8.2f}   (from Python; target <= 1.5)")
        print(f"    ratio browser / API          {c / a:8.2f}   (in the page; target <= 1.5)")


def measure(
    host: str, pages: dict[str, str], rounds: int, trace: Path | None = None
) -> tuple[list[float], dict[str, tuple[list[float], list[float]]]]:
    """The API call alone, and each page's table (from Python, in the page), alternating."""
    api: list[float] = []
    timed: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in pages}
    rows = f"#positions tbody tr >> nth={PAGE_SIZE - 1}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context()
        context.add_init_script(TABLE_CLOCK)
        tabs = {}
        for name, url in pages.items():
            context.add_cookies(
                [{"name": COOKIE, "value": session_cookie(DEMO_VIEWER), "url": url}]
            )
            tab = context.new_page()
            tab.set_default_timeout(120_000)
            tab.goto(f"{url}/api/bo")  # warm: the page's files cached, as a user's
            tab.locator(rows).wait_for()
            tabs[name] = tab
        api_call(host)
        for _ in range(rounds):
            api.append(api_call(host))
            for name, tab in tabs.items():
                outer, inner = timed[name]
                started = time.perf_counter()
                # no locator: Playwright's selector engine runs on the page's main thread
                # (its script evaluated in each new document, its polls forcing layouts),
                # which a user's browser does not; the table clock is read with plain
                # evaluations instead, from the navigation's commit on
                tab.goto(f"{pages[name]}/api/bo", wait_until="commit")
                inner.append(table_at(tab))
                outer.append(time.perf_counter() - started)
        for index, (name, tab) in enumerate(tabs.items()):
            if trace is not None:
                browser.start_tracing(page=tab, path=str(trace.with_suffix(f".{index}.json")))
            tab.goto(f"{pages[name]}/api/bo", wait_until="commit")
            table_at(tab)
            if trace is not None:
                browser.stop_tracing()
            print(f"{name}: one more load, its timeline (ms from the navigation's start):")
            for line in tab.evaluate(TIMELINE):
                print("   ", line)
        browser.close()
    return api, timed


TIMELINE = """(() => {
  const at = (v) => v.toFixed(1).padStart(7);
  const nav = performance.getEntriesByType("navigation")[0];
  const lines = [
    `${at(nav.requestStart)} page requested`,
    `${at(nav.responseEnd)} page received (${nav.transferSize} B over the wire)`,
    `${at(nav.domInteractive)} DOM interactive (parsed; deferred scripts next)`,
    `${at(nav.domContentLoadedEventStart)} DOMContentLoaded`,
  ];
  for (const r of performance.getEntriesByType("resource")) {
    const name = r.name.replace(location.origin, "").slice(0, 80);
    lines.push(`${at(r.startTime)} -> ${at(r.responseEnd)} ${name} (${r.transferSize} B)`);
  }
  for (const p of performance.getEntriesByType("paint")) lines.push(`${at(p.startTime)} ${p.name}`);
  lines.push(`${at(window.__rowsAt)} the 20th row in the table`);
  lines.push(`${at(window.__tableAt)} the frame after it (the figure "in the page")`);
  return lines.sort();
})()"""
"""One load's timeline: the navigation, every request (a transfer size of 0: from the
browser's cache), the paints and the table."""


TABLE_CLOCK = f"""
window.__tableAt = null;
new MutationObserver((_, observer) => {{
  if (document.querySelectorAll("#positions tbody tr").length < {PAGE_SIZE}) return;
  observer.disconnect();
  window.__rowsAt = performance.now();
  // the frame that draws the rows, then the task after it: the table is on screen
  requestAnimationFrame(() => setTimeout(() => {{ window.__tableAt = performance.now(); }}, 0));
}}).observe(document, {{ childList: true, subtree: true }});
"""
"""Runs in the page before its own scripts: when the rendered table is there, from the
navigation's start."""


def table_at(tab: Page) -> float:
    """Seconds from the navigation's start to the rendered table, as TABLE_CLOCK took it
    (polled with plain evaluations: the page's policy refuses the string predicates of
    ``wait_for_function``)."""
    for _ in range(4_000):
        found = tab.evaluate("window.__tableAt")
        if found is not None:
            return float(found) / 1000
        time.sleep(0.005)
    raise Unanswered("the page's table clock never ran")


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v * 1000:.0f}" for v in values)


if __name__ == "__main__":
    main()
