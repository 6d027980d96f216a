"""The dev token tools of ``local/tokens.py`` (``make token``, tests, bench)."""

from __future__ import annotations

import jwt
import pytest

from local.tokens import generate_key_pair, issue_token
from shared.platform.errors import Invalid
from tests.unit.auth.jwts import AUD, CF, ISS, NOW

# --- dev helpers -----------------------------------------------------------------------


def test_issue_token_claims_and_kid(ec_pair: tuple[str, str]) -> None:
    token = issue_token(
        ec_pair[0],
        CF.lower(),
        issuer=ISS,
        audience=AUD,
        now=NOW,
        ttl_seconds=120,
        kid="dev",
        algorithm="ES256",
    )
    assert jwt.get_unverified_header(token)["kid"] == "dev"
    payload = jwt.decode(token, options={"verify_signature": False})
    ts = int(NOW.timestamp())
    assert payload == {"iss": ISS, "aud": AUD, "sub": CF, "iat": ts, "nbf": ts, "exp": ts + 120}


def test_issue_token_refuses_bad_input(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(Invalid):
        issue_token(rsa_pair[0], "not-a-code", issuer=ISS, audience=AUD, now=NOW)
    with pytest.raises(ValueError, match="unsupported"):
        issue_token(rsa_pair[0], CF, issuer=ISS, audience=AUD, now=NOW, algorithm="HS256")
    with pytest.raises(ValueError, match="timezone"):
        issue_token(rsa_pair[0], CF, issuer=ISS, audience=AUD, now=NOW.replace(tzinfo=None))


def test_generate_key_pair_refuses_symmetric_algorithms() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        generate_key_pair("HS256")
