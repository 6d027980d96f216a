"""The deployment package and the locks it is installed from.

What a deployment ships is this folder less what ``.funcignore`` names (gitignore syntax, read
with pathspec, the matcher black and others use): azd and Core Tools package it that way, and
the CI workflow zips the top-level names it lists in ``PACKAGE``. The Python packages it
installs are requirements.txt, compiled with hashes from pyproject.toml at the versions of the
dev lock the tests ran with.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import pathspec
import yaml

from tests.infra import iac

UV = os.path.join(os.path.dirname(sys.executable), "uv")
NEVER_DEPLOYED = ("node_modules", "local", "tests", "bench", "infra", ".venv", "docs")


@cache
def deployed() -> frozenset[str]:
    """Paths (POSIX, relative to the root) of every file the deployment would ship."""
    spec = pathspec.GitIgnoreSpec.from_lines((iac.ROOT / ".funcignore").read_text().splitlines())
    files: set[str] = set()
    for folder, dirs, names in os.walk(iac.ROOT):
        here = PurePosixPath(os.path.relpath(folder, iac.ROOT).replace(os.sep, "/"))
        dirs[:] = [d for d in dirs if not spec.match_file(f"{here / d}/")]
        files.update(str(here / n) for n in names if not spec.match_file(str(here / n)))
    return frozenset(f.removeprefix("./") for f in files)


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in {"src", "href"} and value]


def test_the_package_holds_the_app_its_requirements_and_its_browser_assets() -> None:
    files = deployed()
    for needed in ("function_app.py", "host.json", "requirements.txt"):
        assert needed in files
    for package in ("shared", "functions"):
        modules = {str(p.relative_to(iac.ROOT)) for p in (iac.ROOT / package).rglob("*.py")}
        modules = {m for m in modules if "__pycache__" not in m}
        assert modules
        assert modules <= files, sorted(modules - files)
    page = iac.ROOT / "static" / "swagger-ui" / "index.html"
    parser = References()
    parser.feed(page.read_text())
    # the page lives at /api/docs and its files at /api/docs/<name>
    assets = {f"static/swagger-ui/{PurePosixPath(ref).name}" for ref in parser.found}
    assert "static/swagger-ui/swagger-ui-bundle.js" in assets
    assert {"static/swagger-ui/index.html", *assets} <= files, "run `make static`"


def test_the_package_holds_the_back_office_page_and_every_file_it_names() -> None:
    files = deployed()
    folder = iac.ROOT / "static" / "backoffice"
    parser = References()
    parser.feed((folder / "index.html").read_text())
    # the page lives at /api/bo and its files at /api/bo/<name>; its style sheet names its fonts
    assets = {f"static/backoffice/{ref[3:]}" for ref in parser.found if ref.startswith("bo/")}
    fonts = re.findall(r'url\("([^")]+)"\)', (folder / "backoffice.css").read_text())
    assets |= {f"static/backoffice/{name}" for name in fonts}
    assert {
        "static/backoffice/bootstrap-italia.min.css",
        "static/backoffice/backoffice.js",
        "static/backoffice/titillium-web-v10-latin-ext_latin-regular.woff2",
    } <= assets
    assert {"static/backoffice/index.html", *assets} <= files, "run `make static`"
    assert not [f for f in files if f.startswith("backoffice/")]  # the sources stay behind


def test_the_package_holds_nothing_of_the_tools_tests_or_sources_of_the_build() -> None:
    files = deployed()
    leaked = sorted(f for f in files if f.split("/")[0] in NEVER_DEPLOYED)
    assert leaked == []
    for never in ("requirements-dev.txt", "pyproject.toml", "package.json", "local.settings.json"):
        assert never not in files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_the_workflow_zips_what_funcignore_keeps() -> None:
    workflow = yaml.safe_load((iac.ROOT / ".github" / "workflows" / "ci-deploy.yml").read_text())
    top_level = {f.split("/")[0] for f in deployed()}
    assert set(workflow["env"]["PACKAGE"].split()) == top_level, (
        "list it in PACKAGE (ci-deploy.yml) or in .funcignore"
    )


def test_every_deployment_path_copies_the_browser_assets_first() -> None:
    azure = yaml.safe_load((iac.ROOT / "azure.yaml").read_text())
    assert azure["services"]["api"]["hooks"]["prepackage"]["run"] == "make static"
    workflow = yaml.safe_load((iac.ROOT / ".github" / "workflows" / "ci-deploy.yml").read_text())
    runs = [step.get("run", "") for step in workflow["jobs"]["package"]["steps"]]
    copy = runs.index("make static")
    zipped = next(i for i, run in enumerate(runs) if "zip " in run)
    assert copy < zipped


def compiled(lock: str, *args: str, into: Path) -> str:
    """What `make lock` writes for ``lock``, compiled into ``into`` from the committed pins."""
    shutil.copy(iac.ROOT / lock, into)  # the committed pins are the resolver's preferences
    done = subprocess.run(
        [
            *(UV, "pip", "compile", "pyproject.toml", "--quiet", "--generate-hashes"),
            *("--python-version", "3.11", "--custom-compile-command", "make lock"),
            *args,
            *("-o", str(into)),
        ],
        cwd=iac.ROOT,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return into.read_text()


def test_the_dev_lock_is_compiled_from_pyproject(tmp_path: Path) -> None:
    current = (iac.ROOT / "requirements-dev.txt").read_text()
    fresh = compiled("requirements-dev.txt", "--group", "dev", into=tmp_path / "dev.txt")
    assert current == fresh, "requirements-dev.txt is stale: run `make lock`"
    assert "--hash=sha256:" in current


def test_requirements_txt_is_the_apps_part_of_the_dev_lock(tmp_path: Path) -> None:
    current = (iac.ROOT / "requirements.txt").read_text()
    fresh = compiled("requirements.txt", "-c", "requirements-dev.txt", into=tmp_path / "app.txt")
    assert current == fresh, "requirements.txt is stale: run `make lock`"
    pinned = re.compile(r"(?m)^([A-Za-z0-9_.\[\]-]+)==(\S+)")
    dev = dict(pinned.findall((iac.ROOT / "requirements-dev.txt").read_text()))
    for name, version in pinned.findall(current):
        assert dev.get(name) == version, f"{name} differs between the two locks"


def test_no_lock_names_a_package_index() -> None:
    for lock in ("requirements.txt", "requirements-dev.txt"):
        text = (iac.ROOT / lock).read_text()
        assert "--index-url" not in text, lock
        assert "://" not in text, lock


def test_the_makefile_bootstraps_the_uv_that_the_lock_pins() -> None:
    makefile = (iac.ROOT / "Makefile").read_text()
    [wanted] = re.findall(r"(?m)^UV_VERSION := (\S+)$", makefile)
    [locked] = re.findall(r"(?m)^uv==(\S+)", (iac.ROOT / "requirements-dev.txt").read_text())
    assert wanted == locked
