"""Every operation of /api/openapi.json under hostile input, through the dev host.

See :mod:`tests.hostile.operations` for what is sent and what every answer must be. Bounded and
repeatable: a fixed number of derandomized examples per operation, no example database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.platform import Platform
from tests.conftest import ADMIN_KEY, start_host
from tests.hostile.operations import Operation, operations
from tests.hostile.world import World, host_env

EXAMPLES = 30
"""Generated examples per operation, after the explicit ones (each place of the request tried
with one value of each class); each example is one request, plus reads of the state around a
refused write."""
SLOW = {
    # each call opens a receiver on the broker; a replay waits a second for messages
    ("GET", "/api/ops/dead-letters/{queue}"): 5,
    ("POST", "/api/ops/dead-letters/{queue}/replay"): 5,
    # each accepted upload is followed until its report completes (its explicit examples
    # already try every field of a line)
    ("POST", "/api/aca/v1/positions/bulk"): 10,
    # the back office's upload is the same bulk pipeline (a batch print is a queued job now:
    # its request only searches)
    ("POST", "/api/bo/v1/ecs/{ec}/uploads"): 10,
}


def _document() -> dict[str, object]:
    """The document the test app serves, built here to name the tests at collection."""
    import tests.app  # noqa: F401  (registers the blueprints, and so the operations)
    from functions.http import OPERATIONS, WEBHOOKS
    from shared.platform.openapi import build

    return build(OPERATIONS, title="Centro Stella", version="1", webhooks=WEBHOOKS)


COLLECTED = operations(_document())


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    host = start_host(platform, env=host_env(consumers=True))
    built = World(platform, host)
    try:
        built.build()
        built.document = host.request("GET", "/api/openapi.json", key=None).json()
        yield built
    finally:
        built.close()
        host.stop()


def test_the_suite_covers_every_operation_the_host_serves(world: World) -> None:
    assert operations(world.document) == COLLECTED


@pytest.mark.parametrize(("method", "path"), COLLECTED, ids=[f"{m} {p}" for m, p in COLLECTED])
def test_hostile_input_is_refused_cleanly(world: World, method: str, path: str) -> None:
    examples = SLOW.get((method, path), EXAMPLES)
    report = Operation(world, world.document, method, path).run(examples)
    assert report.sent >= examples // 2
    assert report.failures == [], "\n".join(report.failures)


def test_no_accepted_request_left_a_crashing_message(world: World) -> None:
    """What the operations accepted was processed by the queue workers without a crash loop:
    nothing recorded as failed after exhausting its deliveries (the app records it at its
    SERVICEBUS_MAX_DELIVERY_COUNT, before the broker would dead-letter it)."""
    listed = world.host.request("GET", "/api/ops/failed-work?limit=500", key=ADMIN_KEY)
    assert listed.status_code == 200, listed.text
    crashed = [
        f"{item['queue']} {item['messageId']}: {item['ending']} {item['reason'][:300]}"
        for item in listed.json()["items"]
        if item["ending"] != "permanent"
    ]
    assert crashed == [], "\n".join(crashed)
