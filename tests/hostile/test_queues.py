"""Every queue consumer under hostile messages: each ends, at its first delivery, as a success
or as failed work with a reason, never as an exception that the host would answer by
redelivering it (a crash loop); a message that must be refused is refused, and changes nothing.

The messages start as what the app itself produced: a dev host (its consumers disabled) runs the
producers through the API, and the suite takes their messages off the queues. Then, as the
Functions host would, it calls each deployed queue function with one message at a time, with
one thing broken (a field, a member, the whole body, an application property), on a composition
root over the same emulators whose failed-work store and sender are in memory, so that how each
message ended is known at once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from azure.functions.servicebus import ServiceBusMessage
from azure.servicebus import ServiceBusClient
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from functions.root import Root, use_root
from local.devclock import DevClock
from local.pgp import encrypt
from local.platform import DEMO_EC, Platform
from shared.backoffice.print_jobs import JobMessage
from shared.cashback.chunks import Chunk
from shared.cashback.file_intake import BlobCreated
from shared.cashback.models import IbanCheckRequest, WalletEvent
from shared.journal.events import JOURNAL_MESSAGE
from shared.notices.bulk_models import ChunkTask
from shared.notices.ec_index_service import PositionEvent
from shared.payments.index import NoticeEvent
from shared.platform.clients import Clients
from shared.platform.config import Settings
from shared.platform.failed_work import failed_work_id
from shared.platform.resources import QUEUES
from shared.push.client import PushDispatcher, build_dispatcher
from shared.push.models import PUSH_MESSAGE
from shared.push.settings import push_hubs
from shared.standin.models import NoticeRef, OutcomeIn
from tests.app import app
from tests.conftest import start_host
from tests.fakes.platform import MemoryFailedWork, MemorySender
from tests.functions.fakes import functions
from tests.hostile import values
from tests.hostile.schema import Field, Oracle, Schemas, drop, fields, put
from tests.hostile.world import CF, World, host_env

EXAMPLES = 60
"""Messages per consumer."""
PROPERTIES = ("attempt", "originalMessageId", "kind", "type")


def _schema_of(model: type[BaseModel] | TypeAdapter[Any]) -> dict[str, Any]:
    if isinstance(model, TypeAdapter):
        return model.json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    return model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    """An outbox event whose consumer reads only its ``data``."""
    return {"type": "object", "properties": {"data": data}, "required": ["data"]}


_RECEIPT = {
    "type": "object",
    "properties": {
        **NoticeRef.model_json_schema(by_alias=True)["properties"],
        "receiptId": OutcomeIn.model_json_schema(by_alias=True)["properties"]["receiptId"],
    },
    "required": ["paFiscalCode", "noticeNumber", "receiptId"],
}

# What each consumer reads from a message body (its own model), by its queue's setting.
MESSAGES: dict[str, dict[str, Any]] = {
    "WALLET_EVENTS_QUEUE": _schema_of(WalletEvent),
    "CASHBACK_FILES_QUEUE": _schema_of(BlobCreated),
    "CASHBACK_TRANSACTIONS_QUEUE": _schema_of(Chunk),
    "IBAN_CHECK_QUEUE": _envelope(_schema_of(IbanCheckRequest)),
    "NOTICES_QUEUE": _schema_of(ChunkTask),
    "STANDIN_RECEIPTS_QUEUE": _envelope(_RECEIPT),
    "PUSH_QUEUE": _schema_of(PUSH_MESSAGE),
    "PAYMENTS_NOTICES_QUEUE": _schema_of(NoticeEvent),
    "JOURNAL_QUEUE": _schema_of(JOURNAL_MESSAGE),
    "BACKOFFICE_POSITIONS_QUEUE": _schema_of(PositionEvent),
    "BACKOFFICE_PRINT_QUEUE": _schema_of(JobMessage),
}
# The containers a consumer writes, which a refused message must leave alone.
WRITES = {
    "WALLET_EVENTS_QUEUE": ("cashback_container",),
    "CASHBACK_FILES_QUEUE": ("cashback_container",),
    "CASHBACK_TRANSACTIONS_QUEUE": ("cashback_container",),
    "IBAN_CHECK_QUEUE": ("cashback_container",),
    "NOTICES_QUEUE": ("notices_container", "notice_bulks_container"),
    "STANDIN_RECEIPTS_QUEUE": ("standin_container", "notices_container"),
    "PUSH_QUEUE": ("push_installations_container",),
    "PAYMENTS_NOTICES_QUEUE": ("payments_container",),
    "JOURNAL_QUEUE": ("journal_container",),
    "BACKOFFICE_POSITIONS_QUEUE": ("notices_container",),
    # blobs only (the job's state and PDF, named by the job's id): no Cosmos container
    "BACKOFFICE_PRINT_QUEUE": (),
}


def oracle_for(setting: str) -> Oracle:
    schema = copy_of(MESSAGES[setting])
    components = {"schemas": {**schema.pop("$defs", {}), "Message": schema}}
    return Oracle(Schemas(components), "Message")


def copy_of(schema: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(schema))


def consumers() -> dict[str, tuple[str, Any]]:
    """Queue setting -> (function name, the function the host calls) of every deployed queue
    function."""
    found = {}
    for name, fn in functions(app).items():
        binding = fn.get_trigger().get_dict_repr()
        if binding["type"] == "serviceBusTrigger" and not name.startswith("test_"):
            found[binding["queueName"].strip("%")] = (name, fn.get_user_function())
    return found


@dataclass(frozen=True)
class Base:
    body: bytes
    properties: dict[str, Any]


class HostileRoot(Root):
    """The real root over the emulators, with failed work and the sender in memory."""

    def __init__(self, clients: Clients, clock: DevClock, env: dict[str, str]) -> None:
        super().__init__(clients, clock)
        self.env = env

    @cached_property
    def sender(self) -> MemorySender:  # type: ignore[override]
        return MemorySender()

    @cached_property
    def failed_work(self) -> MemoryFailedWork:  # type: ignore[override]
        return MemoryFailedWork()

    @cached_property
    def push_dispatcher(self) -> PushDispatcher:
        return build_dispatcher(
            self.settings, push_hubs(self.env), self.clients.session, self.clock
        )


def receive_all(connection: str, queue: str, *, timeout: float = 10.0) -> list[Base]:
    """Take every message off ``queue`` (raw body and application properties)."""
    found: list[Base] = []
    deadline = time.monotonic() + timeout
    with (
        ServiceBusClient.from_connection_string(connection) as client,
        client.get_queue_receiver(queue) as receiver,
    ):
        while time.monotonic() < deadline:
            batch = receiver.receive_messages(max_message_count=50, max_wait_time=1)
            if not batch and found:
                break
            for message in batch:
                properties = {
                    (k.decode() if isinstance(k, bytes) else k): (
                        v.decode() if isinstance(v, bytes) else v
                    )
                    for k, v in (message.application_properties or {}).items()
                }
                found.append(Base(b"".join(message.body), properties))
                receiver.complete_message(message)
    return found


def produce(world: World) -> None:
    """The producers the world's build did not run already."""
    now = world.now().isoformat()
    world.json_call(
        "POST",
        "/api/v1/cashback/transactions",
        {"functionKey", "subscriptionKey"},
        {
            "transactions": [
                {
                    "acquirerId": "DEMOACQ",
                    "acquirerCode": "12345",
                    "idTrxAcquirer": f"hostile-{uuid.uuid4().hex[:12]}",
                    "hpan": world.ids["hpan"],
                    "operationType": "00",
                    "trxDate": now,
                    "amount": 1_500,
                    "merchantId": "M-1",
                    "terminalId": "T-1",
                    "circuitType": "01",
                }
            ]
        },
    )
    # an acquirer's file by HTTPS: its blob-created event goes to the files queue
    acquirer = {"Ocp-Apim-Subscription-Key": world.env["DEV_PARTY_KEY_ACQUIRER"]}
    public_key = world.host.request(
        "GET", "/api/v1/cashback/acquirers/pgp-public-key", headers=acquirer, key=None
    )
    assert public_key.status_code == 200, public_key.text
    line = (
        f"99999;00;01;{world.ids['hpan']};{world.now().isoformat(timespec='milliseconds')};"
        "hostile-file-1;AUTH1;;1500;978;DEMOACQ;400000080205;80205005;40236010;5411;\n"
    )
    stamp = world.now().strftime("%Y%m%d.%H%M%S")
    name = f"CSTAR.99999.TRNLOG.{stamp}.{uuid.uuid4().int % 1000:03d}.csv.pgp"
    uploaded = world.host.request(
        "PUT",
        f"/api/v1/cashback/files/{name}",
        headers=acquirer,
        key=None,
        data=encrypt(public_key.json()["publicKey"], line.encode()),
    )
    assert uploaded.status_code == 202, uploaded.text
    # a fresh minute for the demo sender: the HTTP suite may have spent this minute's budget
    world.host.advance_clock(61)
    world.json_call(
        "POST",
        "/api/v1/push/notifications",
        {"functionKey", "subscriptionKey"},  # a public service of role sender
        {"fiscalCode": CF, "title": "Hostile", "body": "suite", "data": {"k": "v"}},
    )
    world.json_call("DELETE", "/api/v1/push/installations", {"functionKey", "citizenToken"})
    # the back office's sign-in, own write and upload: they travel on the journal's queue
    world.json_call("GET", "/api/bo/v1/me", {"signedIn"})
    bo = f"/api/bo/v1/ecs/{DEMO_EC}/positions/{world.ids['bo_nav']}"
    world.json_call("PUT", bo, {"signedIn"}, {**world.position("bo"), "amount": 7_400})
    upload = world.host.request(
        "POST",
        f"/api/bo/v1/ecs/{DEMO_EC}/uploads",
        key=None,
        headers={
            **world.credentials({"signedIn"}, "/api/bo/", None),
            "Content-Type": "application/x-ndjson",
            "X-File-Name": "hostile%20suite.ndjson",
        },
        data=json.dumps(world.position("bo")).encode() + b"\n",
    )
    assert upload.status_code == 202, upload.text
    world.json_call(
        "POST",
        "/api/standin/v1/outcome",
        {"functionKey", "subscriptionKey"},
        {
            "paymentToken": world.ids["payment_token"],
            "outcome": "OK",
            "pspId": "DEMOPSP",
            "receiptId": "hostile-suite-receipt",
            "paymentDateTime": now,
            "paymentMethod": "CP",
            "fee": 150,
        },
    )
    # a print job of the back office: the demo EC's positions index first (its consumer does
    # not run here), then a batch of the world's own position
    world.json_call("POST", f"/api/ops/bo-index/{DEMO_EC}/rebuild", {"adminKey"})
    world.json_call(
        "POST", f"/api/bo/v1/ecs/{DEMO_EC}/paper-notices?nav={world.ids['bo_nav']}", {"signedIn"}
    )


