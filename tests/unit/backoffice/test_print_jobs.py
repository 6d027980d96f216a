"""Batches of paper notices as jobs: the request is checked (roles, at most 1,000, some VALID)
and queued; the worker renders the search's VALID positions into the job's blob a part per
block; the status links the PDF once done; duplicates, crashes and refusals end cleanly."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from pypdf import PdfReader

from shared.backoffice.print_jobs import STALE_AFTER, PrintJobs
from shared.backoffice.service import BackOffice
from shared.documents.notice_pdf import PAGES_PER_PART
from shared.notices.search import PositionFilter
from shared.platform.errors import Forbidden, Invalid, NotFound, PermanentError
from tests.fakes.platform import MemorySender
from tests.fakes.print_jobs import MemoryPrintJobs
from tests.unit.backoffice.test_backoffice import EDITOR, STRANGER, VIEWER, form
from tests.unit.backoffice.test_printing import pages, printed
from tests.unit.notices.fakes import EC, OTHER_EC, World, nav, position

QUEUE = "backoffice-print"


async def jobs_world() -> tuple[PrintJobs, MemoryPrintJobs, MemorySender, BackOffice, World]:
    bo, print_, world = await printed()
    store, sender = MemoryPrintJobs(), MemorySender()
    return PrintJobs(bo, print_, store, sender, QUEUE), store, sender, bo, world


def message_of(sender: MemorySender, job_id: str) -> bytes:
    (body,) = [m.body for q, m in sender.sent if q == QUEUE and m.message_id == job_id]
    return body


async def test_a_batch_is_queued_then_rendered_into_its_blob_and_linked() -> None:
    jobs, store, sender, _, world = await jobs_world()
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    assert (asked.state, asked.notices, asked.url) == ("queued", 2, None)
    body = message_of(sender, asked.id)
    assert json.loads(body) == {"jobId": asked.id}
    queued = await jobs.status(VIEWER, EC, asked.id, now=world.now)
    assert queued.state == "queued"

    await jobs.render(body, now=world.later())
    done = await jobs.status(EDITOR, EC, asked.id, now=world.now)  # any user of the EC
    assert (done.state, done.pages) == ("done", 2)
    assert done.url is not None
    assert asked.id in done.url
    printed_pages = pages(store.pdfs[asked.id])
    assert len(printed_pages) == 2  # the invalidated third is not payable
    assert "10,00" in printed_pages[0]
    assert "20,00" in printed_pages[1]
    assert store.filenames[asked.id] == f"avvisi-{EC}.pdf"


async def test_the_request_is_refused_as_the_route_was_before_anything_is_queued() -> None:
    jobs, _, sender, _, world = await jobs_world()
    with pytest.raises(Forbidden):
        await jobs.submit(EDITOR, OTHER_EC, PositionFilter(), now=world.now)
    with pytest.raises(Invalid) as nothing:
        await jobs.submit(VIEWER, EC, PositionFilter(nav=nav(3)), now=world.now)
    assert (nothing.value.status, nothing.value.errors[0]["type"]) == (422, "nothing_to_print")
    party = await world.archive.ecs.get(EC)
    for n in range(4, 1_002):  # 1,001 with the first three
        await world.archive.publish(party, form(n), segregation_codes=None, now=world.now)
    with pytest.raises(Invalid) as refused:
        await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    assert (refused.value.status, refused.value.errors[0]["type"]) == (422, "too_many")
    assert sender.sent == []
    one = await jobs.submit(VIEWER, EC, PositionFilter(nav=nav(999)), now=world.now)
    assert one.notices == 1


async def test_a_job_is_read_only_by_users_of_its_ec() -> None:
    jobs, _, _, _, world = await jobs_world()
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    with pytest.raises(Forbidden):
        await jobs.status(STRANGER, EC, asked.id, now=world.now)
    with pytest.raises(NotFound):  # the viewer is an editor of OTHER_EC: not that EC's job
        await jobs.status(VIEWER, OTHER_EC, asked.id, now=world.now)
    for unknown in ("0" * 32, "../x", ""):
        with pytest.raises(NotFound):
            await jobs.status(VIEWER, EC, unknown, now=world.now)


async def test_the_pdf_is_staged_a_part_per_block_and_a_crash_restarts_cleanly() -> None:
    jobs, store, sender, bo, world = await jobs_world()
    for n in range(4, 4 + PAGES_PER_PART):  # 27 VALID: two parts, then the PDF's end
        await bo.create(EDITOR, EC, form(n), now=world.now)
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    body = message_of(sender, asked.id)
    store.fail_stage_at = 1
    with pytest.raises(ConnectionResetError):
        await jobs.render(body, now=world.now)
    assert (await jobs.status(VIEWER, EC, asked.id, now=world.now)).state == "queued"
    assert asked.id not in store.pdfs  # nothing readable from the broken run

    await jobs.render(body, now=world.now)  # the redelivery
    assert len(store.staged[asked.id]) == 3
    assert len(PdfReader(io.BytesIO(store.pdfs[asked.id])).pages) == PAGES_PER_PART + 2
    assert (await jobs.status(VIEWER, EC, asked.id, now=world.now)).pages == PAGES_PER_PART + 2


async def test_a_duplicate_delivery_of_a_done_job_renders_nothing() -> None:
    jobs, store, sender, _, world = await jobs_world()
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    body = message_of(sender, asked.id)
    await jobs.render(body, now=world.now)
    store.staged.clear()
    await jobs.render(body, now=world.now)
    assert store.staged == {}
    assert (await jobs.status(VIEWER, EC, asked.id, now=world.now)).state == "done"


async def test_a_refusal_at_render_time_ends_the_job_failed_with_its_reason() -> None:
    jobs, _, sender, bo, world = await jobs_world()
    asked = await jobs.submit(VIEWER, EC, PositionFilter(nav=nav(1)), now=world.now)
    await bo.invalidate(EDITOR, EC, nav(1), now=world.later())  # nothing payable any more
    with pytest.raises(PermanentError):
        await jobs.render(message_of(sender, asked.id), now=world.now)
    failed = await jobs.status(VIEWER, EC, asked.id, now=world.now)
    assert failed.state == "failed"
    assert failed.reason is not None
    assert "VALID" in failed.reason
    assert failed.url is None

    second = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    await bo.users.remove(VIEWER.object_id)  # access taken away before the worker ran
    with pytest.raises(PermanentError):
        await jobs.render(message_of(sender, second.id), now=world.now)
    assert (await jobs.status(EDITOR, EC, second.id, now=world.now)).state == "failed"


@pytest.mark.parametrize(
    "body", [b"{}", b'{"jobId": "../../etc"}', b'{"jobId": "' + b"a" * 32 + b'"}']
)
async def test_a_message_that_is_not_a_known_job_is_permanent(body: bytes) -> None:
    jobs, _, _, _, world = await jobs_world()
    with pytest.raises(PermanentError):
        await jobs.render(body, now=world.now)


async def test_a_job_never_rendered_reads_as_failed_after_a_while() -> None:
    jobs, _, _, _, world = await jobs_world()
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    later = world.now + STALE_AFTER + timedelta(seconds=1)
    stale = await jobs.status(VIEWER, EC, asked.id, now=later)
    assert stale.state == "failed"
    assert stale.reason


async def test_a_batch_leaves_out_what_the_agid_notice_cannot_show() -> None:
    # the ACA contract lets an EC choose any nav and amounts past the notice's 10 digits of
    # euros; the hostile suite found the batch answering 500 once such a position was among
    # the search's results
    jobs, store, sender, _, world = await jobs_world()
    ec = world.parties[EC]
    await world.archive.publish(ec, position(4, nav="N-4"), segregation_codes=None, now=world.now)
    await world.archive.publish(
        ec, position(5, amount=99_999_999_999), segregation_codes=None, now=world.now
    )
    asked = await jobs.submit(VIEWER, EC, PositionFilter(), now=world.now)
    assert asked.notices == 2  # 1 and 2; 3 is invalidated, 4 and 5 have no AgID notice
    await jobs.render(message_of(sender, asked.id), now=world.later())
    assert len(pages(store.pdfs[asked.id])) == 2
    with pytest.raises(Invalid) as nothing:
        await jobs.submit(VIEWER, EC, PositionFilter(nav=nav(5)), now=world.now)
    assert (nothing.value.status, nothing.value.errors[0]["type"]) == (422, "nothing_to_print")
