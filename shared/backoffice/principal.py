"""The signed-in user, from the ``X-MS-CLIENT-PRINCIPAL`` header of the platform's authentication.

App Service authentication ("Easy Auth") signs the user in with Entra ID and adds the header to
each request it lets through: base64 of a JSON object ``{"auth_typ", "claims": [{"typ", "val"}],
"name_typ", "role_typ"}``; clients cannot set it themselves, because the platform strips it
(Microsoft's "Work with user identities in Azure App Service authentication":
https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities).

That holds only where the platform's authentication runs in front of the app. So the header is
read only when ``PLATFORM_AUTH_ENABLED`` says it does (the IaC sets it with the authentication
settings; the dev host, which strips the header as the platform does, sets it locally); otherwise
a request that carries one is refused: anyone could have written it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from shared.parties.users import OBJECT_ID
from shared.platform.errors import Unauthorized
from shared.platform.values import storable

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
OBJECT_ID_CLAIM = "http://schemas.microsoft.com/identity/claims/objectidentifier"
NAME_CLAIM = "name"
NAME_MAX = 200
"""The longest name kept (the journal's entries hold 200 characters)."""
MAX_PRINCIPAL = 16 * 1024
"""Far more than a principal's claims take; the host bounds the headers anyway."""


@dataclass(frozen=True)
class Principal:
    object_id: str
    name: str | None


def read_principal(header: str | None, *, trusted: bool) -> Principal:
    """The signed-in user that ``header`` names.

    Raises:
        Unauthorized: no header; the platform's authentication is not in front of the app
            (``trusted`` false); the header is not a principal with an object id.
    """
    if not header:
        raise Unauthorized("sign in first: no signed-in user")
    if not trusted:
        raise Unauthorized(
            "the platform's authentication is not enabled for this app: a client-supplied "
            f"{PRINCIPAL_HEADER} is not trusted"
        )
    if len(header) > MAX_PRINCIPAL:
        raise Unauthorized(f"{PRINCIPAL_HEADER} is not a client principal")
    try:
        data: Any = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError, RecursionError):
        raise Unauthorized(f"{PRINCIPAL_HEADER} is not a client principal") from None
    claims = data.get("claims") if isinstance(data, dict) else None
    if not isinstance(claims, list):
        raise Unauthorized(f"{PRINCIPAL_HEADER} has no claims")
    name_typ = data.get("name_typ") if isinstance(data.get("name_typ"), str) else NAME_CLAIM
    values: dict[str, str] = {}
    for claim in claims:
        if isinstance(claim, dict) and isinstance(claim.get("typ"), str):
            value = claim.get("val")
            if isinstance(value, str):
                values.setdefault(claim["typ"], value)
    object_id = values.get(OBJECT_ID_CLAIM) or values.get("oid")
    if not object_id or not re.fullmatch(OBJECT_ID, object_id):
        raise Unauthorized(f"{PRINCIPAL_HEADER} names no Entra ID object id")
    name = values.get(name_typ) or values.get(NAME_CLAIM)
    # Shown and journaled as given, but never refused downstream for what it holds or its
    # length (the journal keeps 200 characters).
    return Principal(object_id=object_id, name=storable(name)[:NAME_MAX] if name else None)


def encode_principal(object_id: str, name: str) -> str:
    """The header the platform would send for an Entra ID user (the dev host's sign-in)."""
    principal = {
        "auth_typ": "aad",
        "claims": [
            {"typ": OBJECT_ID_CLAIM, "val": object_id},
            {"typ": NAME_CLAIM, "val": name},
        ],
        "name_typ": NAME_CLAIM,
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
    }
    return base64.b64encode(json.dumps(principal).encode()).decode()
