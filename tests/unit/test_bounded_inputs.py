"""Inputs the hostile suite (tests/hostile) found taken as they should not be: a number where a
boolean goes, a string where an integer goes, and queue messages' date-times without their
offset (a crash loop: comparing them with aware ones raises) or out of 2000-2099."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.cashback.chunks import Chunk
from shared.cashback.models import EnrollmentIn, WalletEvent
from shared.notices.bulk_models import ChunkTask
from shared.parties.models import RotateKey
from shared.push.models import PUSH_MESSAGE

INSTALLATION = "a" * 64
WALLET_EVENT = {
    "id": "e-1",
    "type": "InstrumentValidated",
    "createdAt": "2026-12-08T09:30:00+01:00",
    "data": {
        "walletId": "w-1",
        "userId": "c" * 64,
        "hpan": "b" * 64,
        "type": "CARD",
    },
}
PUSH = {"kind": "DeleteInstallation", "installationId": INSTALLATION, "acceptedAt": ""}
CHUNK_TASK = {
    "bulkId": "c" * 32,
    "chunk": 0,
    "blob": "2026/12/08/x.ndjson",
    "offset": 0,
    "length": 10,
    "firstLine": 1,
    "receivedAt": "2026-12-08T09:30:00Z",
    "partyId": "77777777777",
}
HOSTILE_TIMES = [
    "2026-12-08T09:30:00",  # no offset
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    1733650000,  # seconds since 1970
]


def refuses(model: type[BaseModel] | TypeAdapter[Any], document: Any) -> bool:
    raw = json.dumps(document)
    try:
        if isinstance(model, TypeAdapter):
            model.validate_json(raw)
        else:
            model.model_validate_json(raw)
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("value", [1, "true", 1.0])
def test_enrolling_takes_the_boolean_true_only(value: object) -> None:
    assert not refuses(EnrollmentIn, {"termsAndConditionsAccepted": True})
    assert refuses(EnrollmentIn, {"termsAndConditionsAccepted": value})


@pytest.mark.parametrize("value", ["60", True, 60.0])
def test_a_key_rotations_grace_is_an_integer(value: object) -> None:
    assert not refuses(RotateKey, {"graceSeconds": 60})
    assert refuses(RotateKey, {"graceSeconds": value})


@pytest.mark.parametrize("value", HOSTILE_TIMES)
def test_a_wallet_event_has_a_bounded_time(value: object) -> None:
    assert not refuses(WalletEvent, WALLET_EVENT)
    assert refuses(WalletEvent, {**WALLET_EVENT, "createdAt": value})


@pytest.mark.parametrize("value", HOSTILE_TIMES)
def test_a_push_message_has_a_bounded_time(value: object) -> None:
    assert not refuses(PUSH_MESSAGE, {**PUSH, "acceptedAt": "2026-12-08T09:30:00Z"})
    assert refuses(PUSH_MESSAGE, {**PUSH, "acceptedAt": value})


@pytest.mark.parametrize("value", HOSTILE_TIMES)
def test_a_chunk_of_transactions_has_a_bounded_time(value: object) -> None:
    chunk = {"receivedAt": "2026-12-08T09:30:00Z", "transactions": []}
    assert not refuses(Chunk, chunk)
    assert refuses(Chunk, {**chunk, "receivedAt": value})


@pytest.mark.parametrize(
    ("member", "value"),
    [
        *(("receivedAt", value) for value in HOSTILE_TIMES),
        *((member, "1") for member in ("chunk", "offset", "length", "firstLine")),
        *((member, True) for member in ("chunk", "offset", "length", "firstLine")),
    ],
)
def test_a_bulk_chunk_task_has_bounded_members(member: str, value: object) -> None:
    assert not refuses(ChunkTask, CHUNK_TASK)
    assert refuses(ChunkTask, {**CHUNK_TASK, member: value})