@pytest.fixture(scope="module")
def produced(platform: Platform) -> Iterator[tuple[World, dict[str, list[Base]]]]:
    host = start_host(platform, env=host_env(consumers=False))
    world = World(platform, host)
    try:
        world.build(consumers=False)
        produce(world)
        connection = world.env["ServiceBusConnection"]
        bases = {s: receive_all(connection, world.env[s]) for s in MESSAGES}
        yield world, bases
    finally:
        world.close()
        host.stop()


def test_every_deployed_consumer_is_covered() -> None:
    assert set(consumers()) == set(MESSAGES) == set(WRITES)


def test_a_hostile_host_reads_only_queues_of_its_own() -> None:
    # a queue the session shares holds every earlier test's messages, and each one would become
    # a base of the hostile messages (thousands of them: the suite ran for many minutes)
    env = host_env(consumers=False)
    for spec in QUEUES:
        setting = str(Settings.model_fields[spec.setting].validation_alias)
        assert env.get(setting, "").startswith("hostile-"), setting


@dataclass(frozen=True)
class Mutation:
    where: str  # field, drop, extra, body, property
    target: str
    value: Any
    label: str
    base: int
    field: Field | None = None
    key: str | None = None


def strategy(oracle: Oracle, bases: list[Base]) -> st.SearchStrategy[Mutation]:
    choices: list[st.SearchStrategy[Mutation]] = []
    for index, base in enumerate(bases):
        document = json.loads(base.body)
        targets = fields(oracle.schemas, {"$ref": "#/components/schemas/Message"}, document)
        present = [f for f in targets if f.present and f.path]
        objects = [f for f in targets if f.holds_members]

        def field_mutation(f: Field, index: int = index) -> st.SearchStrategy[Mutation]:
            return values.for_schema(f.kind).map(
                lambda pair: Mutation("field", f.name, pair[0], pair[1], index, f)
            )

        choices += [st.sampled_from(targets).flatmap(field_mutation)] * 6
        if present:
            choices.append(
                st.sampled_from(present).map(
                    lambda f, i=index: Mutation("drop", f.name, None, "removed", i, f)
                )
            )
        if objects:
            choices.append(
                st.tuples(
                    st.sampled_from(objects),
                    st.sampled_from(["x", "\x00", "\ud800"]),
                    values.anything(),
                ).map(
                    lambda t, i=index: Mutation(
                        "extra", f"{t[0].name}[{t[1]!r}]", t[2][0], t[2][1], i, t[0], t[1]
                    )
                )
            )
        choices.append(
            values.bodies().map(lambda pair, i=index: Mutation("body", "", pair[0], pair[1], i))
        )
        choices.append(
            st.tuples(
                st.sampled_from(PROPERTIES),
                st.one_of(values.numbers(), values.texts(), values.dates()),
            ).map(lambda t, i=index: Mutation("property", t[0], t[1][0], t[1][1], i))
        )
    return st.one_of(choices)


