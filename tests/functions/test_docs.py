"""The API docs page and its files from the deployed static/ folder, triggers called directly.

Through the dev host, with every file the page references: tests/e2e/test_docs.py.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

from shared.platform.static import STATIC_ROOT
from tests.app import app
from tests.functions.fakes import request, trigger


async def page(headers: dict[str, str] | None = None) -> func.HttpResponse:
    response: func.HttpResponse = await trigger(app, "docs_page")(
        request("GET", "docs", headers=headers)
    )
    return response


async def asset(name: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    response: func.HttpResponse = await trigger(app, "docs_asset")(
        request("GET", f"docs/{name}", headers=headers, route_params={"asset": name})
    )
    return response


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


async def test_the_page_is_html_whose_scripts_come_from_the_app_alone() -> None:
    response = await page()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<div id="swagger-ui">' in response.get_body()
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert response.headers["Cache-Control"] == "no-cache"


async def test_an_asset_has_its_type_and_may_be_cached() -> None:
    response = await asset("swagger-ui.css")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/css; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=" in response.headers["Cache-Control"]
    assert b".swagger-ui" in response.get_body()


@pytest.mark.parametrize(
    "fetch",
    [lambda h: page(h), lambda h: asset("init.js", h)],
    ids=["page", "asset"],
)
async def test_a_browser_holding_the_current_copy_gets_304_and_no_body(fetch: Any) -> None:
    first = await fetch(None)
    again = await fetch({"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.get_body() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    stale = await fetch({"If-None-Match": '"an-older-version"'})
    assert stale.status_code == 200
    assert stale.get_body() == first.get_body()


@pytest.mark.parametrize(
    "name",
    [
        # files that exist, with suffixes the folder serves, reached from outside it
        "../../requirements.txt",
        "../swagger-ui/init.js",
        pytest.param(str(STATIC_ROOT.parent / "requirements.txt"), id="absolute"),
        "..%2F..%2Frequirements.txt",
        "%2e%2e%2f%2e%2e%2frequirements.txt",
        "..\\..\\requirements.txt",
        "../../function_app.py",
        "/etc/passwd",
        ".gitignore",
        "index.html",
        "LICENSE",
        "missing.js",
        "",
    ],
)
async def test_a_name_that_is_not_one_of_the_folders_assets_is_not_found(name: str) -> None:
    response = await asset(name)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
