"""Parity: both IaC flavours declare what the code needs, and the same as each other.

Everything the code needs is read from the code at test time: the settings from
``Settings`` (and the indexed settings from the patterns the code reads them with),
the containers and queues from ``shared.platform.resources``, the queues the triggers name from
``function_app.app``, and the Azure SDK operations from the source of ``shared/`` and
``functions/``. When a capability adds one, these tests say what the infra lacks.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import shared
import shared.platform.config
from shared.platform import resources
from shared.platform.config import Settings, load_settings
from tests.infra import iac
from tests.infra.iac import Expr, Flavour, Literal, Ref

# Settings the code reads only locally: in Azure they stay unset.
LOCAL_ONLY = {
    "COSMOS_KEY": "absent in Azure, so the Cosmos DB client uses the managed identity",
    "ServiceBusConnection": "a connection string with a key; Azure uses "
    "ServiceBusConnection__fullyQualifiedNamespace and the identity",
    "LOCAL_SECRETS": "Azure reads secrets from Key Vault (KEY_VAULT_URL)",
    "AzureWebJobsStorage": "a connection string (Azurite) locally; Azure uses "
    "AzureWebJobsStorage__accountName and the identity",
}

# Set in Azure and read by the Functions host or an Azure SDK, not through Settings.
HOST_AND_SDK = {
    r"AzureWebJobsStorage__(accountName|credential|clientId)": (
        "the Functions host: AzureWebJobsStorage through the identity"
    ),
    r"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": (
        "the Functions host: telemetry ingestion with Entra ID"
    ),
    r"AZURE_CLIENT_ID": "azure-identity: which user-assigned identity DefaultAzureCredential uses",
}

# Role each Azure data-plane SDK the code imports needs, on which kind of resource.
COSMOS = ("Cosmos DB Built-in Data Contributor", "Microsoft.DocumentDB/databaseAccounts")
SENDER = ("Azure Service Bus Data Sender", "Microsoft.ServiceBus/namespaces")
RECEIVER = ("Azure Service Bus Data Receiver", "Microsoft.ServiceBus/namespaces")
SECRETS = ("Key Vault Secrets User", "Microsoft.KeyVault/vaults")
TELEMETRY = ("Monitoring Metrics Publisher", "Microsoft.Insights/components")
SDK_GRANTS = {
    "azure.cosmos": {COSMOS},
    "azure.keyvault.secrets": {SECRETS},
    "azure.monitor.opentelemetry": {TELEMETRY},
    "azure.servicebus": set(),  # by the calls made: SERVICE_BUS_CALLS
    # the app's blobs (bulk uploads, payout files) live in the host's storage account, whose
    # Blob Data Owner role the host needs anyway
    "azure.storage.blob": {("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts")},
}
SERVICE_BUS_CALLS = {"get_queue_sender": SENDER, "get_queue_receiver": RECEIVER}
NO_DATA_PLANE = {"azure.functions", "azure.identity", "azure.core"}
# The Functions host's own storage (AzureWebJobsStorage through the identity) on Flex Consumption.
HOST_GRANTS = {
    ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
    ("Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts"),
    ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts"),
}

# Anything that would put a key or a keyed connection string into an app setting or an output.
KEYISH = re.compile(
    r"(?i)primary_?key|secondary_?key|access_?key|primary_?connection|"
    r"secondary_?connection|listkeys|list_keys|listconnectionstrings|"
    r"sharedaccesskey|accountkey|connection_?string"
)

# ContainerSpec fields other than the settings name, by their infra name.
CONTAINER_FIELDS = {
    "partition_key": "partition_key",
    "default_ttl": "default_ttl",
    "ttl": "default_ttl",
    "unique_keys": "unique_keys",
}


# ------------------------------------------------------------------------ what the code needs


def aliases() -> dict[str, str]:
    """Settings field -> app setting name."""
    return {name: str(info.validation_alias) for name, info in Settings.model_fields.items()}


def code_modules() -> Iterator[ModuleType]:
    yield shared.platform.config
    for info in pkgutil.walk_packages(shared.__path__, "shared."):
        yield importlib.import_module(info.name)


def indexed_patterns() -> set[str]:
    """``PUSH_HUB_<n>_CONNECTION`` and the like: the regexes the code reads them with."""
    found: set[str] = set()
    for module in code_modules():
        for value in vars(module).values():
            if isinstance(value, re.Pattern):
                match = re.fullmatch(
                    r"([A-Z][A-Z0-9_]*_)\(\\d\+\)(_[A-Z0-9_]*)?"
                    r"(?:\(([A-Z0-9_|]+)\))?",
                    value.pattern,
                )
                if match:
                    head, middle, tails = match.group(1), match.group(2) or "", match.group(3)
                    for tail in (tails or "").split("|"):
                        found.add(f"{head}<n>{middle}{tail}")
    return found


TRIGGERS_SCRIPT = """
import json
from function_app import app
print(json.dumps([fn.get_trigger().get_dict_repr() for fn in app.get_functions()], default=str))
"""


@functools.cache
def triggers() -> list[dict[str, Any]]:
    """The deployed app's triggers, read in a fresh interpreter: ``get_functions()`` indexes an
    app once, and other tests index (and extend) the same ``function_app.app`` object."""
    result = subprocess.run(
        [sys.executable, "-c", TRIGGERS_SCRIPT],
        cwd=iac.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def service_bus_triggers() -> list[dict[str, Any]]:
    return [t for t in triggers() if t["type"] == "serviceBusTrigger"]


def source_files() -> list[Path]:
    return [
        iac.ROOT / "function_app.py",
        *sorted((iac.ROOT / "shared").rglob("*.py")),
        *sorted((iac.ROOT / "functions").rglob("*.py")),
    ]


def needed_grants() -> tuple[set[tuple[str, str]], set[str]]:
    """The grants the code's data-plane operations need, and azure packages nobody mapped."""
    needed = set(HOST_GRANTS)
    unknown: set[str] = set()
    for path in source_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Attribute) and node.attr in SERVICE_BUS_CALLS:
                needed.add(SERVICE_BUS_CALLS[node.attr])
            for module in modules:
                if not module.startswith("azure."):
                    continue
                package = next(
                    (
                        p
                        for p in (*SDK_GRANTS, *NO_DATA_PLANE)
                        if module == p or module.startswith(p + ".")
                    ),
                    None,
                )
                if package is None:
                    unknown.add(module)
                else:
                    needed.update(SDK_GRANTS.get(package, set()))
    if service_bus_triggers():
        needed.add(RECEIVER)
    return needed, unknown


