"""Citizens' topic preferences live in their installation's state and outlive device changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.push.hubs import installation_id
from shared.push.models import CreateOrUpdateInstallation, DeleteInstallation
from shared.push.preferences import Preferences, PushPreferences
from shared.push.service import PushWorker
from tests.fakes.push import MemoryInstallationStates
from tests.unit.push.factories import FakeHubs, device_token, fiscal_code

NOW = datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
CF = fiscal_code(7)


async def test_preferences_set_before_any_device_survive_its_registration() -> None:
    states = MemoryInstallationStates()
    preferences = PushPreferences(states)
    worker = PushWorker(FakeHubs(), states)
    assert await preferences.get(CF) == Preferences()  # every topic by default
    await preferences.put(CF, Preferences(new_notice=False))
    installation = installation_id(CF)
    await worker.apply(
        CreateOrUpdateInstallation(
            installation_id=installation,
            accepted_at=NOW,
            platform="FCMV1",
            push_channel=device_token(1),
        )
    )
    stored = states.items[installation].state
    assert stored.platform == "FCMV1"
    assert not stored.deleted
    assert await preferences.get(CF) == Preferences(new_notice=False, payment_received=True)
    await worker.apply(
        DeleteInstallation(installation_id=installation, accepted_at=NOW + timedelta(1))
    )
    assert states.items[installation].state.opted_out == ["newNotice"]


async def test_putting_preferences_keeps_the_device() -> None:
    states = MemoryInstallationStates()
    worker = PushWorker(FakeHubs(), states)
    installation = installation_id(CF)
    await worker.apply(
        CreateOrUpdateInstallation(
            installation_id=installation,
            accepted_at=NOW,
            platform="APNS",
            push_channel=device_token(2),
        )
    )
    answer = await PushPreferences(states).put(CF, Preferences(payment_received=False))
    assert answer == Preferences(new_notice=True, payment_received=False)
    stored = states.items[installation].state
    assert stored.push_channel == device_token(2)
    assert stored.opted_out == ["paymentReceived"]
