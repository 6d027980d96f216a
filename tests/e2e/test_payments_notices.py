"""My notices end to end through the dev host: the demo EC publishes a notice on the archive's
API, its event goes through the archive's outbox and the broker to the index's consumer, the
citizen lists it, the Notification Hubs simulator delivers the "new notice" push once, and an
invalidated notice moves to the history."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from local.platform import DEMO_EC, Platform
from tests.conftest import Host, fresh_queues, start_host, wait_for
from tests.e2e.test_notices import dev_now
from tests.e2e.test_push import bearer, delivered_to, installed, register, sends_to
from tests.unit.push.factories import device_token, fiscal_code

NOTICES = "/api/v1/payments/notices"


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    tag = uuid.uuid4().hex[:8]
    started = start_host(
        platform,
        env={
            **fresh_queues("pidx"),
            "PUSH_QUEUE": f"push-pidx-{tag}",
            "PAYMENTS_NOTICES_QUEUE": f"payments-notices-{tag}",
        },
    )
    try:
        yield started
    finally:
        started.stop()


def publish(host: Host, debtor: str, iuv: str, amount: int, **fields: Any) -> None:
    response = host.request(
        "POST",
        "/api/aca/v1/paCreatePosition",
        headers={"Ocp-Apim-Subscription-Key": host.env["DEV_PARTY_KEY_EC"]},
        json={
            "paFiscalCode": DEMO_EC,
            "entityType": "F",
            "entityFiscalCode": debtor,
            "entityFullName": "Maria Bianchi",
            "iuv": iuv,
            "amount": amount,
            "description": "Refezione scolastica",
            "expirationDate": (dev_now(host) + timedelta(days=60)).isoformat(),
            **fields,
        },
    )
    assert response.status_code == 200, response.text


def listed(platform: Platform, host: Host, code: str, *, history: bool = False) -> Any:
    response = host.request(
        "GET", NOTICES + ("/history" if history else ""), headers=bearer(platform, host, code)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_published_notice_is_listed_pushed_once_and_invalidated_into_history(
    platform: Platform, host: Host
) -> None:
    code = fiscal_code(uuid.uuid4().int % 26**6)
    register(platform, host, code, "FCMV1", device_token(uuid.uuid4().int % 10**9))
    wait_for(lambda: installed(platform, host, code))
    iuv = f"01{uuid.uuid4().int % 10**15:015d}"

    publish(host, code, iuv, 4_250)
    (item,) = wait_for(lambda: listed(platform, host, code), timeout=30)
    assert item["noticeCode"] == "3" + iuv
    assert item["ecName"].startswith("Comune di Demo")
    assert item["amount"] == 4_250
    assert item["payableNow"] is True
    (push,) = wait_for(lambda: sends_to(platform, host, code), timeout=30)
    assert "Hai un nuovo avviso da pagare" in push["body"]

    publish(host, code, iuv, 3_900)  # an update: the list follows, no second push
    wait_for(lambda: [i["amount"] for i in listed(platform, host, code)] == [3_900], timeout=30)
    time.sleep(1.0)  # a second push, if one were sent, would have reached the simulator by now
    assert delivered_to(platform, host, code) == 1

    publish(host, code, iuv, 0)  # amount 0 invalidates
    wait_for(lambda: listed(platform, host, code) == [], timeout=30)
    (old,) = listed(platform, host, code, history=True)
    assert (old["noticeCode"], old["status"], old["payableNow"]) == ("3" + iuv, "INVALID", False)