def placeholder(name: str) -> str | None:
    """The local value of a setting, standing in for an Azure value known only at deployment."""
    values = json.loads((iac.ROOT / "local.settings.example.json").read_text())["Values"]
    value = values.get(name)
    return value if isinstance(value, str) and value else None


def as_setting(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def settings_for(flavour: Flavour, environment: str) -> dict[str, str]:
    """The app settings of one environment, as far as they are known before deployment."""
    values: dict[str, str] = {}
    for name, value in flavour.app_settings.items():
        resolved = flavour.resolve(value, environment)
        if isinstance(resolved, Expr):
            known = placeholder(name)
            if known is not None:
                values[name] = known
        else:
            values[name] = as_setting(resolved)
    values["ServiceBusConnection__fullyQualifiedNamespace"] = "example.servicebus.windows.net"
    values["COSMOS_ENDPOINT"] = "https://example.documents.azure.com:443/"
    return values


def environments(flavour: Flavour) -> list[str]:
    assert flavour.environments, "no environment files"
    return sorted(flavour.environments)


# ------------------------------------------------------------------------ 1. settings


def test_every_setting_of_the_code_is_set(flavour: Flavour) -> None:
    missing = set(aliases().values()) - set(LOCAL_ONLY) - set(flavour.app_settings)
    assert not missing, f"{flavour.name}: app settings missing for {sorted(missing)}"
    missing_indexed = indexed_patterns() - set(flavour.indexed_settings)
    assert not missing_indexed, f"{flavour.name}: indexed settings missing: {missing_indexed}"


def test_local_only_settings_stay_unset_in_azure(flavour: Flavour) -> None:
    assert set(LOCAL_ONLY) <= set(aliases().values()), "LOCAL_ONLY names a setting the code dropped"
    assert not set(LOCAL_ONLY) & set(flavour.app_settings)


def test_nothing_is_set_that_nobody_reads(flavour: Flavour) -> None:
    connections = {t["connection"] for t in service_bus_triggers()}
    read = set(aliases().values())
    unread = [
        name
        for name in flavour.app_settings
        if name not in read
        and not any(re.fullmatch(p, name) for p in HOST_AND_SDK)
        and not any(
            re.fullmatch(f"{re.escape(c)}__(credential|clientId)", name) for c in connections
        )
    ]
    assert not unread, f"{flavour.name}: nothing reads {unread}"
    assert set(flavour.indexed_settings) <= indexed_patterns()


def test_the_settings_of_each_environment_load(flavour: Flavour) -> None:
    for environment in environments(flavour):
        values = settings_for(flavour, environment)
        load_settings(values)  # raises ConfigurationError with every problem
        push_hubs = getattr(shared.platform.config, "push_hubs", None)
        if push_hubs is None:
            continue
        partitions = flavour.resolve(Ref("notification_hub_partitions"), environment)
        hubs = {}
        for number, partition in enumerate(partitions, start=1):
            hubs.update(
                {
                    f"PUSH_HUB_{number}_CONNECTION": "Endpoint=sb://example.servicebus.windows.net/;"
                    "SharedAccessKeyName=app-send;SharedAccessKey=x",
                    f"PUSH_HUB_{number}_NAME": f"hub-{number}",
                    f"PUSH_HUB_{number}_DIGITS": partition["digits"],
                }
            )
        assert {iac.indexed(re.sub(r"_\d+_", "_${n}_", k)) for k in hubs} == set(
            flavour.indexed_settings
        )
        push_hubs(hubs)  # the app's own reader: digits parse and cover 0-f once


# ------------------------------------------------------------------------ 2. queues


def queue_aliases() -> dict[str, resources.QueueSpec]:
    return {aliases()[spec.setting]: spec for spec in resources.QUEUES}


def test_every_queue_a_trigger_names_is_in_the_catalogue() -> None:
    for trigger in service_bus_triggers():
        setting = re.fullmatch(r"%(\w+)%", trigger["queueName"])
        assert setting, f"a trigger names its queue by value: {trigger['queueName']}"
        assert setting.group(1) in queue_aliases()


def test_every_queue_setting_is_in_the_catalogue() -> None:
    queue_settings = {alias for alias in aliases().values() if alias.endswith("_QUEUE")}
    assert queue_settings <= set(queue_aliases())


def test_every_queue_exists_with_its_settings(flavour: Flavour) -> None:
    assert set(flavour.queues) == set(queue_aliases())
    defaults = Settings.model_fields
    for alias, spec in queue_aliases().items():
        queue = flavour.queues[alias]
        assert queue["name"] == Literal(defaults[spec.setting].default), alias
        for environment in [None, *environments(flavour)]:
            assert flavour.resolve(queue["lock_seconds"], environment) == spec.lock_seconds
            assert (
                flavour.resolve(queue["duplicate_window_seconds"], environment)
                == spec.duplicate_window_seconds
            )
            assert (
                flavour.resolve(flavour.queue_resource["dead_lettering_on_expiry"], environment)
                is True
            )
        # The broker dead-letters after the deliveries the app counts on.
        delivery_setting = aliases()[spec.max_delivery_count_setting]
        assert (
            flavour.queue_resource["max_delivery_count"] == flavour.app_settings[delivery_setting]
        )
        assert isinstance(flavour.queue_resource["max_delivery_count"], Ref)
    resource = flavour.queue_resource
    assert resource["duplicate_detection"] == Literal(True)
    assert re.search(r"lock_?seconds", str(resource["lock_duration"]), re.I)
    assert re.search(r"duplicate_?window_?seconds", str(resource["duplicate_window"]), re.I)


def test_trigger_connections_use_the_identity(flavour: Flavour) -> None:
    for connection in {t["connection"] for t in service_bus_triggers()}:
        assert f"{connection}__fullyQualifiedNamespace" in flavour.app_settings
        assert flavour.app_settings[f"{connection}__credential"] == Literal("managedidentity")
        assert f"{connection}__clientId" in flavour.app_settings
        assert connection not in flavour.app_settings


# ------------------------------------------------------------------------ 3. containers


def test_every_container_exists_with_its_partition_key(flavour: Flavour) -> None:
    by_alias = {aliases()[spec.setting]: spec for spec in resources.CONTAINERS}
    assert set(flavour.containers) == set(by_alias)
    for alias, spec in by_alias.items():
        container = flavour.containers[alias]
        assert container["name"] == Literal(Settings.model_fields[spec.setting].default), alias
        for spec_field in dataclasses.fields(spec):
            if spec_field.name == "setting":
                continue
            assert spec_field.name in CONTAINER_FIELDS, (
                f"ContainerSpec.{spec_field.name} is new: map it to the infra in CONTAINER_FIELDS"
            )
            infra_value = container[CONTAINER_FIELDS[spec_field.name]]
            assert infra_value == Literal(getattr(spec, spec_field.name)), (alias, spec_field.name)
        assert container["default_ttl"] == Literal(
            getattr(spec, "default_ttl", getattr(spec, "ttl", None))
        )
        assert unique_keys(container["unique_keys"]) == unique_keys(
            Literal(getattr(spec, "unique_keys", []))
        )


def unique_keys(value: Any) -> list[list[str]]:
    assert isinstance(value, Literal), value
    return sorted(sorted(k["paths"] if isinstance(k, dict) else k) for k in value.value)


# ------------------------------------------------------------------------ 4. identity


def test_every_data_plane_operation_is_granted_and_nothing_more(flavour: Flavour) -> None:
    needed, unknown = needed_grants()
    assert not unknown, f"the code uses {sorted(unknown)}: add its data-plane role to SDK_GRANTS"
    assert needed - flavour.roles == set(), f"{flavour.name}: not granted"
    assert flavour.roles - needed == set(), f"{flavour.name}: granted but not used"


def test_every_grant_goes_to_the_function_app_identity(flavour: Flavour) -> None:
    assert flavour.role_principals
    for principal in flavour.role_principals:
        assert re.search(
            r"(user_assigned_identity\.this|'identity').*principal_?id", principal, re.I
        ), principal


def test_no_key_in_app_settings_or_outputs(flavour: Flavour) -> None:
    for name, value in flavour.app_settings.items():
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            continue  # an instrumentation key is not a secret: ingestion needs Entra ID
        text = value.text if isinstance(value, Expr) else str(value)
        assert not KEYISH.search(text), f"{flavour.name}: {name} = {text}"
    for name, text in flavour.indexed_settings.items():
        if "CONNECTION" in name:
            assert "@Microsoft.KeyVault(SecretUri=" in text, f"{name} is not a Key Vault reference"
        else:
            assert not KEYISH.search(text), f"{name} = {text}"
    for name, text in flavour.outputs.items():
        assert not KEYISH.search(text), f"{flavour.name}: output {name} = {text}"


# ------------------------------------------------------------------------ 5. the two flavours


def test_both_flavours_declare_the_same_resources(terraform: Flavour, bicep: Flavour) -> None:
    unknown = {t for t in terraform.resource_types if t.startswith("(")}
    assert not unknown, f"add these to iac.AZURERM_ARM_TYPES: {unknown}"
    assert terraform.resource_types - bicep.resource_types == set(), "only in Terraform"
    assert bicep.resource_types - terraform.resource_types == set(), "only in Bicep"


def comparable(value: Any) -> Any:
    """Literals and input references compare; expressions differ by language."""
    return None if isinstance(value, Expr) else value


def test_both_flavours_set_the_same_app_settings(terraform: Flavour, bicep: Flavour) -> None:
    assert set(terraform.app_settings) == set(bicep.app_settings)
    assert set(terraform.indexed_settings) == set(bicep.indexed_settings)
    for name, value in terraform.app_settings.items():
        if isinstance(value, Literal | Ref) or isinstance(bicep.app_settings[name], Literal | Ref):
            assert comparable(value) == comparable(bicep.app_settings[name]), name


def test_both_flavours_declare_the_same_containers_and_queues(
    terraform: Flavour, bicep: Flavour
) -> None:
    assert terraform.containers.keys() == bicep.containers.keys()
    for alias, container in terraform.containers.items():
        other = bicep.containers[alias]
        for key in ("key", "name", "partition_key", "default_ttl"):
            assert container[key] == other[key], (alias, key)
        assert unique_keys(container["unique_keys"]) == unique_keys(other["unique_keys"])
    assert terraform.queues == bicep.queues
    assert {k: comparable(v) for k, v in terraform.queue_resource.items()} == {
        k: comparable(v) for k, v in bicep.queue_resource.items()
    }


def test_both_flavours_grant_the_same_roles(terraform: Flavour, bicep: Flavour) -> None:
    assert terraform.roles == bicep.roles


def same_default(value: Any) -> Any:
    return None if value in (None, {}, [], "") else value


def test_both_flavours_take_the_same_inputs(terraform: Flavour, bicep: Flavour) -> None:
    assert set(terraform.inputs) == set(bicep.inputs)
    for name, tf_input in terraform.inputs.items():
        other = bicep.inputs[name]
        assert same_default(tf_input.default) == same_default(other.default), name
        assert tf_input.secret == other.secret, name
        assert tf_input.required == (other.required and other.default is None), name


def test_each_environment_has_the_same_values_in_both_flavours(
    terraform: Flavour, bicep: Flavour
) -> None:
    assert environments(terraform) == environments(bicep)
    for environment in environments(terraform):
        assert terraform.environments[environment] == bicep.environments[environment]
        for name in terraform.environments[environment]:
            assert not terraform.inputs[name].secret, f"{environment}: {name} is a secret"


def test_azd_parameters_name_only_real_parameters(bicep: Flavour) -> None:
    document = json.loads((iac.INFRA / "bicep" / "main.parameters.json").read_text())
    given = {iac.snake(name) for name in document["parameters"]}
    assert given <= set(bicep.inputs)
    assert {name for name, i in bicep.inputs.items() if i.required} <= given


@pytest.mark.parametrize("name", sorted(LOCAL_ONLY))
def test_local_only_settings_are_still_settings(name: str) -> None:
    assert name in aliases().values()


def test_the_wallet_notification_url_is_the_apps_own_address(flavour: Flavour) -> None:
    # Empty, the app refuses to onboard; it is never derived from a request's Host header.
    value = flavour.app_settings["WALLET_NOTIFICATION_URL"]
    assert isinstance(value, Expr), f"{flavour.name}: WALLET_NOTIFICATION_URL = {value}"
    assert re.search(
        r"https://\$\{[^}]*(function_app|functionApp)\}\.azurewebsites\.net"
        r"/api/v1/wallet/psp/notifications",
        value.text,
    ), value.text
