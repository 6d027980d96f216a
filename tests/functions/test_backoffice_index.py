"""The positions index's queue consumer and the operators' rebuild route, called directly on
in-memory ports: an archive event indexes the archive's current state of its position, a
message that is not one ends as failed work, the rebuild indexes an EC's earlier positions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.root import use_root
from shared.notices.ec_index import ec_partition
from shared.notices.ec_index_service import PositionsIndex
from shared.notices.identity import position_id
from shared.platform.clock import SystemClock, use_clock
from tests.app import app
from tests.fakes.notices import MemoryEcIndex, MemoryPositionSearch
from tests.functions.fakes import FakeRoot, request, trigger
from tests.unit.notices.fakes import EC, World, iuv, position


class Parts:
    def __init__(self, world: World) -> None:
        self.store = MemoryEcIndex()
        self.index = PositionsIndex(self.store, world.archive, MemoryPositionSearch(world.store))


class IndexRoot(FakeRoot):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world

    @cached_property
    def positions_index(self) -> Parts:  # type: ignore[override]
        return Parts(self.world)


@pytest.fixture
async def root() -> Iterator[IndexRoot]:
    fake = IndexRoot(await World().seed())
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


async def consume(body: bytes) -> None:
    message = ServiceBusMessage(
        body=body,
        message_id="m-1",
        delivery_count=1,
        application_properties={},
        user_properties={},
    )
    await trigger(app, "backoffice_positions_index")(message)


def event(n: int) -> bytes:
    data = {"ecFiscalCode": EC, "iuv": iuv(n), "seq": 1}
    return json.dumps(
        {"id": f"e-{n}", "type": "NoticeCreated", "createdAt": "2026-12-08T09:00:00Z", "data": data}
    ).encode()


async def test_an_archive_event_indexes_its_position_in_the_ecs_partition(
    root: IndexRoot,
) -> None:
    world = root.world
    await world.archive.publish(
        world.parties[EC], position(1), segregation_codes=None, now=world.now
    )
    await consume(event(1))
    entry = root.positions_index.store.entries[(ec_partition(EC), position_id(EC, iuv(1)))]
    assert (entry["iuv"], entry["status"], entry["present"]) == (iuv(1), "VALID", True)


async def test_a_message_that_is_no_archive_event_is_failed_work(root: IndexRoot) -> None:
    await consume(b'{"id": "x"}')
    assert root.positions_index.store.entries == {}
    assert [item.queue for item in root.failed_work.items.values()] == [
        root.settings.backoffice_positions_queue
    ]


async def test_the_rebuild_route_indexes_the_ecs_positions(root: IndexRoot) -> None:
    world = root.world
    for n in (1, 2, 3):
        await world.archive.publish(
            world.parties[EC], position(n), segregation_codes=None, now=world.now
        )
    response: func.HttpResponse = await trigger(app, "rebuild_bo_index")(
        request("POST", f"ops/bo-index/{EC}/rebuild", route_params={"ecFiscalCode": EC})
    )
    assert response.status_code == 200, response.get_body()
    assert json.loads(response.get_body()) == {"ecFiscalCode": EC, "read": 3, "written": 3}
    assert len(root.positions_index.store.entries) == 3


async def test_the_rebuild_route_refuses_what_is_no_ec_fiscal_code(root: IndexRoot) -> None:
    response: func.HttpResponse = await trigger(app, "rebuild_bo_index")(
        request("POST", "ops/bo-index/x/rebuild", route_params={"ecFiscalCode": "../x"})
    )
    assert response.status_code == 400
    assert root.positions_index.store.entries == {}
