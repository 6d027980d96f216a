"""The dev host's stand-in for the platform's authentication (App Service "Easy Auth").

In Azure the platform signs EC staff in with Entra ID, keeps the session in its
``AppServiceAuthSession`` cookie, strips any ``X-MS-CLIENT-PRINCIPAL*`` header a client sends and
adds its own for the signed-in user. The dev host does the same for demo users only: its sign-in
page (``/.auth/login/dev``; ``/.auth/login/aad``, where the app sends a user who is not signed in,
leads there) lets you pick one, and its cookie names the chosen user. Local only: nothing deployed
imports this.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

from shared.backoffice.principal import PRINCIPAL_HEADER, encode_principal

COOKIE = "AppServiceAuthSession"
COOKIE_PREFIX = "dev-"


@dataclass(frozen=True)
class DemoUser:
    object_id: str
    name: str
    role: str


DEMO_EDITOR = DemoUser(
    "0b0e0000-0000-4000-8000-000000000ed1", "Elena Rossi (editor, demo)", "editor"
)
DEMO_VIEWER = DemoUser(
    "0b0e0000-0000-4000-8000-000000000e01", "Marco Bianchi (viewer, demo)", "viewer"
)
DEMO_USERS = (DEMO_EDITOR, DEMO_VIEWER)
"""The demo EC's back-office users, seeded by the local platform."""


def session_cookie(user: DemoUser) -> str:
    """The cookie value the dev sign-in sets for ``user`` (tests use it as the credential)."""
    return COOKIE_PREFIX + user.object_id


def user_of(cookie: str | None) -> DemoUser | None:
    for user in DEMO_USERS:
        if cookie == session_cookie(user):
            return user
    return None


def platform_headers(headers: Mapping[str, str], cookie: str | None) -> dict[str, str]:
    """The request's headers as the platform passes them on: any client-supplied principal
    removed, the signed-in demo user's added."""
    passed = {k: v for k, v in headers.items() if not k.lower().startswith("x-ms-client-principal")}
    user = user_of(cookie)
    if user is not None:
        passed[PRINCIPAL_HEADER] = encode_principal(user.object_id, user.name)
        passed["X-MS-CLIENT-PRINCIPAL-ID"] = user.object_id
        passed["X-MS-CLIENT-PRINCIPAL-NAME"] = user.name
        passed["X-MS-CLIENT-PRINCIPAL-IDP"] = "aad"
    return passed


def _back(request: web.Request) -> str:
    # only a path of this host: never an open redirect
    target = request.query.get("post_login_redirect_uri") or "/api/bo"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/api/bo"
    return target


async def login_aad(request: web.Request) -> web.Response:
    """Where the app sends a user who is not signed in: the dev sign-in page."""
    target = quote(_back(request), safe="/")
    raise web.HTTPFound(f"/.auth/login/dev?post_login_redirect_uri={target}")


async def login_page(request: web.Request) -> web.Response:
    back = html.escape(_back(request))
    buttons = "\n".join(
        f'<li><button type="submit" name="user" value="{html.escape(u.object_id)}">'
        f"{html.escape(u.name)}</button></li>"
        for u in DEMO_USERS
    )
    page = f"""<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>Accesso di sviluppo / Dev sign-in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>
<h1>Accesso di sviluppo <span lang="en">(dev sign-in)</span></h1>
<p>Solo sul dev host: scegli un utente dimostrativo del Comune di Demo.
<span lang="en">Dev host only: pick a demo user of Comune di Demo.</span></p>
<form method="post" action="/.auth/login/dev?post_login_redirect_uri={quote(back, safe="/")}">
<ul>
{buttons}
</ul></form></main></body></html>"""
    return web.Response(text=page, content_type="text/html")


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    chosen = next((u for u in DEMO_USERS if u.object_id == form.get("user")), None)
    if chosen is None:
        raise web.HTTPBadRequest(text="no such demo user")
    response = web.HTTPFound(_back(request))
    response.set_cookie(COOKIE, session_cookie(chosen), httponly=True, samesite="Lax", path="/")
    raise response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPFound(_back(request))
    response.del_cookie(COOKIE, path="/")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/.auth/login/aad", login_aad)
    app.router.add_get("/.auth/login/dev", login_page)
    app.router.add_post("/.auth/login/dev", login)
    app.router.add_get("/.auth/logout", logout)
