"""Push notifications: citizens register devices, services send notifications, and a queue
trigger talks to Notification Hubs (see :mod:`shared.push.service`)."""

from __future__ import annotations

import azure.functions as func
from pydantic import BaseModel

from functions.http import Call, endpoint
from functions.queue import queue_trigger
from functions.root import get_root
from shared.platform.queue_work import Delivery
from shared.push.models import (
    InstallationAccepted,
    InstallationIn,
    NotificationAccepted,
    NotificationIn,
)
from shared.push.preferences import Preferences

bp = func.Blueprint()


@endpoint(
    bp,
    "v1/push/installations",
    "PUT",
    auth="citizen",
    body=InstallationIn,
    returns=InstallationAccepted,
    status=202,
    errors=(400, 401, 422, 503),
    summary="Register the caller's device for push notifications",
    tags=("push",),
)
async def put_push_installation(call: Call[InstallationIn]) -> InstallationAccepted:
    return await call.root.push_requests().register(
        call.citizen.fiscal_code, call.body, now=call.now
    )


@endpoint(
    bp,
    "v1/push/installations",
    "DELETE",
    auth="citizen",
    returns=InstallationAccepted,
    status=202,
    errors=(401, 503),
    summary="Remove the caller's device from push notifications",
    tags=("push",),
)
async def delete_push_installation(call: Call[BaseModel]) -> InstallationAccepted:
    return await call.root.push_requests().unregister(call.citizen.fiscal_code, now=call.now)


@endpoint(
    bp,
    "v1/push/notifications",
    "POST",
    auth="sender",
    body=NotificationIn,
    returns=NotificationAccepted,
    status=202,
    errors=(400, 401, 403, 413, 422, 429, 503),
    summary="Send a notification to up to 1,000 citizens (a party of role sender, within "
    "its per-minute limits)",
    tags=("push",),
)
async def post_push_notifications(call: Call[NotificationIn]) -> NotificationAccepted:
    return await call.root.push_requests().notify(call.the_party, call.body, now=call.now)


@queue_trigger(bp, "PUSH_QUEUE")
async def push_queue(delivery: Delivery) -> None:
    """Notify, CreateOrUpdateInstallation and DeleteInstallation, by ``kind``."""
    await get_root().push_worker().handle(delivery)


@endpoint(
    bp,
    "v1/push/preferences",
    "GET",
    auth="citizen",
    returns=Preferences,
    errors=(401, 503),
    summary="Which topics of the platform's own notifications the caller wants",
    tags=("push",),
)
async def get_push_preferences(call: Call[BaseModel]) -> Preferences:
    return await call.root.push_preferences().get(call.citizen.fiscal_code)


@endpoint(
    bp,
    "v1/push/preferences",
    "PUT",
    auth="citizen",
    body=Preferences,
    returns=Preferences,
    errors=(400, 401, 422, 503),
    max_body=1024,
    summary="Opt in or out of each topic of the platform's own notifications (newNotice, "
    "paymentReceived); kept with the caller's installation",
    tags=("push",),
)
async def put_push_preferences(call: Call[Preferences]) -> Preferences:
    return await call.root.push_preferences().put(call.citizen.fiscal_code, call.body)
