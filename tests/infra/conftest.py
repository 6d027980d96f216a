"""The IaC under test, read once per session.

The tools run from their own venvs under .venv-tools (``make install``), as subprocesses: checkov
installs a fork of python-hcl2 that shadows the real one, so neither shares the app's venv.
checkov is slow, so both flavours are scanned in parallel, once. Terraform is parsed by
python-hcl2 there (dump_iac.py) and evaluated here; Bicep is parsed and evaluated here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra import iac

IAC_PYTHON = iac.TOOLS / "iac" / "bin" / "python"
CHECKOV = iac.TOOLS / "checkov" / "bin" / "checkov"
ENVIRONMENTS = ("dev", "prod")

# checks.bicep holds only the parameter checks, written with fail() and lambdas, which the Bicep
# parser that checkov pins predates; it declares no resource, so checkov has nothing to check.
CHECKOV_ARGS = {
    "terraform": ["-d", str(iac.INFRA / "terraform"), "--framework", "terraform"],
    "bicep": [
        "-d",
        str(iac.INFRA / "bicep"),
        "--framework",
        "bicep",
        "--skip-path",
        "modules/checks.bicep",
    ],
}


def tool(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(iac.ROOT)} is missing: run `make install`")
    return path


def run_dump(*arguments: str) -> Any:
    """dump_iac.py's JSON, run by the tools' venv."""
    result = subprocess.run(
        [str(tool(IAC_PYTHON)), str(Path(__file__).with_name("dump_iac.py")), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"TF_CLI_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        pytest.fail(f"dump_iac.py failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def deploy(flavour: str, environment: str, root: Path, dump: dict[str, Any]) -> iac.Deployed:
    if flavour == "terraform":
        return iac.terraform_deployed(dump["terraform"], dump["tfvars"][environment], environment)
    bicep = root / "infra" / "bicep"
    parameters = iac.bicep_parameters(bicep / "environments" / f"{environment}.parameters.json")
    return iac.bicep_deployed(bicep, parameters, environment)


@pytest.fixture(scope="session")
def checkov_reports() -> Iterator[dict[str, Any]]:
    """checkov's JSON report per flavour (started together, collected on first use)."""
    started = {
        flavour: subprocess.Popen(
            [str(tool(CHECKOV)), *args, "--skip-download", "--output", "json", "--compact"],
            cwd=iac.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flavour, args in CHECKOV_ARGS.items()
    }
    reports: dict[str, Any] = {}
    try:
        for flavour, process in started.items():
            out, err = process.communicate(timeout=240)
            try:
                report = json.loads(out)
            except json.JSONDecodeError:
                pytest.fail(f"checkov ({flavour}) printed no JSON report:\n{err[-3000:]}")
            reports[flavour] = report[0] if isinstance(report, list) else report
        yield reports
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def dump() -> dict[str, Any]:
    """infra/terraform parsed by the tools' venv, with `terraform fmt -check`'s result."""
    return run_dump(str(iac.ROOT))  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def deployments(dump: dict[str, Any]) -> dict[tuple[str, str], iac.Deployed]:
    """(flavour, environment) -> what it would deploy, evaluated from its resources."""
    return {
        (flavour, environment): deploy(flavour, environment, iac.ROOT, dump)
        for flavour in ("terraform", "bicep")
        for environment in ENVIRONMENTS
    }


@pytest.fixture(scope="session")
def terraform_inputs(dump: dict[str, Any]) -> dict[str, iac.Input]:
    return iac.terraform_inputs(dump["terraform"])


@pytest.fixture(scope="session")
def bicep_inputs() -> dict[str, iac.Input]:
    return iac.bicep_inputs(iac.INFRA / "bicep")
