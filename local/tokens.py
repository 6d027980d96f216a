"""Dev citizen tokens: key pairs and signed tokens for ``make run``, ``make token``, tests and
bench. Production tokens come from the identity provider; the app only verifies them
(:mod:`shared.auth.citizen`).
"""

from __future__ import annotations

from datetime import datetime

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth.fiscal_code import parse_fiscal_code
from shared.auth.keys import EC_ALGORITHMS, MIN_RSA_BITS, RSA_ALGORITHMS, SUPPORTED_ALGORITHMS

#: ES* algorithm -> the curve of its keys.
_CURVES: dict[str, ec.EllipticCurve] = {
    EC_ALGORITHMS[curve.name]: curve for curve in (ec.SECP256R1(), ec.SECP384R1(), ec.SECP521R1())
}


def generate_key_pair(algorithm: str = "RS256") -> tuple[str, str]:
    """Make a signing key pair.

    Args:
        algorithm: RS*/PS* (RSA 2048) or ES256/ES384/ES512 (matching curve).

    Returns:
        ``(private PEM (PKCS#8), public PEM (SubjectPublicKeyInfo))``.
    """
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm in RSA_ALGORITHMS:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    elif algorithm in _CURVES:
        private_key = ec.generate_private_key(_CURVES[algorithm])
    else:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


def issue_token(
    private_key_pem: str,
    fiscal_code: str,
    *,
    issuer: str,
    audience: str,
    now: datetime,
    ttl_seconds: int = 3600,
    kid: str | None = None,
    algorithm: str = "RS256",
) -> str:
    """Sign a citizen token.

    Claims: ``iss``, ``aud``, ``sub`` (the fiscal code, uppercased), ``iat`` and
    ``nbf`` (``now``), ``exp`` (``now + ttl_seconds``).

    Raises:
        Invalid: ``fiscal_code`` is not a valid fiscal code.
        ValueError: ``algorithm`` is not asymmetric or ``now`` is naive.
    """
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    issued_at = int(now.timestamp())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": parse_fiscal_code(fiscal_code),
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_seconds,
    }
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims, private_key_pem, algorithm=algorithm, headers=headers)
