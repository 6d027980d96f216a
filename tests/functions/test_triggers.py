"""Queue and timer triggers bind their settings by name, and the queue a trigger binds is the
queue its work is told it came from."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessage

from functions.queue import CONNECTION, queue_trigger
from functions.root import use_root
from local.devhost import timer_schedule
from local.settings_doc import example_values
from shared.platform.clock import SystemClock, use_clock
from shared.platform.errors import RescheduleLater
from shared.platform.queue_work import Delivery
from tests.app import app
from tests.functions.fakes import FakeRoot, functions

# Every deployed queue and timer function, and the setting its trigger names.
BOUND = {
    "cashback_score": ("serviceBusTrigger", "%CASHBACK_TRANSACTIONS_QUEUE%"),
    "cashback_iban_check": ("serviceBusTrigger", "%IBAN_CHECK_QUEUE%"),
    "cashback_wallet_events": ("serviceBusTrigger", "%WALLET_EVENTS_QUEUE%"),
    "cashback_file_events": ("serviceBusTrigger", "%CASHBACK_FILES_QUEUE%"),
    "notices_bulk_chunk": ("serviceBusTrigger", "%NOTICES_QUEUE%"),
    "push_queue": ("serviceBusTrigger", "%PUSH_QUEUE%"),
    "standin_receipts": ("serviceBusTrigger", "%STANDIN_RECEIPTS_QUEUE%"),
    "payments_notices_index": ("serviceBusTrigger", "%PAYMENTS_NOTICES_QUEUE%"),
    "journal_notice_events": ("serviceBusTrigger", "%JOURNAL_QUEUE%"),
    "backoffice_positions_index": ("serviceBusTrigger", "%BACKOFFICE_POSITIONS_QUEUE%"),
    "backoffice_print_jobs": ("serviceBusTrigger", "%BACKOFFICE_PRINT_QUEUE%"),
    "sweep_outboxes": ("timerTrigger", "%OUTBOX_SWEEP_SCHEDULE%"),
    "notices_expire": ("timerTrigger", "%NOTICES_EXPIRE_SCHEDULE%"),
    "cashback_rank": ("timerTrigger", "%CASHBACK_RANK_SCHEDULE%"),
    "cashback_payouts": ("timerTrigger", "%CASHBACK_PAYOUTS_SCHEDULE%"),
    "cashback_hpan_list": ("timerTrigger", "%CASHBACK_HPAN_LIST_SCHEDULE%"),
    "standin_evaluate": ("timerTrigger", "%STANDIN_EVALUATE_SCHEDULE%"),
    "payments_reconcile": ("timerTrigger", "%PAYMENTS_RECONCILE_SCHEDULE%"),
}


@pytest.fixture
def root() -> Iterator[FakeRoot]:
    fake = FakeRoot()
    use_root(fake)
    use_clock(fake.clock)
    yield fake
    use_root(None)
    use_clock(SystemClock())


def deployed_triggers() -> dict[str, dict[str, Any]]:
    """Queue and timer triggers of the app, without the test-only functions of tests/app.py."""
    found = {}
    for name, fn in functions(app).items():
        binding = fn.get_trigger().get_dict_repr()
        if binding["type"] != "httpTrigger" and not name.startswith("test_"):
            found[name] = binding
    return found


def message(body: bytes = b"{}", **properties: Any) -> ServiceBusMessage:
    return ServiceBusMessage(
        body=body,
        message_id="m-1",
        delivery_count=1,
        application_properties=properties,
        user_properties=properties,
    )


def test_every_queue_and_timer_trigger_names_its_setting() -> None:
    triggers = deployed_triggers()
    named = {
        name: (t["type"], t.get("queueName") or t.get("schedule")) for name, t in triggers.items()
    }
    assert named == BOUND
    for name, binding in triggers.items():
        if binding["type"] == "serviceBusTrigger":
            assert (binding["name"], binding["connection"]) == ("msg", CONNECTION), name
        else:
            assert binding["name"] == "timer", name


def test_the_dev_host_reads_every_schedule_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in example_values().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CASHBACK_PAYOUTS_SCHEDULE", "0 45 3 * * *")
    schedules = {
        name: timer_schedule(binding)
        for name, binding in deployed_triggers().items()
        if binding["type"] == "timerTrigger"
    }
    assert schedules == {
        "sweep_outboxes": "*/30 * * * * *",
        "notices_expire": "0 */5 * * * *",
        "cashback_rank": "0 0 * * * *",
        "cashback_payouts": "0 45 3 * * *",
        "cashback_hpan_list": "0 0 1 * * *",
        "standin_evaluate": "0 */5 * * * *",
        "payments_reconcile": "0 * * * * *",
    }


@pytest.mark.parametrize(("value", "problem"), [(None, "not set"), ("0 0 * * *", "six")])
def test_the_dev_host_refuses_a_schedule_unset_or_not_six_fields(
    monkeypatch: pytest.MonkeyPatch, value: str | None, problem: str
) -> None:
    if value is None:
        monkeypatch.delenv("CASHBACK_RANK_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("CASHBACK_RANK_SCHEDULE", value)
    with pytest.raises(SystemExit, match=problem):
        timer_schedule({"schedule": "%CASHBACK_RANK_SCHEDULE%"})


async def test_the_work_gets_the_queue_its_trigger_binds(root: FakeRoot) -> None:
    bp = func.Blueprint()
    seen: list[Delivery] = []

    @queue_trigger(bp, "IBAN_CHECK_QUEUE")
    async def probe(delivery: Delivery) -> None:
        """Records what it got."""
        seen.append(delivery)

    probes = func.FunctionApp()
    probes.register_functions(bp)
    [fn] = probes.get_functions()
    assert fn.get_function_name() == "probe"
    assert json.loads(fn.get_function_json())["bindings"] == [
        {
            "type": "serviceBusTrigger",
            "direction": "IN",
            "name": "msg",
            "queueName": "%IBAN_CHECK_QUEUE%",
            "connection": CONNECTION,
        }
    ]
    user = fn.get_user_function()
    # What the Python worker checks against the bindings: the parameters and their types.
    assert typing.get_type_hints(user) == {"msg": func.ServiceBusMessage, "return": type(None)}
    assert user.__doc__ == "Records what it got."

    await user(message(b'{"x": 1}'))
    assert [(d.queue, d.body) for d in seen] == [(root.settings.iban_check_queue, b'{"x": 1}')]


async def test_a_queue_with_its_own_attempts_setting_reschedules_past_the_default(
    root: FakeRoot,
) -> None:
    assert root.settings.reschedule_max_attempts < 4 <= root.settings.standin_receipt_max_attempts
    bp = func.Blueprint()

    async def own_limit(delivery: Delivery) -> None:
        raise RescheduleLater("the station is down")

    async def default_limit(delivery: Delivery) -> None:
        raise RescheduleLater("the station is down")

    queue_trigger(bp, "STANDIN_RECEIPTS_QUEUE", max_attempts="STANDIN_RECEIPT_MAX_ATTEMPTS")(
        own_limit
    )
    queue_trigger(bp, "NOTICES_QUEUE")(default_limit)
    probes = func.FunctionApp()
    probes.register_functions(bp)
    users = {fn.get_function_name(): fn.get_user_function() for fn in probes.get_functions()}
    own, default = users["own_limit"], users["default_limit"]

    await own(message(attempt=3))
    await default(message(attempt=3))
    assert [queue for queue, _ in root.sender.sent] == [root.settings.standin_receipts_queue]
    assert [item.queue for item in root.failed_work.items.values()] == [root.settings.notices_queue]


def test_a_trigger_naming_no_setting_fails_at_registration() -> None:
    with pytest.raises(KeyError, match="IBAN_CHECKS_QUEUE"):
        queue_trigger(func.Blueprint(), "IBAN_CHECKS_QUEUE")
    with pytest.raises(KeyError, match="STANDIN_RECEIPT_ATTEMPTS"):
        queue_trigger(func.Blueprint(), "IBAN_CHECK_QUEUE", max_attempts="STANDIN_RECEIPT_ATTEMPTS")


# Who calls each kind of route, and the Functions key it needs: machines that hold their own
# credential (a party key, a PSP's signature) never get a key of ours.
AUTH_LEVEL = {
    "anonymous": "ANONYMOUS",
    "party": "ANONYMOUS",
    "aca": "ANONYMOUS",
    "psp": "ANONYMOUS",
    "citizen": "FUNCTION",
    "sender": "FUNCTION",
    "function": "FUNCTION",
    "admin": "ADMIN",
    "backoffice": "ANONYMOUS",
}
MACHINE_ROUTES = {
    "wallet_notification": "psp",
    "aca_create_position": "aca",
    "aca_read_position": "aca",
    "aca_bulk_upload": "aca",
    "aca_bulk_report": "aca",
    "cashback_transactions": "party",
    "cashback_tokens": "party",
    "standin_verify": "party",
    "standin_activate": "party",
    "standin_outcome": "party",
    "post_push_notifications": "sender",
}


def test_each_http_function_asks_the_functions_key_its_callers_hold() -> None:
    from functions.http import OPERATIONS

    levels = {
        name: str(fn.get_trigger().get_dict_repr()["authLevel"]).upper()
        for name, fn in functions(app).items()
        if fn.get_trigger().get_dict_repr()["type"] == "httpTrigger"
    }
    security = {op.name: op.security for op in OPERATIONS}
    for name, kind in MACHINE_ROUTES.items():
        assert security[name] == kind, name
    for name, kind in security.items():
        assert levels[name] == AUTH_LEVEL[kind], (name, kind, levels[name])
