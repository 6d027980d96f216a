"""Print jobs' blobs on Azurite: a job's state round-trips, the PDF is readable only once its
block list is committed, a block staged again replaces the earlier one (a redelivery after a
crash), and the link signed with the account's key reads it without any other credential."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from azure.core.exceptions import ResourceNotFoundError

from local.platform import Platform
from shared.backoffice.print_blobs import AzurePrintJobs
from shared.backoffice.print_jobs import JobFilter, PrintJob
from shared.platform.clients import Clients


@pytest.fixture(scope="module")
async def clients(platform: Platform) -> AsyncIterator[Clients]:
    built = Clients(platform.provision(f"print-blobs-{uuid.uuid4().hex[:8]}"))
    yield built
    await built.close()


def job() -> PrintJob:
    return PrintJob(
        id=uuid.uuid4().hex,
        ec="77777777777",
        object_id="0b0e0000-0000-4000-8000-0000000000b2",
        where=JobFilter(debtor="RSSMRA85T10A562S"),
        notices=3,
        state="queued",
        created_at=datetime.now(UTC),
    )


async def test_a_jobs_state_round_trips_and_an_unknown_job_is_none(clients: Clients) -> None:
    store = AzurePrintJobs(clients.blob_service, clients.settings.backoffice_print_blob_container)
    asked = job()
    await store.save(asked)
    assert await store.load(asked.id) == asked
    done = asked.model_copy(update={"state": "done", "pages": 3})
    await store.save(done)
    assert await store.load(asked.id) == done
    assert await store.load(uuid.uuid4().hex) is None


async def test_the_pdf_is_its_committed_blocks_read_through_the_link(clients: Clients) -> None:
    container = clients.settings.backoffice_print_blob_container
    store = AzurePrintJobs(clients.blob_service, container)
    asked = job()
    await store.stage(asked.id, 0, b"%PDF broken run ")
    await store.stage(asked.id, 1, b"part one ")
    blob = clients.blob_service().get_blob_client(container, f"{asked.id}.pdf")
    with pytest.raises(ResourceNotFoundError):  # staged, not committed: nothing to read
        await blob.get_blob_properties()
    await store.stage(asked.id, 0, b"%PDF redelivered ")  # the redelivery's part 0
    await store.stage(asked.id, 2, b"end")
    await store.commit(asked.id, 3, "avvisi-77777777777.pdf")

    url = await store.read_url(asked.id, now=datetime.now(UTC), minutes=15)
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200
        assert await answer.read() == b"%PDF redelivered part one end"
        assert answer.headers["Content-Type"] == "application/pdf"
        assert 'filename="avvisi-77777777777.pdf"' in answer.headers["Content-Disposition"]
    async with aiohttp.ClientSession() as session, session.get(url.split("?")[0]) as bare:
        assert bare.status in (403, 404)  # the container is private: the signature is the key
