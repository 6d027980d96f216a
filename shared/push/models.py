"""What push takes and returns over HTTP, the queue messages, and the hub payloads.

Received, queued, stored and returned shapes are separate models. The device token
(``pushChannel``) is personal data: it travels in requests, queue messages and the hub call,
and is never logged nor echoed in an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from shared.auth.fiscal_code import parse_fiscal_code
from shared.platform.errors import Invalid
from shared.platform.pan import NoPanText, contains_pan
from shared.platform.values import BoundedDateTime

Platform = Literal["APNS", "FCMV1"]
MAX_RECIPIENTS = 1000
#: Keys FCM reserves in ``data``, and the key APNs reserves beside custom data.
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type", "aps"})
#: What title, body and data may add up to: APNs and FCM both cap a payload at 4 KB.
_MAX_CONTENT_BYTES = 3000


# ---------------------------------------------------------------- HTTP: received
class InstallationIn(BaseModel):
    """``PUT /api/v1/push/installations``: the caller's device."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    platform: Platform = Field(description="APNS (iOS) or FCMV1 (Android, FCM HTTP v1).")
    push_channel: str = Field(
        alias="pushChannel",
        min_length=16,
        max_length=512,
        pattern=r"^[A-Za-z0-9_:.\-]+$",
        description="The device token from APNs or FCM.",
    )


class NotificationIn(BaseModel):
    """``POST /api/v1/push/notifications``: one notification for one or more citizens."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    fiscal_code: str | None = Field(
        default=None, alias="fiscalCode", description="One recipient (or use fiscalCodes)."
    )
    fiscal_codes: list[str] | None = Field(
        default=None,
        alias="fiscalCodes",
        min_length=1,
        max_length=MAX_RECIPIENTS,
        description="Up to 1,000 recipients.",
    )
    # What reaches a citizen's phone: a card number in it is refused (phishing, leaks).
    title: NoPanText = Field(min_length=1, max_length=120)
    body: NoPanText = Field(min_length=1, max_length=1000)
    data: dict[str, NoPanText] = Field(
        default_factory=dict, max_length=16, description="Custom data: a flat string-to-string map."
    )
    notification_id: str | None = Field(
        default=None,
        alias="notificationId",
        pattern=r"^[A-Za-z0-9._:-]{1,64}$",
        description="The caller's business key: sending the same one again within the "
        "duplicate-detection window enqueues nothing new.",
    )

    @field_validator("data")
    @classmethod
    def _check_data(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not (1 <= len(key) <= 40 and key.replace("_", "").isalnum() and key.isascii()):
                raise ValueError("data keys are 1-40 ASCII letters, digits or underscores")
            if key.lower() in _RESERVED_DATA_KEYS or key.lower().startswith(("google", "gcm")):
                raise ValueError(f"data key {key!r} is reserved by APNs or FCM")
            if contains_pan(key):
                raise ValueError("a data key looks like a payment card number (PAN): remove it")
        return value

    @model_validator(mode="after")
    def _check_recipients_and_size(self) -> NotificationIn:
        if (self.fiscal_code is None) == (self.fiscal_codes is None):
            raise ValueError("give either fiscalCode or fiscalCodes")
        try:
            for code in self.recipients_raw():
                parse_fiscal_code(code)
        except Invalid as error:  # the message never repeats the code
            raise ValueError(error.detail) from None
        size = len(json.dumps({"t": self.title, "b": self.body, "d": self.data}).encode())
        if size > _MAX_CONTENT_BYTES:
            raise ValueError(f"title, body and data exceed {_MAX_CONTENT_BYTES} bytes")
        return self

    def recipients_raw(self) -> list[str]:
        return [self.fiscal_code] if self.fiscal_code is not None else list(self.fiscal_codes or [])

    def recipients(self) -> list[str]:
        """The recipients' fiscal codes, upper case, each once, in the order given."""
        return list(dict.fromkeys(parse_fiscal_code(code) for code in self.recipients_raw()))


