"""Helpers of the citizen-token tests: claims, signed tokens, a verifier, a refusal check."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from shared.auth.citizen import CitizenTokenVerifier
from shared.auth.keys import KeySource
from shared.platform.errors import Unauthorized

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ISS = "https://login.example.it"
AUD = "centro-stella"
CF = "RSSMRA85T10A562S"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    ts = int(NOW.timestamp())
    values: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": CF,
        "iat": ts,
        "nbf": ts,
        "exp": ts + 600,
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def signed(private_pem: str, payload: dict[str, Any], alg: str = "RS256", **headers: Any) -> str:
    return jwt.encode(payload, private_pem, algorithm=alg, headers=headers or None)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def verifier(keys: KeySource, **kwargs: Any) -> CitizenTokenVerifier:
    return CitizenTokenVerifier(keys, issuer=ISS, audience=AUD, **kwargs)


async def refused(v: CitizenTokenVerifier, header: str | None, match: str, **kw: Any) -> None:
    with pytest.raises(Unauthorized, match=match) as caught:
        await v.verify(header, now=kw.get("now", NOW))
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")
