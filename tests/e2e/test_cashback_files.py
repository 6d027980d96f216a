"""Acquirers' files end to end (docs/cashback-files.md): an acquirer downloads the salt, the
hashed-PAN list and the platform's PGP key, filters and encrypts its transactions, and delivers
them by SFTP and by HTTPS; the citizens' period totals follow, the report lists every bad line,
and delivering again changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import requests

from local.pgp import encrypt
from local.platform import Platform
from local.psp.simulator import hpan
from local.sftp import DEV_SFTP_PASSWORD, start_sftp
from tests.conftest import ADMIN_KEY, Host, fresh_queues, start_host, wait_for
from tests.e2e.test_cashback import (
    CITIZEN,
    INSTRUMENTS,
    PERIODS,
    PERIODS_URL,
    ROME,
    acquirer,
    cashback_instrument,
    citizen,
    dev_now,
    onboard,
)

ACQUIRERS = "/api/v1/cashback/acquirers"
FILES = "/api/v1/cashback/files"
CF_A, PAN_A = "PLLLRA80A41H501D", "5105105105105100"
CF_B, PAN_B = "FRRMRC70B12F205C", "4111111111111111"
PAN_NOT_ENROLLED = "378282246310005"
CF_C, PAN_C = "BNCGNN75C03L219Z", "5555555555554444"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    env = {
        **fresh_queues("cbfiles"),
        "WALLET_EVENTS_QUEUE": f"wallet-events-{tag}",
        "CASHBACK_TRANSACTIONS_QUEUE": f"cashback-transactions-{tag}",
        "CASHBACK_FILES_QUEUE": f"cashback-files-{tag}",
        "IBAN_CHECK_QUEUE": f"iban-check-{tag}",
        "CASHBACK_PERIODS": PERIODS,
        "CASHBACK_FILES_LOCAL_EVENTS": "true",
        # every send of 5,000 accepted lines ends a slice: a file of 10,600 lines takes three
        "CASHBACK_FILES_SLICE_SECONDS": "0.001",
        # the shared test box runs several suites at once: a slow emulator is not an outage here
        "COSMOS_TIMEOUT_SECONDS": "20",
        "CASHBACK_LISTS_BLOB_CONTAINER": f"lists-{tag}",
        "CASHBACK_FILES_CONTAINER_PREFIX": f"f{tag}-",
    }
    started = start_host(platform, env=env)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def sftp_port(platform: Platform, host: Host) -> Iterator[int]:
    """An SFTP server of this module's own, on the host's queue and containers."""
    child = start_sftp(
        clock_file=platform.clock_file,
        users={"demoacq": DEV_SFTP_PASSWORD},
        storage=platform.env["AzureWebJobsStorage"],
        servicebus=platform.env["ServiceBusConnection"],
        queue=host.env["CASHBACK_FILES_QUEUE"],
        prefix=host.env["CASHBACK_FILES_CONTAINER_PREFIX"],
    )
    try:
        yield child.port
    finally:
        child.stop()


def enrolled_with_card(platform: Platform, host: Host, cf: str, pan: str) -> None:
    me = citizen(platform, host, cf)
    assert host.request("PUT", CITIZEN, json={"termsAndConditionsAccepted": True}, headers=me).ok
    wallet_id = onboard(platform, host, cf, pan=pan)
    wait_for(lambda: cashback_instrument(platform, host, cf, wallet_id))
    enabled = host.request("PUT", f"{INSTRUMENTS}/{wallet_id}", headers=citizen(platform, host, cf))
    assert enabled.status_code == 200, enabled.text


def row(
    n: str,
    pan_hash: str,
    at: datetime,
    amount: int | str,
    *,
    op: str = "00",
    corr: str = "",
    acq: str = "09509",
    code: str = "99999",
) -> str:
    """A line of the acquirer interface v5.0 (15 columns; the PAR after them, empty)."""
    stamp = at.isoformat(timespec="milliseconds")
    return (
        f"{code};{op};01;{pan_hash};{stamp};{n};AUTH{n};{corr};{amount};978;{acq};"
        f"400000080205;80205005;40236010;5411;"
    )


def period(platform: Platform, host: Host, cf: str) -> tuple[int, int]:
    shown = host.request("GET", f"{PERIODS_URL}/9", headers=citizen(platform, host, cf))
    assert shown.status_code == 200, shown.text
    return shown.json()["count"], shown.json()["cashback"]


def file_state(host: Host, name: str) -> dict[str, Any] | None:
    found = host.request("GET", f"{FILES}/{name}", headers=acquirer(host), key=None)
    if found.status_code == 404:
        return None
    assert found.status_code == 200, found.text
    state: dict[str, Any] = found.json()
    return state if state["status"] != "PROCESSING" else None


def report(host: Host, name: str) -> list[tuple[int, str]]:
    moved = host.request(
        "GET", f"{FILES}/{name}/report", headers=acquirer(host), key=None, allow_redirects=False
    )
    assert moved.status_code == 302, moved.text
    text = requests.get(moved.headers["Location"], timeout=30).text
    return [(int(r.split(";")[0]), r.split(";")[1]) for r in text.splitlines()[1:]]


async def _sftp_put(port: int, local: Path, remote: str) -> None:
    async with (
        asyncssh.connect(
            "127.0.0.1",
            port,
            username="demoacq",
            password=DEV_SFTP_PASSWORD,
            known_hosts=None,
        ) as connection,
        connection.start_sftp_client() as sftp,
    ):
        await sftp.put(str(local), remote)


def test_an_acquirer_delivers_files_by_sftp_and_https_and_again_changes_nothing(
    platform: Platform, host: Host, sftp_port: int, tmp_path: Path
) -> None:
    enrolled_with_card(platform, host, CF_A, PAN_A)
    enrolled_with_card(platform, host, CF_B, PAN_B)
    counts_from = (dev_now(host).astimezone(ROME) + timedelta(days=1)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    host.advance_clock(2 * 86400)

    # What the acquirer filters with: the salt, the list (after its nightly run), the key.
    salt = host.request("GET", f"{ACQUIRERS}/salt", headers=acquirer(host), key=None)
    assert salt.status_code == 200, salt.text
    assert host.request("GET", f"{ACQUIRERS}/salt", key=None).status_code == 401
    ran = host.request("POST", "/admin/functions/cashback_hpan_list", key=ADMIN_KEY, json={})
    assert ran.status_code in (200, 202), ran.text

    def listed() -> requests.Response | None:
        moved = host.request(
            "GET", f"{ACQUIRERS}/hashed-pans", headers=acquirer(host), key=None,
            allow_redirects=False,
        )  # fmt: skip
        if moved.status_code != 302:
            return None
        got = requests.get(moved.headers["Location"], timeout=30)
        return got if got.status_code == 200 else None

    download = wait_for(listed)
    assert hashlib.sha256(download.content).hexdigest() == download.headers["x-ms-meta-sha256"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        enrolled = set(archive.read("hashed-pans.csv").decode().split())
    key = host.request("GET", f"{ACQUIRERS}/pgp-public-key", headers=acquirer(host), key=None)
    assert key.status_code == 200, key.text
    public_key = key.json()["publicKey"]

    hash_of = {pan: hpan(pan, salt.json()["salt"]) for pan in (PAN_A, PAN_B, PAN_NOT_ENROLLED)}
    assert {hash_of[PAN_A], hash_of[PAN_B]} <= enrolled
    assert hash_of[PAN_NOT_ENROLLED] not in enrolled
    day = counts_from
    candidates = [
        row("T1", hash_of[PAN_A], day, 2500),  # 2.50
        row("T2", hash_of[PAN_A], day + timedelta(hours=1), 20000, corr="c2"),  # 15.00 (cap)
        row("T0", hash_of[PAN_NOT_ENROLLED], day, 9900),  # the acquirer filters it out
        # a partial reversal: 200.00 -> 140.00 leaves 14.00 of 15.00: -1.00, the count stays
        row("T3", hash_of[PAN_A], day + timedelta(hours=2), 6000, op="01", corr="c2"),
        row("T1", hash_of[PAN_A], day, 2500),  # line 4: the same transaction again
        row("T4", hash_of[PAN_B], day, 1000, acq="22222"),  # 1.00, for another acquirer id
        "garbage",  # line 6
        row("T5", hash_of[PAN_A], day, "12.50"),  # line 7: not cents
        row("T6", hash_of[PAN_A], day, 3000, acq="33333"),  # line 8: not an id it sends for
        row("T7", hash_of[PAN_A], day, 3000, code="12345"),  # line 9: not the file's ABI
    ]
    lines = [c for c in candidates if len(c.split(";")) < 4 or c.split(";")[3] in enrolled]
    assert len(lines) == len(candidates) - 1
    first = "CSTAR.99999.TRNLOG.20261210.101500.001.csv.pgp"
    sealed = tmp_path / first
    sealed.write_bytes(encrypt(public_key, ("\n".join(lines) + "\n").encode()))
    asyncio.run(_sftp_put(sftp_port, sealed, first))

    done = wait_for(lambda: file_state(host, first), timeout=60)
    assert (done["status"], done["lines"], done["accepted"], done["rejected"]) == (
        "DONE",
        9,
        4,
        5,
    )
    assert report(host, first) == [
        (4, "DUPLICATE_IN_FILE"),
        (6, "COLUMNS"),
        (7, "INVALID"),
        (8, "NOT_YOUR_ACQUIRER_ID"),
        (9, "NOT_THE_FILES_ACQUIRER_CODE"),
    ]
    wait_for(lambda: period(platform, host, CF_A) == (2, 1650), timeout=60)
    wait_for(lambda: period(platform, host, CF_B) == (1, 100), timeout=60)

    # The next file by HTTPS: a third payment for A, and a line of an unknown operation.
    second = "CSTAR.99999.TRNLOG.20261211.101500.002.csv.pgp"
    body = encrypt(
        public_key,
        (
            row("T8", hash_of[PAN_A], day + timedelta(hours=5), 3000)
            + "\n"
            + row("T9", hash_of[PAN_B], day, 1000, op="99")
            + "\n"
        ).encode(),
    )
    put = host.request("PUT", f"{FILES}/{second}", headers=acquirer(host), key=None, data=body)
    assert put.status_code == 202, put.text
    done = wait_for(lambda: file_state(host, second), timeout=60)
    assert (done["accepted"], done["rejected"]) == (1, 1)
    assert report(host, second) == [(2, "INVALID")]
    wait_for(lambda: period(platform, host, CF_A) == (3, 1950), timeout=60)

    # Again: the same name by HTTPS is refused; by SFTP it is stored, and processed no more.
    first_state = file_state(host, first)
    again = host.request("PUT", f"{FILES}/{second}", headers=acquirer(host), key=None, data=body)
    assert again.status_code == 409, again.text
    asyncio.run(_sftp_put(sftp_port, sealed, first))
    # a last file behind the redelivered one on the same queue: once it is scored, the
    # re-upload's event was handled too
    third = "CSTAR.99999.TRNLOG.20261212.101500.003.csv.pgp"
    last = encrypt(public_key, (row("T10", hash_of[PAN_B], day, 2000) + "\n").encode())
    assert host.request("PUT", f"{FILES}/{third}", headers=acquirer(host), key=None, data=last).ok
    wait_for(lambda: period(platform, host, CF_B) == (2, 300), timeout=60)
    assert period(platform, host, CF_A) == (3, 1950)
    assert file_state(host, first) == first_state

    # A name outside the convention, or an ABI the acquirer may not send for, is refused.
    wrong = host.request(
        "PUT", f"{FILES}/transactions.csv.pgp", headers=acquirer(host), key=None, data=body
    )
    assert wrong.status_code == 400, wrong.text
    other_abi = host.request(
        "PUT",
        f"{FILES}/CSTAR.00001.TRNLOG.20261212.101500.004.csv.pgp",
        headers=acquirer(host),
        key=None,
        data=body,
    )
    assert other_abi.status_code == 403, other_abi.text


def test_a_file_longer_than_a_slice_completes_through_checkpoints(
    platform: Platform, host: Host
) -> None:
    enrolled_with_card(platform, host, CF_C, PAN_C)
    host.advance_clock(86400)  # its transactions come after the card was enabled
    salt = host.request("GET", f"{ACQUIRERS}/salt", headers=acquirer(host), key=None).json()
    key = host.request("GET", f"{ACQUIRERS}/pgp-public-key", headers=acquirer(host), key=None)
    day = dev_now(host).astimezone(ROME) - timedelta(hours=1)
    # Not enrolled (cheap for the scorer): the lines that fill the sends.
    other = hpan("6011111111111117", salt["salt"])
    lines = [row(f"S{n}", other, day, 100) for n in range(1, 10_601)]
    for bad in (3, 7_000, 10_550):  # one reject in each slice
        lines[bad - 1] = "garbage"
    lines[-1] = row("S-C", hpan(PAN_C, salt["salt"]), day, 1000)  # in the last slice
    name = "CSTAR.99999.TRNLOG.20261213.101500.005.csv.pgp"
    body = encrypt(key.json()["publicKey"], ("\n".join(lines) + "\n").encode())
    put = host.request("PUT", f"{FILES}/{name}", headers=acquirer(host), key=None, data=body)
    assert put.status_code == 202, put.text

    done = wait_for(lambda: file_state(host, name), timeout=120)
    assert (done["status"], done["lines"], done["accepted"], done["rejected"]) == (
        "DONE",
        10_600,
        10_597,
        3,
    )
    assert done["checkpoints"] == 2  # after 5,000 and 10,000 accepted lines
    assert report(host, name) == [(3, "COLUMNS"), (7_000, "COLUMNS"), (10_550, "COLUMNS")]
    wait_for(lambda: period(platform, host, CF_C) == (1, 100), timeout=120)
