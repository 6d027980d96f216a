"""Parity: both IaC flavours deploy what the code needs, and the same as each other.

Each flavour is evaluated resource by resource for each environment (iac.py): the checks read
the container, queue, Blob container, site, rule and role assignment resources themselves, not a
list kept beside them. parity.py holds the checks and says where each fact comes from;
test_mutations.py proves they fail on a broken copy of the IaC.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.infra import iac, parity
from tests.infra.conftest import ENVIRONMENTS
from tests.infra.expressions import Unknown

FLAVOURS = ("terraform", "bicep")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("check", sorted(parity.CHECKS))
def test_the_deployment_gives_the_code_what_it_needs(
    deployments: dict[tuple[str, str], iac.Deployed], check: str, flavour: str, environment: str
) -> None:
    problems = parity.CHECKS[check](deployments[(flavour, environment)])
    assert problems == [], f"{flavour} {environment}: " + "\n".join(problems)


def test_every_queue_a_trigger_names_is_in_the_catalogue() -> None:
    queue_settings = {parity.aliases()[spec.setting] for spec in parity.resources.QUEUES}
    for trigger in parity.service_bus_triggers():
        setting = re.fullmatch(r"%(\w+)%", trigger["queueName"])
        assert setting, f"{trigger['function']} names its queue by value"
        assert setting.group(1) in queue_settings, trigger["function"]
    every_queue_setting = {a for a in parity.aliases().values() if a.endswith("_QUEUE")}
    assert every_queue_setting <= queue_settings


def test_every_blob_container_setting_is_in_the_catalogue() -> None:
    catalogue = {spec.setting for spec in parity.resources.BLOB_CONTAINERS}
    assert {f for f in parity.aliases() if f.endswith("_blob_container")} == catalogue


@pytest.mark.parametrize("name", sorted(parity.LOCAL_ONLY))
def test_local_only_settings_are_still_settings(name: str) -> None:
    assert name in parity.aliases().values()


# ------------------------------------------------------------------------ the two flavours


def comparable(value: Any) -> Any:
    """Known values compare; unknown ones compare by what they point at (resolved elsewhere)."""
    return None if isinstance(value, Unknown) else value


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_both_flavours_deploy_the_same(
    deployments: dict[tuple[str, str], iac.Deployed], environment: str
) -> None:
    terraform, bicep = deployments[("terraform", environment)], deployments[("bicep", environment)]
    unknown = {t for t in terraform.resource_types if t.startswith("(")}
    assert not unknown, f"add these to iac.AZURERM_ARM_TYPES: {unknown}"
    assert terraform.resource_types == bicep.resource_types
    assert set(terraform.app_settings) == set(bicep.app_settings)
    for name, value in terraform.app_settings.items():
        assert comparable(value) == comparable(bicep.app_settings[name]), name
    assert terraform.refs == bicep.refs
    for facts in (
        "containers",
        "queues",
        "blob_containers",
        "cosmos_accounts",
        "cosmos_databases",
        "namespaces",
        "storage_accounts",
        "identities",
        "hubs",
        "key_vaults",
        "vault_secrets",
        "subnets",
        "nat_gateways",
        "private_endpoints",
        "dns_links",
    ):
        assert getattr(terraform, facts) == getattr(bicep, facts), facts
    assert sorted(map(repr, terraform.grants)) == sorted(map(repr, bicep.grants))
    assert sorted(map(repr, terraform.hub_rules)) == sorted(map(repr, bicep.hub_rules))
    assert sorted(map(repr, terraform.alerts)) == sorted(map(repr, bicep.alerts))
    for part in ("kind", "sku", "properties"):
        assert terraform.plan[part] == bicep.plan[part], f"plan {part}"
    config_t = terraform.site["properties"]["functionAppConfig"]
    config_b = bicep.site["properties"]["functionAppConfig"]
    assert config_t["scaleAndConcurrency"] == config_b["scaleAndConcurrency"]
    assert config_t["runtime"] == config_b["runtime"]
    for name in ("httpsOnly", "publicNetworkAccess", "clientCertMode"):
        assert terraform.site["properties"][name] == bicep.site["properties"][name], name
    assert terraform.site["tags"] == bicep.site["tags"]


def same_default(value: Any) -> Any:
    return None if value in (None, {}, [], "") else value


def test_both_flavours_take_the_same_inputs(
    terraform_inputs: dict[str, iac.Input], bicep_inputs: dict[str, iac.Input]
) -> None:
    assert set(terraform_inputs) == set(bicep_inputs)
    for name, tf_input in terraform_inputs.items():
        other = bicep_inputs[name]
        assert same_default(tf_input.default) == same_default(other.default), name
        assert tf_input.secret == other.secret, name
        assert tf_input.required == other.required, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_the_same_values_in_both_flavours(
    deployments: dict[tuple[str, str], iac.Deployed],
    terraform_inputs: dict[str, iac.Input],
    environment: str,
) -> None:
    terraform, bicep = deployments[("terraform", environment)], deployments[("bicep", environment)]
    assert {k: same_default(v) for k, v in terraform.values.items()} == {
        k: same_default(v) for k, v in bicep.values.items()
    }
    given = iac.bicep_parameters(
        iac.INFRA / "bicep" / "environments" / f"{environment}.parameters.json"
    )
    for name in given:
        assert not terraform_inputs[iac.snake(name)].secret, f"{environment}: {name} is a secret"


def test_azd_parameters_name_only_real_parameters(bicep_inputs: dict[str, iac.Input]) -> None:
    document = json.loads((iac.INFRA / "bicep" / "main.parameters.json").read_text())
    given = {iac.snake(name) for name in document["parameters"]}
    assert given <= set(bicep_inputs)
    assert {name for name, i in bicep_inputs.items() if i.required} <= given


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_wallet_notification_url_is_the_apps_own_address(
    deployments: dict[tuple[str, str], iac.Deployed], flavour: str, environment: str
) -> None:
    # Empty, the app refuses to onboard; it is never derived from a request's Host header.
    value = deployments[(flavour, environment)].app_settings["WALLET_NOTIFICATION_URL"]
    assert isinstance(value, str), f"{flavour} {environment}: {value!r}"
    assert re.fullmatch(r"https://[a-z0-9-]+\.azurewebsites\.net/api/v1/wallets", value), value