# ---------------------------------------------------------------- HTTP: returned
class InstallationAccepted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    installation_id: str = Field(alias="installationId")
    accepted_at: datetime = Field(
        alias="acceptedAt",
        description="When the change was accepted; a change accepted earlier never overrides it.",
    )


class NotificationAccepted(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    tracking_id: str = Field(alias="trackingId")
    recipients: int
    accepted_at: datetime = Field(alias="acceptedAt")


# ---------------------------------------------------------------- queue messages
class _Message(BaseModel):
    # A tolerant reader: a newer producer may add fields during a rolling deployment.
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    installation_id: str = Field(alias="installationId", pattern=r"^[0-9a-f]{64}$")
    accepted_at: BoundedDateTime = Field(alias="acceptedAt")


class Notify(_Message):
    kind: Literal["Notify"] = "Notify"
    tracking_id: str = Field(alias="trackingId")
    sender: str | None = Field(
        default=None,
        description="The party (role sender) that sent it; None: queued before "
        "senders were recorded.",
    )
    title: str
    body: str
    data: dict[str, str] = Field(default_factory=dict)
    topic: str | None = Field(
        default=None,
        description="What the notification is about (shared/push/preferences.py): not sent "
        "to a citizen who opted out of it; None: sent whatever the preferences.",
    )


class CreateOrUpdateInstallation(_Message):
    kind: Literal["CreateOrUpdateInstallation"] = "CreateOrUpdateInstallation"
    platform: Platform
    push_channel: str = Field(alias="pushChannel")


class DeleteInstallation(_Message):
    kind: Literal["DeleteInstallation"] = "DeleteInstallation"


PushMessage = Annotated[
    Notify | CreateOrUpdateInstallation | DeleteInstallation, Field(discriminator="kind")
]
PUSH_MESSAGE: TypeAdapter[Notify | CreateOrUpdateInstallation | DeleteInstallation] = TypeAdapter(
    PushMessage
)


# ---------------------------------------------------------------- hub payloads
_HUB_PLATFORM: dict[str, str] = {"APNS": "apns", "FCMV1": "fcmv1"}
#: ``ServiceBusNotification-Format`` values as Microsoft's SDKs send them (the service reads
#: them without regard to case: its reference writes ``fcmV1``).
_FORMAT: dict[str, str] = {"APNS": "apple", "FCMV1": "fcmv1"}


@dataclass(frozen=True)
class HubInstallation:
    """An installation as the hub stores it; the tag ``$InstallationId:{<id>}`` comes with it."""

    installation_id: str
    platform: Platform
    push_channel: str

    def body(self) -> bytes:
        return json.dumps(
            {
                "installationId": self.installation_id,
                "platform": _HUB_PLATFORM[self.platform],
                "pushChannel": self.push_channel,
            }
        ).encode()

    def __repr__(self) -> str:  # never the device token
        return f"HubInstallation({self.installation_id!r}, {self.platform})"


@dataclass(frozen=True)
class NativeNotification:
    """A platform-native payload and its ``ServiceBusNotification-Format``."""

    format: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def native_notification(
    platform: Platform, title: str, body: str, data: dict[str, str]
) -> NativeNotification:
    """``apple``: custom data beside ``aps``; ``fcmv1``: wrapped in ``message``, ``data`` a
    flat string map (FCM legacy is shut down)."""
    if platform == "APNS":
        apple: dict[str, object] = {
            "aps": {"alert": {"title": title, "body": body}, "sound": "default"}
        }
        apple.update(data)
        return NativeNotification(
            _FORMAT[platform],
            _compact(apple),
            (("apns-push-type", "alert"), ("apns-priority", "10")),
        )
    message: dict[str, object] = {"notification": {"title": title, "body": body}}
    if data:
        message["data"] = dict(data)
    return NativeNotification(_FORMAT[platform], _compact({"message": message}))


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
