"""What can be checked of the IaC without Azure: formatting, parsing, references, checkov, the
deployment workflow. ``terraform validate/plan/apply``, ``azd up`` and the OIDC deployment need
Azure and the providers' downloads: infra/README.md says what they cover.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra import bicep_model, iac
from tests.infra.conftest import ENVIRONMENTS, IAC_PYTHON, tool

WORKFLOWS = sorted((iac.ROOT / ".github" / "workflows").glob("*.yml"))
SKIP = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::([^\n]*))?")


def tf_sources() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((iac.INFRA / "terraform").glob("*.tf"))}


def without_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*#.*$", "", text)


def bicep_files() -> dict[str, bicep_model.BicepFile]:
    root = iac.INFRA / "bicep"
    return {
        path.relative_to(root).as_posix(): bicep_model.parse_file(
            path.read_text(), path.relative_to(root).as_posix()
        )
        for path in sorted(root.rglob("*.bicep"))
    }


# ------------------------------------------------------------------------ Terraform


def tf_blocks(files: dict[str, Any], kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every ``resource``/``data`` block; (name, "", body) for others."""
    found = []
    for parsed in files.values():
        for entry in parsed.get(kind, []):
            for first, inner in entry.items():
                if kind in ("resource", "data"):
                    for second, body in inner.items():
                        found.append((first.strip('"'), second.strip('"'), body))
                else:
                    found.append((first.strip('"'), "", inner))
    return found


def test_terraform_is_formatted(dump: dict[str, Any]) -> None:
    fmt = dump["terraform_fmt"]
    assert fmt["code"] == 0, f"terraform fmt -check (run `terraform fmt -recursive`):\n{fmt['out']}"


def test_every_file_parses(dump: dict[str, Any]) -> None:
    assert not dump["errors"]
    assert set(dump["terraform"]) == set(tf_sources())
    assert set(dump["tfvars"]) == set(ENVIRONMENTS)
    assert len(bicep_files()) == len(list((iac.INFRA / "bicep").rglob("*.bicep")))


def test_terraform_references_are_declared(dump: dict[str, Any]) -> None:
    """What `terraform validate` would catch first: names used but never declared, or unused."""
    text = "\n".join(without_comments(t) for t in tf_sources().values())
    files = dump["terraform"]
    variables = {name for name, _, _ in tf_blocks(files, "variable")}
    local_names = {
        key
        for parsed in files.values()
        for entry in parsed.get("locals", [])
        for key in entry
        if not key.startswith("__")
    }
    resources = {f"{kind}.{name}" for kind, name, _ in tf_blocks(files, "resource")}
    data = {f"data.{kind}.{name}" for kind, name, _ in tf_blocks(files, "data")}

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


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_environment_passes_the_input_checks(dump: dict[str, Any], environment: str) -> None:
    """Terraform's variable validations and Bicep's checks module (fail()), replayed offline:
    what `terraform plan` or the deployment would refuse first."""
    assert iac.terraform_validation_failures(dump["terraform"], dump["tfvars"][environment]) == []
    parameters = iac.bicep_parameters(
        iac.INFRA / "bicep" / "environments" / f"{environment}.parameters.json"
    )
    assert iac.bicep_check_failures(iac.INFRA / "bicep", parameters) == []
    assert dump["tfvars"][environment]["environment"]["name"] == f'"{environment}"'


def test_the_input_checks_refuse_what_azure_would() -> None:
    """The replay has teeth: over the memory quota, too small a subnet, a bad always-ready
    group, a second Cosmos region without autoscale."""
    base = iac.bicep_parameters(iac.INFRA / "bicep" / "environments" / "prod.parameters.json")
    for name, value, complaint in (
        ("functionMaximumInstances", 1000, "memory quota"),
        ("functionsSubnetPrefix", "10.20.0.0/25", "functionsSubnetPrefix"),
        ("functionAlwaysReady", {"cashback_score": 1}, "functionAlwaysReady"),
        ("cosmosCapacityMode", "serverless", "cosmosSecondaryLocation"),
    ):
        failures = iac.bicep_check_failures(iac.INFRA / "bicep", {**base, name: {"value": value}})
        assert any(complaint in f for f in failures), (name, failures)


