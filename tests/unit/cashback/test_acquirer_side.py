"""What acquirers filter with (the hashed-PAN list, the salt) and the HTTPS upload's rules."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from shared.cashback.acquirer_lists import CHECKSUM_METADATA, LIST_BLOB, HpanList, salt
from shared.cashback.delivery import Uploads
from shared.cashback.file_intake import BLOB_CREATED, FileIntake
from shared.platform.errors import ConfigurationError, Conflict, Forbidden, Invalid, NotFound
from tests.fakes.cashback import MemoryCashbackStore
from tests.fakes.cashback_files import MemoryFileBlobs, MemoryParties, PlainDecryptor, acquirer
from tests.fakes.platform import MemorySender
from tests.unit.cashback.test_file_intake import PERIODS, row

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
NAME = "CSTAR.00001.TRNLOG.20261210.101500.001.csv.pgp"
PARTY = acquirer("CIRCUIT", {"00001": ["11111"]})


class Hpans:
    def __init__(self, *hpans: str) -> None:
        self.hpans = hpans

    async def each(self) -> AsyncIterator[str]:
        for hpan in self.hpans:
            yield hpan


async def test_the_list_is_a_zip_of_the_enabled_hpans_with_its_checksum() -> None:
    blobs = MemoryFileBlobs()
    enabled = ("a" * 64, "b" * 64)
    written = await HpanList(Hpans(*enabled), blobs, "lists").write(now=NOW)
    data = blobs.blobs[("lists", LIST_BLOB)]
    assert written.hpans == 2
    assert blobs.metadata[("lists", LIST_BLOB)][CHECKSUM_METADATA] == written.sha256
    assert hashlib.sha256(data).hexdigest() == written.sha256
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("hashed-pans.csv").decode().split() == list(enabled)


async def test_before_the_first_nightly_run_the_download_writes_the_list() -> None:
    blobs = MemoryFileBlobs()
    lists = HpanList(Hpans("c" * 64), blobs, "lists")
    url = await lists.download_url(now=NOW)
    assert url.startswith(f"memory://lists/{LIST_BLOB}")
    first = blobs.blobs[("lists", LIST_BLOB)]
    await lists.download_url(now=NOW)  # written once: the next downloads read the same blob
    assert blobs.blobs[("lists", LIST_BLOB)] is first


def test_the_salt_is_served_once_set() -> None:
    assert salt("s" * 16).salt == "s" * 16
    with pytest.raises(ConfigurationError):
        salt("")


def uploads(blobs: MemoryFileBlobs, sender: MemorySender, local: bool = True) -> Uploads:
    return Uploads(
        blobs=blobs,
        store=MemoryCashbackStore(),
        sender=sender,
        events_queue="files",
        container_prefix="rtd-",
        local_events=local,
    )


async def test_an_upload_lands_in_the_acquirers_container_and_locally_raises_the_event() -> None:
    blobs, sender = MemoryFileBlobs(), MemorySender()
    delivered = await uploads(blobs, sender).upload(PARTY, NAME, b"sealed", now=NOW)
    assert (delivered.container, delivered.size) == ("rtd-circuit", 6)
    assert blobs.blobs[("rtd-circuit", NAME)] == b"sealed"
    [(queue, message)] = sender.sent
    event = json.loads(message.body)
    assert (queue, event["eventType"]) == ("files", BLOB_CREATED)
    assert event["subject"] == f"/blobServices/default/containers/rtd-circuit/blobs/{NAME}"
    # the event is what the intake reads
    intake = FileIntake(
        blobs=blobs,
        decryptor=PlainDecryptor(),
        store=MemoryCashbackStore(),
        parties=MemoryParties(PARTY),
        sender=MemorySender(),
        queue="q",
        periods=PERIODS,
        container_prefix="rtd-",
    )
    blobs.blobs[("rtd-circuit", NAME)] = (row(1) + "\n").encode()
    record = await intake.on_event(message.body, now=NOW)
    assert record is not None
    assert (record.status, record.accepted) == ("DONE", 1)


async def test_in_azure_the_upload_leaves_the_event_to_event_grid() -> None:
    sender = MemorySender()
    await uploads(MemoryFileBlobs(), sender, local=False).upload(PARTY, NAME, b"x", now=NOW)
    assert sender.sent == []


async def test_an_upload_is_refused_for_its_name_its_abi_or_a_second_time() -> None:
    up = uploads(MemoryFileBlobs(), MemorySender())
    with pytest.raises(Invalid):
        await up.upload(PARTY, "transactions.csv.pgp", b"x", now=NOW)
    with pytest.raises(Invalid):
        await up.upload(PARTY, NAME.removesuffix(".pgp"), b"x", now=NOW)
    with pytest.raises(Forbidden):
        await up.upload(PARTY, NAME.replace("00001", "00002"), b"x", now=NOW)
    await up.upload(PARTY, NAME, b"x", now=NOW)
    with pytest.raises(Conflict):
        await up.upload(PARTY, NAME, b"y", now=NOW)
    with pytest.raises(NotFound):
        await up.state(PARTY, NAME)  # delivered, not processed yet
