"""The API docs page through the dev host: Swagger UI whose every file the app serves itself.

Rendering in a browser is the browser tier's; here the page, each file it references, the
document its initializer loads, and refused paths, as a browser would ask for them.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from local.platform import Platform
from tests.conftest import Host, start_host

EXPECTED_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".png": "image/png",
}


@pytest.fixture(scope="module")
def host(platform: Platform) -> Iterator[Host]:
    started = start_host(platform, app="function_app")  # the deployed app, nothing test-only
    try:
        yield started
    finally:
        started.stop()


class References(HTMLParser):
    """Every URL a page makes the browser load: src and href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.found


def test_the_page_and_every_file_it_loads_come_from_the_app(host: Host) -> None:
    page_url = host.url + "/api/docs"
    page = host.request("GET", "/api/docs", key=None)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    refs = references(page.text)
    assert any(ref.endswith("swagger-ui-bundle.js") for ref in refs)
    assert any(ref.endswith("swagger-ui.css") for ref in refs)
    for ref in refs:
        url = urljoin(page_url, ref)
        assert urlsplit(url).netloc == urlsplit(host.url).netloc, f"{ref} is not the app's"
        response = host.request("GET", urlsplit(url).path, key=None)
        assert response.status_code == 200, ref
        suffix = "." + ref.rsplit(".", 1)[-1]
        assert response.headers["Content-Type"].split(";")[0] == EXPECTED_TYPES[suffix], ref
        assert response.content


def test_the_initializer_loads_the_apps_openapi_document(host: Host) -> None:
    page = host.request("GET", "/api/docs", key=None)
    [init] = [ref for ref in references(page.text) if ref.endswith("init.js")]
    script = host.request("GET", urlsplit(urljoin(host.url + "/api/docs", init)).path, key=None)
    [document] = re.findall(r'\burl:\s*"([^"]+)"', script.text)
    # fetch() resolves the document's URL against the page's
    response = host.request("GET", urlsplit(urljoin(host.url + "/api/docs", document)).path)
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    assert any(path.startswith("/api/ops/") for path in response.json()["paths"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/docs/../requirements.txt",
        "/api/docs/..%2F..%2Frequirements.txt",
        "/api/docs/%2e%2e%2f%2e%2e%2frequirements.txt",
        "/api/docs/..%5C..%5Crequirements.txt",
        "/api/docs/%2Fetc%2Fpasswd",
        "/api/docs/%2E%2E/%2E%2E/requirements.txt",
        "/api/docs//etc/passwd",
        "/api/docs/.gitignore",
        "/api/docs/index.html",
        "/api/docs/no-such-file.js",
    ],
)
def test_paths_that_leave_the_folder_or_miss_it_are_not_found(host: Host, path: str) -> None:
    # http.client sends the path as written: no client normalises the dots or the escapes away
    address = urlsplit(host.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404, path
    assert b"azure-functions" not in body
