"""The app the tests load: the real blueprints plus test-only functions that prove the host.

Nothing here is deployed: ``function_app.py`` never imports it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable
from functools import cached_property

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from function_app import app
from functions.http import Call, endpoint
from functions.queue import handle
from functions.root import Root, get_root, use_root
from shared.parties.models import Party
from shared.platform.clients import get_clients
from shared.platform.clock import current_clock
from shared.platform.collector import pace_collector
from shared.platform.config import Settings
from shared.platform.errors import PermanentError, RescheduleLater, TransientError
from shared.platform.messaging import Outgoing
from shared.platform.queue_work import Delivery
from shared.push.client import PushDispatcher, build_dispatcher
from shared.push.settings import push_hubs

bp = func.Blueprint()


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=100)
    amount: StrictInt = Field(ge=0, le=10**9)


class Who(BaseModel):
    who: str


@endpoint(bp, "tests/anonymous", "GET", auth="anonymous", returns=Who)
async def test_anonymous(call: Call[BaseModel]) -> Who:
    return Who(who="anyone")


@endpoint(bp, "tests/function", "GET", auth="function", returns=Who)
async def test_function(call: Call[BaseModel]) -> Who:
    return Who(who="a service")


@endpoint(bp, "tests/admin", "GET", auth="admin", returns=Who)
async def test_admin(call: Call[BaseModel]) -> Who:
    return Who(who="an operator")


@endpoint(bp, "tests/citizen", "GET", auth="citizen", returns=Who)
async def test_citizen(call: Call[BaseModel]) -> Who:
    return Who(who=call.citizen.fiscal_code)


@endpoint(bp, "tests/creditor", "GET", auth="party", roles=("ec",), returns=Who)
async def test_creditor(call: Call[BaseModel]) -> Who:
    return Who(who=call.the_party.party_id)


@endpoint(bp, "tests/echo", "POST", auth="function", body=Echo, returns=Echo, max_body=1024)
async def test_echo(call: Call[Echo]) -> Echo:
    return call.body


@endpoint(bp, "tests/point-read/{partyId}", "GET", auth="function", returns=Party, errors=(404,))
async def test_point_read(call: Call[BaseModel]) -> Party:
    """One Cosmos point read (fault tests and the host benchmark)."""
    return await call.root.parties().get(call.param("partyId"))


class Published(BaseModel):
    id: str
    published: bool


@endpoint(bp, "tests/outbox", "POST", auth="function", returns=Published, status=201)
async def test_outbox(call: Call[BaseModel]) -> Published:
    """A state change with one event in its outbox (fault tests of the outbox)."""
    from shared.platform.cosmos import guarded
    from shared.platform.outbox import Event, add_events

    root = call.root
    doc_id = str(uuid.uuid4())
    event = Event.new("TestHappened", _out_queue(), {"docId": doc_id}, now=call.now)
    document = add_events({"id": doc_id, "pk": "outbox-test"}, [event])
    container = root.clients.container(root.settings.wallet_container)
    async with guarded(root.settings.cosmos_timeout_seconds):
        written = await container.create_item(document)
    published = await root.outbox("wallet_container").publish(written)
    return Published(id=doc_id, published=published)


async def _forward(delivery: Delivery, note: str) -> None:
    root = get_root()
    payload = {
        "note": note,
        "messageId": delivery.message_id,
        "deliveryCount": delivery.delivery_count,
        "attempt": delivery.attempt,
        "properties": delivery.properties,
        "body": delivery.body.decode(),
        "enqueuedAt": delivery.enqueued_at.isoformat() if delivery.enqueued_at else None,
        "now": root.clock.now().isoformat(),
    }
    message_id = f"out:{note}:{delivery.message_id}:{delivery.delivery_count}"
    await root.sender.send(_out_queue(), [Outgoing.json(message_id, payload)])


def _out_queue() -> str:
    return os.environ["TEST_QUEUE_OUT"]


def _queue(which: str) -> Callable[[Settings], str]:
    return lambda _settings: os.environ[f"TEST_QUEUE_{which}"]


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TEST_QUEUE_OK%", connection="ServiceBusConnection"
)
async def test_queue_ok(msg: func.ServiceBusMessage) -> None:
    async def work(delivery: Delivery) -> None:
        await _forward(delivery, "ok")

    await handle(msg, _queue("OK"), work)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TEST_QUEUE_TRANSIENT%", connection="ServiceBusConnection"
)
async def test_queue_transient(msg: func.ServiceBusMessage) -> None:
    async def work(delivery: Delivery) -> None:
        await _forward(delivery, "transient")  # so a test sees every delivery count
        raise TransientError(f"still failing at delivery {delivery.delivery_count}")

    await handle(msg, _queue("TRANSIENT"), work)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TEST_QUEUE_RESCHEDULE%", connection="ServiceBusConnection"
)
async def test_queue_reschedule(msg: func.ServiceBusMessage) -> None:
    async def work(delivery: Delivery) -> None:
        wanted = json.loads(delivery.body)["succeedAtAttempt"]
        if delivery.attempt < wanted:
            raise RescheduleLater("the creditor institution is down")
        await _forward(delivery, "rescheduled")

    await handle(msg, _queue("RESCHEDULE"), work)


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TEST_QUEUE_PERMANENT%", connection="ServiceBusConnection"
)
async def test_queue_permanent(msg: func.ServiceBusMessage) -> None:
    async def work(delivery: Delivery) -> None:
        raise PermanentError("the notice does not exist")

    await handle(msg, _queue("PERMANENT"), work)


_in_flight = 0
_peak = 0


@bp.service_bus_queue_trigger(
    arg_name="msg", queue_name="%TEST_QUEUE_SLOW%", connection="ServiceBusConnection"
)
async def test_queue_slow(msg: func.ServiceBusMessage) -> None:
    """Takes a while, and reports how many invocations ran at once (host concurrency)."""
    global _in_flight, _peak
    _in_flight += 1
    _peak = max(_peak, _in_flight)
    try:
        await asyncio.sleep(0.3)
        root = get_root()
        await root.sender.send(
            _out_queue(), [Outgoing.json(f"slow:{msg.message_id}", {"note": "slow", "peak": _peak})]
        )
    finally:
        _in_flight -= 1


@bp.timer_trigger(arg_name="timer", schedule="0 0 3 * * *")
async def test_timer_nightly(timer: func.TimerRequest) -> None:
    root = get_root()
    payload = {"note": "timer", "pastDue": timer.past_due, "now": root.clock.now().isoformat()}
    await root.sender.send(
        os.environ["TEST_QUEUE_TIMER"],
        [Outgoing.json(f"timer:{root.clock.now().isoformat()}", payload)],
    )


app.register_functions(bp)


SESSION_PER_CALL = "TEST_PUSH_SESSION_PER_CALL"
"""Set to 1 (tests/netns, bench/outage.py only): push as in December 2020, a new session per
call. The deployed app has no such setting: only this test app reads it."""


class SessionPerCallRoot(Root):
    """The app's root with the December 2020 push client, to reproduce the outage."""

    @cached_property
    def push_dispatcher(self) -> PushDispatcher:
        return build_dispatcher(
            self.settings, push_hubs(), self.clients.session, self.clock, session_per_call=True
        )


if os.environ.get(SESSION_PER_CALL) == "1":
    # The dev host installs its clock before it imports the app, so the root gets the dev clock.
    pace_collector()
    use_root(SessionPerCallRoot(get_clients(), current_clock()))