def test_the_readme_documents_every_input(dump: dict[str, Any]) -> None:
    readme = (iac.INFRA / "README.md").read_text()
    names = [name for name, _, _ in tf_blocks(dump["terraform"], "variable")]
    names += list(bicep_files()["main.bicep"].of("param"))
    assert [name for name in names if f"`{name}`" not in readme] == []


# ------------------------------------------------------------------------ Bicep


def module_params(node: Any) -> set[str]:
    """The parameter names a module body passes (an object, `if (...) {...}` or a loop)."""
    while node[0] in ("if", "for_tuple"):
        node = node[2] if node[0] == "if" else node[3]
    members = {key[1]: value for key, value in node[1] if key[0] == "lit"}
    params = members.get("params", ("object", []))
    return {key[1] for key, _ in params[1] if key[0] == "lit"}


def test_bicep_modules_get_their_parameters() -> None:
    """What `bicep build` would catch first: a module called with parameters it does not have."""
    files = bicep_files()
    for path, parsed in files.items():
        for name, module in parsed.of("module").items():
            target = (Path(path).parent / module.type).as_posix()
            assert target in files, f"{path}: module {name} -> {target} is missing"
            declared = files[target].of("param")
            passed = module_params(module.node)
            assert passed - set(declared) == set(), f"{path}: {name} passes unknown parameters"
            required = {p for p, spec in declared.items() if spec.node is None}
            assert required - passed == set(), f"{path}: {name} misses required parameters"


def test_bicep_parameter_files_name_real_parameters() -> None:
    parameters = bicep_files()["main.bicep"].of("param")
    required = {p for p, spec in parameters.items() if spec.node is None}
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
    written: set[tuple[str, str]] = set()
    for path in sorted([*directory.rglob("*.tf"), *directory.rglob("*.bicep")]):
        for check, reason in SKIP.findall(path.read_text()):
            assert len(reason.strip()) >= 30, f"{path.name}: skip of {check} needs a reason"
            written.add(("/" + path.relative_to(directory).as_posix(), check))
    # checkov reports a skip once per instance of a for_each resource: compare what is skipped
    # where, not how often.
    reported = {
        (c["file_path"], c["check_id"])
        for c in checkov_reports[flavour_name]["results"]["skipped_checks"]
    }
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
    """azd deploys the code to the one resource tagged azd-service-name = api: the site."""
    azure = yaml.safe_load((iac.ROOT / "azure.yaml").read_text())
    infra = iac.ROOT / azure["infra"]["path"]
    assert azure["infra"]["provider"] == "bicep"
    assert (infra / f"{azure['infra']['module']}.bicep").exists()
    assert (infra / f"{azure['infra']['module']}.parameters.json").exists()
    service = azure["services"]["api"]
    assert service["host"] == "function"
    assert service["language"] == "python"
    parameters = iac.bicep_parameters(iac.INFRA / "bicep" / "environments" / "dev.parameters.json")
    tagged = [
        d.type
        for d in bicep_model.deployment(iac.INFRA / "bicep", parameters).declared()
        if isinstance(d.body.get("tags"), dict) and d.body["tags"].get("azd-service-name") == "api"
    ]
    assert tagged == ["Microsoft.Web/sites"]


def test_the_readme_sets_what_azd_up_needs() -> None:
    """`azd up` as documented: every variable main.parameters.json takes without a default is
    set by the README's `azd env set` lines (azd sets AZURE_ENV_NAME itself)."""
    document = (iac.INFRA / "bicep" / "main.parameters.json").read_text()
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", document)) - {"AZURE_ENV_NAME"}
    readme = (iac.INFRA / "README.md").read_text()
    assert needed, "main.parameters.json takes nothing from the azd environment?"
    assert needed - set(re.findall(r"azd env set ([A-Z0-9_]+) ", readme)) == set()


def test_the_readme_says_how_terraform_finds_the_subscription() -> None:
    """azurerm 4.x needs the subscription; the configuration leaves it to ARM_SUBSCRIPTION_ID."""
    readme = (iac.INFRA / "README.md").read_text()
    assert re.search(r"export ARM_SUBSCRIPTION_ID=", readme)
    providers = "\n".join(without_comments(t) for t in tf_sources().values())
    assert "subscription_id" not in re.sub(
        r"data\.azurerm_client_config\.current\.subscription_id", "", providers
    )
