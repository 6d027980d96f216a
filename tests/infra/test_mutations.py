"""The parity checks have teeth: each mutation breaks one thing in a copy of the IaC (in the
resource, not in a list beside it), and the check that guards it must then complain.

Every mutation names the exact text it replaces, once: when the IaC changes shape, the test
says which mutation to rewrite rather than passing without mutating anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra import iac, parity
from tests.infra.conftest import deploy, run_dump
from tests.infra.expressions import ExpressionError


@dataclass(frozen=True)
class Mutation:
    flavour: str
    environment: str
    file: str  # under infra/<flavour>/
    old: str
    new: str
    check: str  # the parity check that must complain
    says: str  # a word its complaint must contain


MUTATIONS: dict[str, Mutation] = {
    # Terraform
    "tf: a wrong partition key in the container resource": Mutation(
        "terraform",
        "dev",
        "cosmos.tf",
        "partition_key_paths   = [each.value.partition_key]",
        'partition_key_paths   = ["/id"]',
        "containers",
        "partition key",
    ),
    "tf: a wrong partition key in the catalogue": Mutation(
        "terraform",
        "dev",
        "locals.tf",
        'name          = "wallet"\n      partition_key = "/pk"',
        'name          = "wallet"\n      partition_key = "/walletId"',
        "containers",
        "partition key",
    ),
    "tf: no default TTL on the containers": Mutation(
        "terraform",
        "dev",
        "cosmos.tf",
        "  default_ttl           = each.value.default_ttl\n",
        "",
        "containers",
        "TTL",
    ),
    "tf: a missing container": Mutation(
        "terraform",
        "dev",
        "cosmos.tf",
        "  for_each = local.cosmos_containers\n",
        '  for_each = { for key, c in local.cosmos_containers : key => c if key != "standin" }\n',
        "containers",
        "standin",
    ),
    "tf: a queue renamed in its resource": Mutation(
        "terraform",
        "dev",
        "servicebus.tf",
        "name                                    = each.value.name",
        'name                                    = "${each.value.name}-v2"',
        "queues",
        "not declared",
    ),
    "tf: no duplicate detection": Mutation(
        "terraform",
        "dev",
        "servicebus.tf",
        "requires_duplicate_detection            = true",
        "requires_duplicate_detection            = false",
        "queues",
        "duplicate",
    ),
    "tf: the Cosmos endpoint of another account": Mutation(
        "terraform",
        "dev",
        "function_app.tf",
        "COSMOS_ENDPOINT              = azurerm_cosmosdb_account.this.endpoint",
        'COSMOS_ENDPOINT              = "https://elsewhere.documents.azure.com:443/"',
        "containers",
        "COSMOS_ENDPOINT",
    ),
    "tf: a Send-only hub rule": Mutation(
        "terraform",
        "dev",
        "notification_hubs.tf",
        "listen                = true # installations",
        "listen                = false # installations",
        "hub_rules",
        "Listen",
    ),
    "tf: a missing Blob container": Mutation(
        "terraform",
        "dev",
        "storage.tf",
        "  for_each = local.blob_containers\n",
        "  for_each = { for key, c in local.blob_containers : key => c "
        'if key != "notice_bulks" }\n',
        "blob_containers",
        "notice",
    ),
    "tf: an AzureWebJobsStorage connection string": Mutation(
        "terraform",
        "dev",
        "function_app.tf",
        '    AzureWebJobsStorage__credential  = "managedidentity"\n',
        '    AzureWebJobsStorage__credential  = "managedidentity"\n'
        '    AzureWebJobsStorage              = "DefaultEndpointsProtocol=https;AccountName=x;'
        'AccountKey=;EndpointSuffix=core.windows.net"\n',
        "no_storage_connection_string",
        "connection string",
    ),
    "tf: azurerm's Flex Consumption resource": Mutation(
        "terraform",
        "dev",
        "function_app.tf",
        "# No FTP and no basic-auth publishing",
        'resource "azurerm_function_app_flex_consumption" "legacy" {\n'
        "  name = local.names.function_app\n}\n\n# No FTP and no basic-auth publishing",
        "no_storage_connection_string",
        "29693",
    ),
    "tf: a role by the wrong id": Mutation(
        "terraform",
        "dev",
        "identity.tf",
        'storage_blob_data_owner        = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"',
        'storage_blob_data_owner        = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"',
        "grants",
        "Storage Blob Data Owner",
    ),
    "tf: no NAT Gateway on the subnet": Mutation(
        "terraform",
        "dev",
        "network.tf",
        'resource "azurerm_subnet_nat_gateway_association" "functions" {\n'
        "  subnet_id      = azurerm_subnet.functions.id\n"
        "  nat_gateway_id = azurerm_nat_gateway.this.id\n}\n",
        "",
        "network",
        "NAT",
    ),
    "tf: Python's one request per instance": Mutation(
        "terraform",
        "dev",
        "function_app.tf",
        "          triggers = {\n            http = {\n"
        "              perInstanceConcurrency = var.function_http_per_instance_concurrency\n"
        "            }\n          }\n",
        "",
        "scale",
        "concurrency",
    ),
    "tf: the app starts before its private endpoints": Mutation(
        "terraform",
        "prod",
        "function_app.tf",
        "    azurerm_private_endpoint.this,\n",
        "",
        "startup_order",
        "private endpoints",
    ),
    "tf: no alert on dead letters": Mutation(
        "terraform",
        "dev",
        "alerts.tf",
        'metric      = "DeadletteredMessages"',
        'metric      = "IncomingMessages"',
        "observability",
        "dead letters",
    ),
    "bicep: the SNAT alert on a NAT Gateway nobody uses": Mutation(
        "bicep",
        "dev",
        "modules/alerts.bicep",
        "    scope: natGatewayId\n",
        "    scope: cosmosAccountId\n",
        "observability",
        "SNAT",
    ),
    "tf: 7-day backup": Mutation(
        "terraform",
        "dev",
        "cosmos.tf",
        'tier = "Continuous30Days"',
        'tier = "Continuous7Days"',
        "cosmos_account",
        "backup",
    ),
    # Bicep
    "bicep: a wrong partition key in the container resource": Mutation(
        "bicep",
        "dev",
        "modules/cosmos.bicep",
        "          item.value.partitionKey\n",
        "          '/id'\n",
        "containers",
        "partition key",
    ),
    "bicep: a missing container": Mutation(
        "bicep",
        "dev",
        "modules/cosmos.bicep",
        "= [for item in items(containers): {",
        "= [for item in items(containers): if (item.key != 'standin') {",
        "containers",
        "standin",
    ),
    "bicep: no default TTL on the containers": Mutation(
        "bicep",
        "dev",
        "modules/cosmos.bicep",
        "      defaultTtl: item.value.defaultTtl\n",
        "",
        "containers",
        "TTL",
    ),
    "bicep: a Send-only hub rule": Mutation(
        "bicep",
        "prod",
        "modules/notificationhub.bicep",
        "      'Listen'\n",
        "",
        "hub_rules",
        "Listen",
    ),
    "bicep: a missing Blob container": Mutation(
        "bicep",
        "dev",
        "modules/storage.bicep",
        "= [for item in items(containers): {",
        "= [for item in items(containers): if (item.key != 'notice_bulks') {",
        "blob_containers",
        "notice-bulks",
    ),
    "bicep: a queue with a short lock": Mutation(
        "bicep",
        "dev",
        "modules/servicebus.bicep",
        "lockDuration: 'PT${item.value.lockSeconds}S'",
        "lockDuration: 'PT30S'",
        "queues",
        "lock",
    ),
    "bicep: no NAT Gateway on the subnet": Mutation(
        "bicep",
        "dev",
        "modules/network.bicep",
        "    natGateway: {\n      id: natGateway.id\n    }\n",
        "",
        "network",
        "NAT",
    ),
    "bicep: a role on the wrong resource": Mutation(
        "bicep",
        "dev",
        "modules/roles.bicep",
        "resource keyVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
        "  scope: vault",
        "resource keyVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n"
        "  scope: servicebus",
        "grants",
        "Key Vault Secrets User",
    ),
    "bicep: the app starts before its roles": Mutation(
        "bicep",
        "prod",
        "main.bicep",
        "  dependsOn: [\n    roles\n    notificationHubs\n",
        "  dependsOn: [\n    notificationHubs\n",
        "startup_order",
        "role assignments",
    ),
}


def mutate(root: Path, mutation: Mutation) -> None:
    path = root / "infra" / mutation.flavour / mutation.file
    text = path.read_text()
    assert text.count(mutation.old) == 1, (
        f"{mutation.file}: the text this mutation replaces is not there once: update it"
    )
    path.write_text(text.replace(mutation.old, mutation.new))


@pytest.fixture(scope="module")
def copies(
    tmp_path_factory: pytest.TempPathFactory, dump: dict[str, Any]
) -> dict[str, tuple[Path, Any]]:
    """A mutated copy of infra/ per mutation (and one unmutated). Terraform's parse is the
    session's, with each mutated file parsed again (all in one process)."""
    roots: dict[str, Path] = {}
    for name, mutation in [("(none)", None), *MUTATIONS.items()]:
        root = tmp_path_factory.mktemp("iac")
        shutil.copytree(iac.INFRA, root / "infra", ignore=shutil.ignore_patterns(".terraform*"))
        if mutation is not None:
            mutate(root, mutation)
        roots[name] = root
    edited = {
        name: roots[name] / "infra" / "terraform" / m.file
        for name, m in MUTATIONS.items()
        if m.flavour == "terraform"
    }
    parsed = run_dump("--files", *(str(path) for path in edited.values()))
    copies: dict[str, tuple[Path, Any]] = {}
    for name, root in roots.items():
        terraform = dict(dump["terraform"])
        if name in edited:
            terraform[edited[name].name] = parsed[str(edited[name])]
        copies[name] = (root, {**dump, "terraform": terraform})
    return copies


