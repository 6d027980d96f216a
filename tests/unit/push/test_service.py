"""Push use cases with in-memory ports: what is enqueued, and how changes and notifications are
applied (stale changes skipped, races resolved to the newest change)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shared.parties.models import Party
from shared.platform.errors import (
    ConfigurationError,
    DependencyError,
    Invalid,
    PermanentError,
    TooManyRequests,
    TransientError,
)
from shared.platform.queue_work import Delivery
from shared.push.hubs import installation_id
from shared.push.models import (
    CreateOrUpdateInstallation,
    DeleteInstallation,
    HubInstallation,
    InstallationIn,
    NotificationIn,
    Notify,
)
from shared.push.service import PushRequests, PushWorker
from shared.push.store import InstallationState
from tests.fakes.platform import MemorySender
from tests.fakes.push import MemoryInstallationStates, MemorySenderUsage
from tests.unit.push.factories import FakeHubs, device_token, fiscal_code

T0 = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)
CF = fiscal_code(11)
IID = installation_id(CF)


def sender_party(
    party_id: str = "INPS", *, requests: int = 1000, recipients: int = 100_000
) -> Party:
    return Party.model_validate(
        {
            "partyId": party_id,
            "name": f"{party_id} (a public service)",
            "role": "sender",
            "sendLimits": {"requestsPerMinute": requests, "recipientsPerMinute": recipients},
            "createdAt": T0,
            "updatedAt": T0,
        }
    )


SENDER = sender_party()


def push_requests(sender: MemorySender, usage: MemorySenderUsage | None = None) -> PushRequests:
    return PushRequests(sender, "push", usage or MemorySenderUsage())


def delivery(message: Notify | CreateOrUpdateInstallation | DeleteInstallation) -> Delivery:
    return Delivery("push", "m-1", message.model_dump_json(by_alias=True).encode(), 1)


def put(
    at: datetime, token: str = device_token(1), platform: str = "APNS"
) -> CreateOrUpdateInstallation:
    return CreateOrUpdateInstallation(
        installation_id=IID, accepted_at=at, platform=platform, push_channel=token
    )


def delete(at: datetime) -> DeleteInstallation:
    return DeleteInstallation(installation_id=IID, accepted_at=at)


def notify(title: str = "t") -> Notify:
    return Notify(
        installation_id=IID,
        accepted_at=T0,
        tracking_id="tr",
        title=title,
        body="b",
        data={"k": "v"},
    )


# ---------------------------------------------------------------- HTTP side
async def test_register_enqueues_the_change_with_its_accepted_time() -> None:
    sender = MemorySender()
    accepted = await push_requests(sender).register(
        CF.lower(), InstallationIn(platform="FCMV1", push_channel=device_token(2)), now=T0
    )
    assert accepted.installation_id == IID
    [(queue, outgoing)] = sender.sent
    assert queue == "push"
    body = json.loads(outgoing.body)
    assert body == {
        "kind": "CreateOrUpdateInstallation",
        "installationId": IID,
        "acceptedAt": "2020-12-08T09:00:00Z",
        "platform": "FCMV1",
        "pushChannel": device_token(2),
    }
    assert outgoing.properties == {"kind": "CreateOrUpdateInstallation"}


async def test_unregister_enqueues_a_delete() -> None:
    sender = MemorySender()
    await push_requests(sender).unregister(CF, now=T0)
    assert json.loads(sender.sent[0][1].body)["kind"] == "DeleteInstallation"


async def test_notify_enqueues_one_message_per_recipient_with_business_ids() -> None:
    sender = MemorySender()
    requests = push_requests(sender)
    codes = [fiscal_code(n) for n in range(1000)]
    request = NotificationIn.model_validate(
        {"fiscalCodes": codes, "title": "t", "body": "b", "notificationId": "period-2021-1-closed"}
    )
    accepted = await requests.notify(SENDER, request, now=T0)
    assert accepted.recipients == 1000
    assert accepted.tracking_id == "period-2021-1-closed"
    ids = [outgoing.message_id for _, outgoing in sender.sent]
    assert len(set(ids)) == 1000
    assert {json.loads(o.body)["installationId"] for _, o in sender.sent} == {
        installation_id(code) for code in codes
    }
    again = await requests.notify(SENDER, request, now=T0 + timedelta(seconds=5))
    assert again.tracking_id == accepted.tracking_id
    assert [o.message_id for _, o in sender.sent[1000:]] == ids  # duplicates the broker drops


async def test_without_a_notification_id_each_request_is_tracked_apart() -> None:
    sender = MemorySender()
    requests = push_requests(sender)
    request = NotificationIn.model_validate({"fiscalCode": CF, "title": "t", "body": "b"})
    first = await requests.notify(SENDER, request, now=T0)
    second = await requests.notify(SENDER, request, now=T0)
    assert first.tracking_id != second.tracking_id
    assert sender.sent[0][1].message_id != sender.sent[1][1].message_id


async def test_every_message_names_its_sender_and_senders_never_share_message_ids() -> None:
    sender = MemorySender()
    requests = push_requests(sender)
    request = NotificationIn.model_validate(
        {"fiscalCode": CF, "title": "t", "body": "b", "notificationId": "n-1"}
    )
    await requests.notify(SENDER, request, now=T0)
    await requests.notify(sender_party("AGENZIA-ENTRATE"), request, now=T0)
    first, second = (json.loads(o.body) for _, o in sender.sent)
    assert (first["sender"], second["sender"]) == ("INPS", "AGENZIA-ENTRATE")
    # the same notificationId from another sender is not a duplicate the broker would drop
    assert sender.sent[0][1].message_id != sender.sent[1][1].message_id


async def test_past_the_requests_per_minute_a_sender_gets_429_until_the_next_minute() -> None:
    sender, usage = MemorySender(), MemorySenderUsage()
    requests = push_requests(sender, usage)
    party = sender_party(requests=3)
    request = NotificationIn.model_validate({"fiscalCode": CF, "title": "t", "body": "b"})
    at = T0 + timedelta(seconds=45.5)
    for _ in range(3):
        await requests.notify(party, request, now=at)
    with pytest.raises(TooManyRequests) as refused:
        await requests.notify(party, request, now=at)
    assert refused.value.status == 429
    assert refused.value.headers == {"Retry-After": "15"}  # 14.5 s to the next minute
    assert len(sender.sent) == 3
    # another sender has its own budget
    await requests.notify(sender_party("OTHER", requests=3), request, now=at)
    await requests.notify(party, request, now=T0 + timedelta(minutes=1))
    assert len(sender.sent) == 5


async def test_recipients_per_minute_add_up_over_the_requests() -> None:
    sender = MemorySender()
    requests = push_requests(sender)
    party = sender_party(recipients=5)
    three = NotificationIn.model_validate(
        {"fiscalCodes": [fiscal_code(n) for n in range(3)], "title": "t", "body": "b"}
    )
    await requests.notify(party, three, now=T0)
    with pytest.raises(TooManyRequests):
        await requests.notify(party, three, now=T0)
    two = NotificationIn.model_validate(
        {"fiscalCodes": [fiscal_code(n) for n in range(2)], "title": "t", "body": "b"}
    )
    await requests.notify(party, two, now=T0)
    assert len(sender.sent) == 5


async def test_a_request_larger_than_a_minutes_budget_is_422_not_429() -> None:
    sender, usage = MemorySender(), MemorySenderUsage()
    request = NotificationIn.model_validate(
        {"fiscalCodes": [fiscal_code(n) for n in range(3)], "title": "t", "body": "b"}
    )
    with pytest.raises(Invalid) as refused:
        await push_requests(sender, usage).notify(sender_party(recipients=2), request, now=T0)
    assert refused.value.status == 422
    assert sender.sent == []
    assert usage.counts == {}


async def test_a_request_the_queue_refused_is_not_counted() -> None:
    sender, usage = MemorySender(), MemorySenderUsage()
    requests = push_requests(sender, usage)
    party = sender_party(requests=1)
    request = NotificationIn.model_validate({"fiscalCode": CF, "title": "t", "body": "b"})
    sender.fail_with = DependencyError("servicebus", "down")
    with pytest.raises(DependencyError):
        await requests.notify(party, request, now=T0)
    sender.fail_with = None
    await requests.notify(party, request, now=T0)  # the failed one left the budget whole
    assert len(sender.sent) == 1


async def test_only_a_sender_with_limits_may_send() -> None:
    party = Party.model_validate(
        {"partyId": "77777777777", "name": "EC", "role": "ec", "createdAt": T0, "updatedAt": T0}
    )
    request = NotificationIn.model_validate({"fiscalCode": CF, "title": "t", "body": "b"})
    sender = MemorySender()
    with pytest.raises(ConfigurationError):
        await push_requests(sender).notify(party, request, now=T0)
    assert sender.sent == []


# ---------------------------------------------------------------- queue side
@pytest.fixture
def hubs() -> FakeHubs:
    return FakeHubs()


@pytest.fixture
def states() -> MemoryInstallationStates:
    return MemoryInstallationStates()


@pytest.fixture
def worker(hubs: FakeHubs, states: MemoryInstallationStates) -> PushWorker:
    return PushWorker(hubs, states)


async def test_a_registered_device_gets_its_platform_payload(
    worker: PushWorker, hubs: FakeHubs
) -> None:
    await worker.handle(delivery(put(T0, platform="FCMV1")))
    assert hubs.installations[IID].platform == "FCMV1"
    await worker.handle(delivery(notify("hello")))
    [(installation, platform, native)] = hubs.sends
    assert (installation, platform, native.format) == (IID, "FCMV1", "fcmv1")
    assert json.loads(native.body)["message"]["notification"]["title"] == "hello"


async def test_a_citizen_without_a_device_is_skipped(worker: PushWorker, hubs: FakeHubs) -> None:
    await worker.handle(delivery(notify()))
    await worker.handle(delivery(delete(T0)))
    await worker.handle(delivery(notify()))
    assert hubs.sends == []


async def test_a_redelivered_put_never_resurrects_a_deleted_device(
    worker: PushWorker, hubs: FakeHubs, states: MemoryInstallationStates
) -> None:
    old_put = put(T0)
    await worker.handle(delivery(old_put))
    await worker.handle(delivery(delete(T0 + timedelta(seconds=1))))
    assert IID not in hubs.installations
    calls = len(hubs.calls)
    await worker.handle(delivery(old_put))  # the broker redelivers the PUT
    assert IID not in hubs.installations
    assert len(hubs.calls) == calls  # skipped: the hub was not even called
    stored = states.items[IID].state
    assert stored.deleted
    assert stored.applied_at == T0 + timedelta(seconds=1)
    assert stored.push_channel is None


async def test_a_redelivery_of_the_applied_change_is_applied_again(
    worker: PushWorker, hubs: FakeHubs
) -> None:
    change = put(T0)
    await worker.handle(delivery(change))
    hubs.installations.clear()  # the hub lost it (or the first call failed after the write)
    await worker.handle(delivery(change))
    assert IID in hubs.installations


async def test_a_newer_change_claimed_meanwhile_wins_whatever_the_call_order(
    states: MemoryInstallationStates,
) -> None:
    newer = FakeHubs()
    newer_worker = PushWorker(newer, states)

    class SlowHubs(FakeHubs):
        """Its PUT lands after a newer DELETE was claimed and applied."""

        async def create_or_update(self, installation: HubInstallation) -> None:
            await newer_worker.handle(delivery(delete(T0 + timedelta(seconds=1))))
            await super().create_or_update(installation)

    slow = SlowHubs()
    await PushWorker(slow, states).handle(delivery(put(T0)))
    assert slow.calls == [f"put {IID}", f"delete {IID}"]  # brought to the newer state
    assert states.items[IID].state.deleted


class RacedStates(MemoryInstallationStates):
    """A concurrent writer wins the first ``races`` writes (it claimed the same change)."""

    def __init__(self, races: int) -> None:
        super().__init__()
        self.races = races

    async def put(self, state: InstallationState, *, etag: str | None) -> str:
        if self.races:
            self.races -= 1
            await super().put(state.model_copy(update={"applied_at": T0}), etag=etag)
        return await super().put(state, etag=etag)


async def test_a_change_that_lost_the_write_looks_again_and_then_gives_up() -> None:
    states, hubs = RacedStates(races=1), FakeHubs()
    await PushWorker(hubs, states).handle(delivery(put(T0 + timedelta(seconds=1))))
    assert states.items[IID].state.applied_at == T0 + timedelta(seconds=1)
    assert IID in hubs.installations
    always = RacedStates(races=100)
    with pytest.raises(TransientError, match="kept changing"):
        await PushWorker(FakeHubs(), always).handle(delivery(put(T0 + timedelta(seconds=1))))


async def test_a_message_that_is_not_a_push_message_is_permanent(worker: PushWorker) -> None:
    with pytest.raises(PermanentError, match="not a push message"):
        await worker.handle(Delivery("push", "m", b'{"kind": "Explode"}', 1))
    with pytest.raises(PermanentError):
        await worker.handle(Delivery("push", "m", b"not json", 1))


@pytest.mark.parametrize(
    "accepted_at",
    ["2026-12-08T09:00:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z", 1765184400],
)
async def test_a_queued_time_without_offset_or_out_of_range_is_permanent(
    worker: PushWorker, accepted_at: object
) -> None:
    message = {
        "kind": "CreateOrUpdateInstallation",
        "installationId": IID,
        "acceptedAt": accepted_at,
        "platform": "APNS",
        "pushChannel": device_token(1),
    }
    with pytest.raises(PermanentError, match="acceptedAt"):
        await worker.handle(Delivery("push", "m", json.dumps(message).encode(), 1))
