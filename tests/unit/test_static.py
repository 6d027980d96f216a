"""Which names the static folders serve, with what Content-Type, and conditional requests."""

from __future__ import annotations

import pytest

from shared.platform.static import content_type, matches


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("init.js", "text/javascript; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("swagger-ui-bundle.js.LICENSE.txt", "text/plain; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
        ("LOGO.SVG", "image/svg+xml"),
    ],
)
def test_a_plain_file_name_is_served_with_the_type_of_its_suffix(name: str, expected: str) -> None:
    assert content_type(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "..",
        "../host.json",
        "..%2Fhost.json",
        "%2e%2e%2fhost.json",
        "..\\host.json",
        "/etc/passwd.txt",
        "shared/platform/static.py",
        "sub/init.js",
        ".hidden.js",
        "init..js",
        "init.js.",
        "init.js/",
        "init.js\x00.png",
        "init.js ",
        "LICENSE",
        "host.json",
        "function_app.py",
        "swagger-ui.css.map",
    ],
)
def test_anything_but_a_plain_name_with_a_known_suffix_is_never_served(name: str) -> None:
    assert content_type(name) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_names_the_current_etag(header: str | None, expected: bool) -> None:
    assert matches(header, '"abc"') is expected