def outcome(
    root: Path, dump: Any, flavour: str, environment: str, check: Callable[..., list[str]]
) -> list[str]:
    """The check's problems on a copy; a copy that cannot even be evaluated (a reference to
    what the mutation removed) fails as `terraform plan` or the deployment would."""
    try:
        return check(deploy(flavour, environment, root, dump))
    except (ExpressionError, KeyError, IndexError) as error:
        return [f"the copy does not evaluate: {error!r}"]


@pytest.mark.parametrize("flavour", ["terraform", "bicep"])
def test_an_unmutated_copy_passes(copies: dict[str, tuple[Path, Any]], flavour: str) -> None:
    root, dump = copies["(none)"]
    for environment in ("dev", "prod"):
        for name, check in parity.CHECKS.items():
            assert outcome(root, dump, flavour, environment, check) == [], (name, environment)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_parity_checks_catch(copies: dict[str, tuple[Path, Any]], name: str) -> None:
    mutation = MUTATIONS[name]
    root, dump = copies[name]
    assert not dump["errors"], dump["errors"]
    problems = outcome(
        root, dump, mutation.flavour, mutation.environment, parity.CHECKS[mutation.check]
    )
    assert problems, f"{name}: check {mutation.check} found nothing"
    assert any(mutation.says in p for p in problems), problems