def explicit(oracle: Oracle, bases: list[Base]) -> list[Mutation]:
    """One value of each class for each field of each message, and for each property."""
    found: list[Mutation] = []
    for index, base in enumerate(bases):
        document = json.loads(base.body)
        for place in fields(oracle.schemas, {"$ref": "#/components/schemas/Message"}, document):
            found += [
                Mutation("field", place.name, value, label, index, place)
                for value, label in values.representatives(place.kind)
            ]
    for name in PROPERTIES:
        found += [
            Mutation("property", name, value, label, 0)
            for value, label in (("1e400", "'1e400'"), (float("inf"), "inf"), (-(2**70), "-2**70"))
        ]
    return found


def _property_value(value: Any) -> Any:
    """What an AMQP application property can carry: a number, a boolean or a text."""
    if isinstance(value, values.Raw):
        try:
            return float(value.text)
        except ValueError:
            return value.text
    if isinstance(value, int | float | str | bool):
        return value
    return json.dumps(value) if value is not None else ""


@pytest.mark.parametrize("setting", sorted(MESSAGES))
def test_a_hostile_message_ends_cleanly_at_its_first_delivery(
    platform: Platform, produced: tuple[World, dict[str, list[Base]]], setting: str
) -> None:
    world, bases = produced
    assert bases[setting], f"the producers put nothing on {setting}"
    name, function = consumers()[setting]
    queue = world.env[setting]
    oracle = oracle_for(setting)
    loop = asyncio.new_event_loop()
    clients = Clients(world.settings)
    root = HostileRoot(clients, DevClock(platform.clock_file), world.env)
    use_root(root)
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()
    sent = 0

    def fail(mutation: Mutation, problem: str) -> None:
        key = (mutation.where + mutation.target, problem.split(":")[0])
        if key not in seen:
            seen.add(key)
            failures.append(
                f"{name} | {mutation.where} {mutation.target}: {mutation.label} -> {problem}"
            )

    def check(mutation: Mutation) -> None:
        nonlocal sent
        base = bases[setting][mutation.base]
        document = json.loads(base.body)
        properties = dict(base.properties)
        must_refuse: str | None = None
        if mutation.where == "property":
            properties[mutation.target] = _property_value(mutation.value)
            body = base.body
        elif mutation.where == "body":
            body = mutation.value
            try:
                must_refuse = oracle.must_refuse(
                    json.loads(body, parse_constant=_refuse), None, None
                )
            except (ValueError, RecursionError):
                must_refuse = "not one JSON document"
        else:
            assert mutation.field is not None
            if mutation.where == "field":
                document = put(document, mutation.field.path, mutation.value)
            elif mutation.where == "drop":
                document = drop(document, mutation.field.path)
            else:
                assert mutation.key is not None
                document = put(document, (*mutation.field.path, mutation.key), mutation.value)
            body = values.encode(document)
            changed = mutation.field if mutation.where == "field" else None
            must_refuse = oracle.must_refuse(document, changed, mutation.value)
        message_id = f"hostile-{uuid.uuid4().hex}"
        message = ServiceBusMessage(
            body=body,
            message_id=message_id,
            delivery_count=1,
            application_properties=properties,
            user_properties=properties,
        )
        before = world.snapshot(WRITES[setting]) if must_refuse else None
        sent += 1
        try:
            loop.run_until_complete(asyncio.wait_for(function(message), timeout=60))
        except Exception as error:  # the host would abandon it: redelivered
            fail(mutation, f"raised {error!r}: redelivered instead of ending (a crash loop)")
            return
        ended = root.failed_work.items.get(failed_work_id(queue, message_id))
        if ended is not None:
            if ended.ending != "permanent" or not ended.reason.strip():
                fail(mutation, f"failed work {ended.ending} with reason {ended.reason!r}")
        elif must_refuse:
            fail(mutation, f"completed what must be refused ({must_refuse})")
        if before is not None and ended is not None:
            after = world.snapshot(WRITES[setting])
            if after != before:
                fail(mutation, "refused, yet it changed the state")

    test = given(mutation=strategy(oracle, bases[setting]))(check)
    for mutation in explicit(oracle, bases[setting]):
        test = example(mutation=mutation)(test)
    test = settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )(test)
    try:
        test()
    finally:
        use_root(None)
        loop.run_until_complete(clients.close())
        loop.close()
    assert sent >= EXAMPLES // 2
    assert failures == [], "\n".join(failures)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
