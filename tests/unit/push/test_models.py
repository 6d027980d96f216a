"""Push requests, queue messages and native payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.push.models import (
    PUSH_MESSAGE,
    CreateOrUpdateInstallation,
    DeleteInstallation,
    HubInstallation,
    InstallationIn,
    NotificationIn,
    Notify,
    native_notification,
)
from tests.unit.push.factories import device_token, fiscal_code

NOW = datetime(2020, 12, 8, 9, 0, tzinfo=UTC)
IID = "a" * 64


def test_a_notification_names_one_recipient_or_a_list() -> None:
    one = NotificationIn.model_validate(
        {"fiscalCode": fiscal_code(1).lower(), "title": "t", "body": "b"}
    )
    assert one.recipients() == [fiscal_code(1)]
    many = NotificationIn.model_validate(
        {
            "fiscalCodes": [fiscal_code(1), fiscal_code(2), fiscal_code(1).lower()],
            "title": "t",
            "body": "b",
        }
    )
    assert many.recipients() == [fiscal_code(1), fiscal_code(2)]
    for both_or_neither in ({"fiscalCode": fiscal_code(1), "fiscalCodes": [fiscal_code(2)]}, {}):
        with pytest.raises(ValidationError, match="either fiscalCode or fiscalCodes"):
            NotificationIn.model_validate({**both_or_neither, "title": "t", "body": "b"})


def test_at_most_1000_recipients() -> None:
    codes = [fiscal_code(n) for n in range(1001)]
    NotificationIn.model_validate({"fiscalCodes": codes[:1000], "title": "t", "body": "b"})
    with pytest.raises(ValidationError, match="at most 1000"):
        NotificationIn.model_validate({"fiscalCodes": codes, "title": "t", "body": "b"})


def test_a_bad_fiscal_code_is_refused_without_repeating_it() -> None:
    bad = fiscal_code(3)[:-1] + ("A" if fiscal_code(3)[-1] != "A" else "B")
    with pytest.raises(ValidationError) as caught:
        NotificationIn.model_validate(
            {"fiscalCodes": [fiscal_code(1), bad], "title": "t", "body": "b"}
        )
    assert "check character" in str(caught.value)
    details = caught.value.errors(include_input=False)
    assert bad not in json.dumps(details, default=str)


@pytest.mark.parametrize(
    "data",
    [
        {"aps": "x"},
        {"from": "x"},
        {"google.c": "x"},
        {"gcm_x": "x"},
        {"bad key": "x"},
        {"": "x"},
        {"n": 1},
        {"big": "x" * 3000},
    ],
)
def test_data_must_be_a_small_flat_map_without_reserved_keys(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotificationIn.model_validate(
            {"fiscalCode": fiscal_code(1), "title": "t", "body": "b", "data": data}
        )


@pytest.mark.parametrize(
    "content",
    [
        {"title": "Card 4111 1111 1111 1111"},
        {"body": "confirm your card 4111-1111-1111-1111 at https://example.test"},
        {"data": {"card": "4111111111111111"}},
        {"data": {"k4111111111111111": "x"}},
    ],
)
def test_a_card_number_in_a_notification_is_refused_without_repeating_it(
    content: dict[str, object],
) -> None:
    with pytest.raises(ValidationError) as caught:
        NotificationIn.model_validate(
            {"fiscalCode": fiscal_code(1), "title": "t", "body": "b", **content}
        )
    details = caught.value.errors(include_input=False)
    assert "card number" in json.dumps(details, default=str)
    assert "4111" not in json.dumps(details, default=str)


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
def test_a_notification_text_with_a_nul_or_a_lone_surrogate_is_refused(text: str) -> None:
    for field in ("title", "body"):
        with pytest.raises(ValidationError):
            NotificationIn.model_validate(
                {"fiscalCode": fiscal_code(1), "title": "t", "body": "b", field: text}
            )


def test_installation_requests_are_strict() -> None:
    ok = InstallationIn.model_validate({"platform": "FCMV1", "pushChannel": device_token(1)})
    assert ok.platform == "FCMV1"
    for bad in (
        {"platform": "GCM", "pushChannel": device_token(1)},
        {"platform": "APNS", "pushChannel": "short"},
        {"platform": "APNS", "pushChannel": "has spaces in it, no good"},
        {"platform": "APNS", "pushChannel": device_token(1), "tags": ["x"]},
    ):
        with pytest.raises(ValidationError):
            InstallationIn.model_validate(bad)


def test_queue_messages_are_told_apart_by_kind() -> None:
    messages = [
        Notify(installation_id=IID, accepted_at=NOW, tracking_id="t", title="a", body="b"),
        CreateOrUpdateInstallation(
            installation_id=IID, accepted_at=NOW, platform="APNS", push_channel=device_token(1)
        ),
        DeleteInstallation(installation_id=IID, accepted_at=NOW),
    ]
    for message in messages:
        raw = message.model_dump_json(by_alias=True)
        assert json.loads(raw)["kind"] == message.kind
        assert PUSH_MESSAGE.validate_json(raw) == message
    with pytest.raises(ValidationError):
        PUSH_MESSAGE.validate_json(
            json.dumps({"kind": "Explode", "installationId": IID, "acceptedAt": NOW.isoformat()})
        )


def test_apple_payload_has_aps_and_custom_data_beside_it() -> None:
    native = native_notification("APNS", "Cashback", "Your refund is on its way", {"period": "1"})
    assert native.format == "apple"
    assert json.loads(native.body) == {
        "aps": {
            "alert": {"title": "Cashback", "body": "Your refund is on its way"},
            "sound": "default",
        },
        "period": "1",
    }
    assert ("apns-push-type", "alert") in native.headers


def test_fcm_v1_payload_is_wrapped_in_message_with_string_data() -> None:
    native = native_notification("FCMV1", "Cashback", "Refund", {"period": "1"})
    assert native.format == "fcmv1"
    assert json.loads(native.body) == {
        "message": {
            "notification": {"title": "Cashback", "body": "Refund"},
            "data": {"period": "1"},
        }
    }
    bare = native_notification("FCMV1", "t", "b", {})
    assert "data" not in json.loads(bare.body)["message"]


def test_hub_installations_use_the_hub_platform_names_and_hide_the_token() -> None:
    token = device_token(9)
    body = json.loads(HubInstallation(IID, "FCMV1", token).body())
    assert body == {"installationId": IID, "platform": "fcmv1", "pushChannel": token}
    assert token not in repr(HubInstallation(IID, "APNS", token))
