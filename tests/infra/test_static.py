"""What can be checked of the IaC without Azure: formatting, parsing, references, checkov, the
deployment workflow. ``terraform validate/plan/apply``, ``azd up`` and the OIDC deployment need
Azure and the providers' downloads: infra/README.md says what they cover.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import iac
from tests.infra.conftest import IAC_PYTHON, tool

WORKFLOWS = sorted((iac.ROOT / ".github" / "workflows").glob("*.yml"))
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::([^\n]*))?")


def tf_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((iac.INFRA / "terraform").glob("*.tf"))}


def without_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*#.*$", "", text)


# ------------------------------------------------------------------------ Terraform


def test_terraform_is_formatted(dump: dict[str, Any]) -> None:
    fmt = dump["terraform_fmt"]
    assert fmt["code"] == 0, f"terraform fmt -check (run `terraform fmt -recursive`):\n{fmt['out']}"


def test_every_file_parses(dump: dict[str, Any]) -> None:
    assert not dump["errors"]
    assert set(dump["terraform"]) == set(tf_sources())
    assert set(dump["tfvars"]) == {"dev", "prod"}
    assert len(dump["bicep"]) == len(list((iac.INFRA / "bicep").rglob("*.bicep")))


def test_terraform_references_are_declared(dump: dict[str, Any]) -> None:
    """What `terraform validate` would catch first: names used but never declared, or unused."""
    text = "\n".join(without_comments(t) for t in tf_sources().values())
    files = dump["terraform"]
    variables = {name for name, _, _ in iac.tf_blocks(files, "variable")}
    local_names = {
        key
        for parsed in files.values()
        for entry in parsed.get("locals", [])
        for key in entry
        if not key.startswith("__")
    }
    resources = {f"{kind}.{name}" for kind, name, _ in iac.tf_blocks(files, "resource")}
    data = {f"data.{kind}.{name}" for kind, name, _ in iac.tf_blocks(files, "data")}

    used_variables = set(re.findall(r"\bvar\.([a-z0-9_]+)", text))
    assert used_variables - variables == set(), "undeclared variables"
    assert variables - used_variables == set(), "variables nothing uses"
    assert set(re.findall(r"\blocal\.([a-z0-9_]+)", text)) - local_names == set()
    used_resources = set(re.findall(r"(?<![\w.\"])((?:azurerm|azapi)_[a-z_]+\.[a-z_]+)\b", text))
    assert used_resources - resources == set(), "undeclared resources"
    assert set(re.findall(r"\b(data\.[a-z_]+\.[a-z_]+)", text)) - data == set()
    for environment, values in dump["tfvars"].items():
        given = {name for name in values if not name.startswith("__")}
        assert given - variables == set(), f"{environment}.tfvars sets unknown variables"


def test_terraform_validations_accept_both_environments(terraform: iac.Flavour) -> None:
    # The variable validations of terraform (regexes, ranges) that tests can replay offline.
    for environment, values in terraform.environments.items():
        env = values["environment"]
        assert re.fullmatch(r"[a-z][a-z0-9]{1,9}", env["prefix"]), environment
        assert env["name"] == environment
        for partition in values.get("notification_hub_partitions", []):
            assert re.fullmatch(
                r"[0-9a-f](-[0-9a-f])?(,[0-9a-f](-[0-9a-f])?)*", partition["digits"]
            )
        assert not (values.get("private_networking") and values.get("servicebus_sku") != "Premium")


def test_the_readme_documents_every_input(dump: dict[str, Any]) -> None:
    readme = (iac.INFRA / "README.md").read_text()
    names = [name for name, _, _ in iac.tf_blocks(dump["terraform"], "variable")]
    names += list(dump["bicep"]["main.bicep"]["parameters"])
    assert [name for name in names if f"`{name}`" not in readme] == []


# ------------------------------------------------------------------------ Bicep


def test_bicep_modules_get_their_parameters(dump: dict[str, Any]) -> None:
    """What `bicep build` would catch first: a module called with parameters it does not have."""
    for path, parsed in dump["bicep"].items():
        for name, module in parsed.get("modules", {}).items():
            target = (Path(path).parent / module["detail"]["path"]).as_posix()
            assert target in dump["bicep"], f"{path}: module {name} -> {target} is missing"
            declared = dump["bicep"][target]["parameters"]
            passed = set(iac.bicep_body(module).get("params", {}))
            assert passed - set(declared) == set(), f"{path}: {name} passes unknown parameters"
            required = {p for p, spec in declared.items() if spec.get("default") is None}
            assert required - passed == set(), f"{path}: {name} misses required parameters"


def test_bicep_parameter_files_name_real_parameters(dump: dict[str, Any]) -> None:
    parameters = dump["bicep"]["main.bicep"]["parameters"]
    required = {p for p, spec in parameters.items() if spec.get("default") is None}
    for path in (iac.INFRA / "bicep").rglob("*.parameters.json"):
        given = set(json.loads(path.read_text())["parameters"])
        assert given - set(parameters) == set(), path.name
        assert required - given == set(), path.name


# ------------------------------------------------------------------------ checkov


@pytest.mark.parametrize("flavour_name", ["terraform", "bicep"])
def test_checkov_finds_nothing(checkov_reports: dict[str, Any], flavour_name: str) -> None:
    report = checkov_reports[flavour_name]
    summary = report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert summary["parsing_errors"] == 0, report["results"].get("parsing_errors")
    assert summary["passed"] > 0
    assert summary["resource_count"] > 20


@pytest.mark.parametrize("flavour_name", ["terraform", "bicep"])
def test_every_skipped_check_is_used_and_says_why(
    checkov_reports: dict[str, Any], flavour_name: str
) -> None:
    directory = iac.INFRA / flavour_name
    written: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in sorted([*directory.rglob("*.tf"), *directory.rglob("*.bicep")]):
        for check, reason in SKIP.findall(path.read_text()):
            assert len(reason.strip()) >= 30, f"{path.name}: skip of {check} needs a reason"
            written[("/" + path.relative_to(directory).as_posix(), check)] += 1
    reported = collections.Counter(
        (c["file_path"], c["check_id"])
        for c in checkov_reports[flavour_name]["results"]["skipped_checks"]
    )
    assert written == reported, "a skip comment that skips nothing, or a skip without a comment"


# ------------------------------------------------------------------------ the workflow


def test_workflows_lint_clean() -> None:
    assert WORKFLOWS
    actionlint = tool(IAC_PYTHON.parent / "actionlint")
    zizmor = tool(IAC_PYTHON.parent / "zizmor")
    files = [str(p) for p in WORKFLOWS]
    result = subprocess.run(
        [str(actionlint), "-no-color", *files],
        capture_output=True,
        text=True,
        cwd=iac.ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [str(zizmor), "--offline", "--no-progress", *files],
        capture_output=True,
        text=True,
        cwd=iac.ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load_workflow() -> dict[str, Any]:
    return yaml.safe_load((iac.ROOT / ".github" / "workflows" / "ci-deploy.yml").read_text())  # type: ignore[no-any-return]


def test_the_workflow_tests_packages_and_deploys_with_oidc() -> None:
    workflow = load_workflow()
    jobs = workflow["jobs"]
    assert any(step.get("run", "").strip() == "make test" for step in jobs["test"]["steps"])
    deploy = jobs["deploy"]
    assert deploy["needs"] == "package"
    assert jobs["package"]["needs"] == "test"
    assert deploy["permissions"]["id-token"] == "write"
    assert "inputs.environment" in deploy["environment"]
    login = next(s for s in deploy["steps"] if s.get("uses", "").startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    text = (iac.ROOT / ".github" / "workflows" / "ci-deploy.yml").read_text()
    assert not re.search(r"(?i)creds:|client-secret|AZURE_CREDENTIALS|publish-profile", text)
    for uses in re.findall(r"uses:\s*(\S+)", text):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{uses}: pin to a commit"


def funcignored(name: str) -> bool:
    patterns = [
        line.strip()
        for line in (iac.ROOT / ".funcignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(name, p.rstrip("/")) for p in patterns)


def test_the_package_holds_everything_the_app_runs() -> None:
    package = load_workflow()["env"]["PACKAGE"].split()
    for name in package:
        assert (iac.ROOT / name).exists(), name
    deployable = {"function_app.py", "host.json", "requirements.txt"} | {
        p.name
        for p in iac.ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and not funcignored(p.name)
    }
    assert deployable <= set(package), "add them to PACKAGE in the workflow"


def test_azd_finds_the_bicep_and_the_app() -> None:
    azure = yaml.safe_load((iac.ROOT / "azure.yaml").read_text())
    infra = iac.ROOT / azure["infra"]["path"]
    assert azure["infra"]["provider"] == "bicep"
    assert (infra / f"{azure['infra']['module']}.bicep").exists()
    assert (infra / f"{azure['infra']['module']}.parameters.json").exists()
    service = azure["services"]["api"]
    assert service["host"] == "function"
    assert service["language"] == "python"
    assert "'azd-service-name': 'api'" in (iac.INFRA / "bicep" / "main.bicep").read_text()
