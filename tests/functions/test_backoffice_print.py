"""The print job's routes and queue worker, called directly on in-memory ports: the batch's
request is 202 with its job's status route in Location and one message on the print queue; the
worker renders it and the status links the PDF; refusals are the route's, and a message the
worker cannot take ends as failed work, the job as failed with its reason."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import use_root
from shared.backoffice.principal import PRINCIPAL_HEADER, Principal, encode_principal
from shared.backoffice.print_jobs import PrintJobs
from shared.backoffice.printing import NoticePrinter
from shared.backoffice.service import BackOffice
from shared.platform.clock import SystemClock, use_clock
from shared.platform.failed_work import failed_work_id
from tests.app import app
from tests.fakes.print_jobs import MemoryPrintJobs
from tests.functions.fakes import FakeRoot, request, trigger
from tests.unit.backoffice.test_backoffice import EDITOR, STRANGER, VIEWER
from tests.unit.backoffice.test_printing import pages, printed
from tests.unit.notices.fakes import EC, OTHER_EC, World, nav

JOBS = f"bo/v1/ecs/{EC}/paper-notices"


class Parts:
    def __init__(self, jobs: PrintJobs) -> None:
        self.print_jobs = jobs


class PrintRoot(FakeRoot):
    def __init__(self, bo: BackOffice, printer: NoticePrinter, world: World) -> None:
        super().__init__()
        self.bo = bo
        self.printer = printer
        self.world = world
        self.store = MemoryPrintJobs()

    @cached_property
    def backoffice_parts(self) -> Any:
        queue = self.settings.backoffice_print_queue
        return Parts(PrintJobs(self.bo, self.printer, self.store, self.sender, queue))


@pytest.fixture
async def root() -> AsyncIterator[PrintRoot]:
    fake = PrintRoot(*await printed())
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


def signed_in(who: Principal) -> dict[str, str]:
    return {PRINCIPAL_HEADER: encode_principal(who.object_id, who.name or "")}


async def ask(who: Principal, ec: str = EC, **params: str) -> func.HttpResponse:
    req = request(
        "POST",
        f"bo/v1/ecs/{ec}/paper-notices",
        headers=signed_in(who),
        route_params={"ec": ec},
        params=params,
    )
    response: func.HttpResponse = await trigger(app, "bo_paper_notices")(req)
    return response


async def status(who: Principal, job: str, ec: str = EC) -> func.HttpResponse:
    req = request(
        "GET",
        f"bo/v1/ecs/{ec}/paper-notices/{job}",
        headers=signed_in(who),
        route_params={"ec": ec, "job": job},
    )
    response: func.HttpResponse = await trigger(app, "bo_paper_notices_job")(req)
    return response


async def work(body: bytes, message_id: str) -> None:
    message = ServiceBusMessage(
        body=body,
        message_id=message_id,
        delivery_count=1,
        application_properties={},
        user_properties={},
    )
    await trigger(app, "backoffice_print_jobs")(message)


def body_of(response: func.HttpResponse) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(response.get_body())
    return parsed


async def test_a_batch_is_accepted_as_a_job_then_rendered_by_the_worker(root: PrintRoot) -> None:
    asked = await ask(VIEWER)
    assert asked.status_code == 202
    job = body_of(asked)
    assert job["state"] == "queued"
    assert asked.headers["Location"] == f"/api/{JOBS}/{job['id']}"
    ((queue, message),) = root.sender.sent
    assert (queue, message.message_id) == (root.settings.backoffice_print_queue, job["id"])
    assert body_of(await status(VIEWER, job["id"]))["state"] == "queued"

    await work(message.body, message.message_id)
    done = body_of(await status(EDITOR, job["id"]))
    assert (done["state"], done["pages"]) == ("done", 2)
    assert done["url"]
    assert len(pages(root.store.pdfs[job["id"]])) == 2


async def test_the_request_is_refused_as_before(root: PrintRoot) -> None:
    assert (await ask(STRANGER)).status_code == 403
    assert (await ask(EDITOR, ec=OTHER_EC)).status_code == 403
    nothing = await ask(VIEWER, nav=nav(3))  # the invalidated one only
    assert nothing.status_code == 422
    assert body_of(nothing)["errors"][0]["type"] == "nothing_to_print"
    assert root.sender.sent == []
    assert (await status(VIEWER, "0" * 32)).status_code == 404
    assert (await status(STRANGER, "0" * 32)).status_code == 403


async def test_what_the_worker_cannot_print_ends_as_failed_work_and_a_failed_job(
    root: PrintRoot,
) -> None:
    job = body_of(await ask(VIEWER, nav=nav(1)))
    ((_, message),) = root.sender.sent
    await root.bo.invalidate(EDITOR, EC, nav(1), now=root.world.later())
    await work(message.body, message.message_id)  # ends: no exception for the host
    queue = root.settings.backoffice_print_queue
    ended = root.failed_work.items[failed_work_id(queue, message.message_id)]
    assert ended.ending == "permanent"
    failed = body_of(await status(VIEWER, job["id"]))
    assert failed["state"] == "failed"
    assert "VALID" in failed["reason"]

    await work(b'{"jobId": "nope"}', "m-2")
    assert failed_work_id(queue, "m-2") in root.failed_work.items
