"""The parity checks: what the code needs, against what one flavour would deploy.

Each check takes a :class:`~tests.infra.iac.Deployed` (one flavour, one environment, evaluated
from its resources) and returns the problems it finds, as sentences; ``test_parity.py`` runs
every check on both flavours and every environment and expects none, and
``test_mutations.py`` breaks a copy of the IaC and expects the right check to complain.

What the code needs is read from the code: the settings from ``Settings``, the containers,
queues and Blob containers from ``shared.platform.resources``, the queues and functions the
triggers name from ``function_app.app``, and the Azure SDK operations from the source.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import shared
from shared.platform import resources
from shared.platform.config import Settings, load_settings
from tests.infra.expressions import Unknown
from tests.infra.iac import BUILT_IN_ROLES, ROOT, Deployed, Ref

Check = Callable[[Deployed], list[str]]

# Settings the code reads only locally: in Azure they stay unset.
LOCAL_ONLY = {
    "COSMOS_KEY": "absent in Azure, so the Cosmos DB client uses the managed identity",
    "ServiceBusConnection": "a connection string with a key; Azure uses "
    "ServiceBusConnection__fullyQualifiedNamespace and the identity",
    "LOCAL_SECRETS": "Azure reads secrets from Key Vault (KEY_VAULT_URL)",
    "AzureWebJobsStorage": "a connection string (Azurite) locally; Azure uses "
    "AzureWebJobsStorage__accountName and the identity, and a connection string there would "
    "win over the identity in the host (azure-functions-host issue 11796)",
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
    r"PYTHON_ENABLE_OPENTELEMETRY": "the Python worker: streams OpenTelemetry in the host's trace",
}

# Resources that write their own AzureWebJobsStorage connection string into the site's settings
# (azurerm's function app resources: for Flex Consumption one with an empty AccountKey when the
# identity is used; azurerm issues 29693, 30732, 29149): the Terraform flavour must not use them.
STORAGE_STRING_WRITERS = {
    "azurerm_function_app_flex_consumption",
    "azurerm_linux_function_app",
    "azurerm_windows_function_app",
}

# What the app's hub rule needs: Listen for installations (create, patch, delete) and Send for
# notifications; Manage could rewrite the hub. (Docs "Notification Hubs security";
# tests/integration/test_push_client.py: a Send-only rule gets 401 on installations.)
HUB_RIGHTS = frozenset({"Listen", "Send"})

# Role each Azure data-plane SDK the code imports needs, on which kind of resource, by built-in
# role id (iac.BUILT_IN_ROLES).
STORAGE = "Microsoft.Storage/storageAccounts"
COSMOS = ("00000000-0000-0000-0000-000000000002", "Microsoft.DocumentDB/databaseAccounts")
SENDER = ("69a216fc-b8fb-44d8-bc22-1f3c2cd27a39", "Microsoft.ServiceBus/namespaces")
RECEIVER = ("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", "Microsoft.ServiceBus/namespaces")
SECRETS = ("4633458b-17de-408a-b874-0445c86b69e6", "Microsoft.KeyVault/vaults")
TELEMETRY = ("3913510d-42f4-4e42-8a64-420c390055eb", "Microsoft.Insights/components")
BLOB_OWNER = ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", STORAGE)
SDK_GRANTS = {
    "azure.cosmos": {COSMOS},
    "azure.keyvault.secrets": {SECRETS},
    "azure.monitor.opentelemetry": {TELEMETRY},
    "azure.servicebus": set(),  # by the calls made: SERVICE_BUS_CALLS
    # the app's blobs (bulk uploads, payout lists) live in the host's storage account, whose
    # Blob Data Owner role the host needs anyway
    "azure.storage.blob": {BLOB_OWNER},
}
SERVICE_BUS_CALLS = {"get_queue_sender": SENDER, "get_queue_receiver": RECEIVER}
NO_DATA_PLANE = {"azure.functions", "azure.identity", "azure.core"}
# The Functions host's own storage (AzureWebJobsStorage through the identity) on Flex Consumption.
HOST_GRANTS = {
    BLOB_OWNER,
    ("974c5e8b-45b9-4653-ba55-5f855dd0fb88", STORAGE),  # Storage Queue Data Contributor
    ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", STORAGE),  # Storage Table Data Contributor
}

# Anything that would put a key or a keyed connection string into an app setting or an output.
KEYISH = re.compile(
    r"(?i)primary_?key|secondary_?key|access_?key|primary_?connection|"
    r"secondary_?connection|listkeys|list_keys|listconnectionstrings|"
    r"sharedaccesskey|accountkey|connection_?string"
)

# Flex Consumption scale groups that are not one function (Flex docs: per-function scaling).
SCALE_GROUPS = {"http", "blob", "durable"}

PRIVATE_ENDPOINTS = {"blob", "queue", "table", "Sql", "namespace", "vault"}

# ------------------------------------------------------------------------ what the code needs


def aliases() -> dict[str, str]:
    """Settings field -> app setting name."""
    return {name: str(info.validation_alias) for name, info in Settings.model_fields.items()}


def default(field: str) -> Any:
    return Settings.model_fields[field].default


def code_modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(shared.__path__, "shared."):
        yield importlib.import_module(info.name)


@functools.cache
def indexed_patterns() -> frozenset[str]:
    """``PUSH_HUB_<n>_CONNECTION`` and the like: the regexes the code reads them with."""
    found: set[str] = set()
    for module in code_modules():
        for value in vars(module).values():
            if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
                match = re.fullmatch(
                    r"([A-Z][A-Z0-9_]*_)\(\\d\+\)(_[A-Z0-9_]*)?(?:\(([A-Z0-9_|]+)\))?",
                    value.pattern,
                )
                if match:
                    head, middle, tails = match.group(1), match.group(2) or "", match.group(3)
                    for tail in (tails or "").split("|"):
                        found.add(f"{head}<n>{middle}{tail}")
    return frozenset(found)


TRIGGERS_SCRIPT = """
import json
from function_app import app
print(json.dumps([
    {**fn.get_trigger().get_dict_repr(), "function": fn.get_function_name()}
    for fn in app.get_functions()
], default=str))
"""


@functools.cache
def triggers() -> tuple[dict[str, Any], ...]:
    """The deployed app's functions and triggers, read in a fresh interpreter:
    ``get_functions()`` indexes an app once, and other tests extend the same object."""
    result = subprocess.run(
        [sys.executable, "-c", TRIGGERS_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return tuple(json.loads(result.stdout.strip().splitlines()[-1]))


def service_bus_triggers() -> list[dict[str, Any]]:
    return [t for t in triggers() if t["type"] == "serviceBusTrigger"]


def source_files() -> list[Path]:
    return [
        ROOT / "function_app.py",
        *sorted((ROOT / "shared").rglob("*.py")),
        *sorted((ROOT / "functions").rglob("*.py")),
    ]


@functools.cache
def needed_grants() -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """The grants (role id, scope type) the code's data-plane operations need, and the azure
    packages nobody mapped."""
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
    return frozenset(needed), frozenset(unknown)


def placeholder(name: str) -> str | None:
    """The local value of a setting, standing in for an Azure value known only at deployment."""
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    value = values.get(name)
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------ reading a deployment


def setting(d: Deployed, field: str) -> Any:
    return d.app_settings.get(aliases()[field])


def site_identity(d: Deployed) -> str | None:
    names = {r.name for r in d.site_identities if r is not None}
    return next(iter(names)) if len(names) == 1 else None


def cosmos_account(d: Deployed) -> str | None:
    """The Cosmos account the app reaches: the one COSMOS_ENDPOINT reads."""
    ref = d.refs.get("COSMOS_ENDPOINT")
    endpoint = Ref(
        "Microsoft.DocumentDB/databaseAccounts",
        ref.name if ref else "",
        "properties.documentEndpoint",
    )
    return ref.name if ref == endpoint else None


def namespace(d: Deployed) -> str | None:
    """The Service Bus namespace the app and its triggers reach."""
    value = d.app_settings.get("ServiceBusConnection__fullyQualifiedNamespace")
    if isinstance(value, str) and value.endswith(".servicebus.windows.net"):
        return value.removesuffix(".servicebus.windows.net")
    return None


def deployment_storage(d: Deployed) -> tuple[str | None, str | None]:
    """The (account, container) of the site's Flex deployment package."""
    storage = d.site.get("properties", {}).get("functionAppConfig", {}).get("deployment", {})
    value = storage.get("storage", {}).get("value")
    match = re.fullmatch(r"\$\{(.+)\}(.+)", str(value)) if isinstance(value, Unknown) else None
    if not match:
        return None, None
    account = _ref_of(d, match.group(1))
    return (account.name if account else None), match.group(2)


def _ref_of(d: Deployed, expression: str) -> Ref | None:
    return d.resolver(Unknown(expression)) if d.resolver else None


def scale(d: Deployed) -> dict[str, Any]:
    return d.site.get("properties", {}).get("functionAppConfig", {}).get("scaleAndConcurrency", {})


def key_vault_reference(d: Deployed, value: Any) -> Ref | None:
    """What ``@Microsoft.KeyVault(SecretUri=...)`` in an app setting refers to."""
    if not isinstance(value, Unknown):
        return None
    match = re.fullmatch(r"@Microsoft\.KeyVault\(SecretUri=\$\{(.+)\}\)", value.text)
    return _ref_of(d, match.group(1)) if match else None


def partitions(d: Deployed) -> list[dict[str, str]]:
    return list(d.values["notification_hub_partitions"])


# ------------------------------------------------------------------------ the checks


def check_containers(d: Deployed) -> list[str]:
    """Every Cosmos container the code uses, in the account and database the app reaches, with
    its partition key and default TTL; and no other."""
    problems = []
    account = cosmos_account(d)
    if account is None:
        problems.append(
            "COSMOS_ENDPOINT reads no Cosmos DB account's endpoint: "
            f"{d.refs.get('COSMOS_ENDPOINT')}"
        )
    database = setting(d, "cosmos_database")
    wanted = {}
    for spec in resources.CONTAINERS:
        name = default(spec.setting)
        wanted[name] = spec
        container = d.containers.get(name)
        if container is None:
            problems.append(f"container {name} ({spec.setting}) is not declared")
            continue
        if setting(d, spec.setting) != name:
            problems.append(
                f"{aliases()[spec.setting]} = {setting(d, spec.setting)!r}, not {name!r}"
            )
        if container.partition_key_paths != [spec.partition_key]:
            problems.append(
                f"container {name}: partition key {container.partition_key_paths}, "
                f"the code uses {spec.partition_key}"
            )
        if container.default_ttl != spec.default_ttl:
            problems.append(
                f"container {name}: default TTL {container.default_ttl!r}, "
                f"the code needs {spec.default_ttl!r}"
            )
        if container.account != account:
            problems.append(f"container {name} is in account {container.account}, not {account}")
        if container.database != database:
            problems.append(f"container {name} is in database {container.database}, not {database}")
        if container.unique_keys:
            problems.append(
                f"container {name}: unique keys {container.unique_keys} the code does not use"
            )
    for name in set(d.containers) - set(wanted):
        problems.append(f"container {name} is declared but the code uses none of that name")
    if database not in d.cosmos_databases:
        problems.append(f"COSMOS_DATABASE = {database!r} is not a declared database")
    return problems


def check_queues(d: Deployed) -> list[str]:
    """Every queue a trigger or a producer names, in the namespace the app reaches, with the
    duplicate detection, lock and deliveries the code relies on; and no other."""
    problems = []
    ns = namespace(d)
    if ns is None or ns not in d.namespaces:
        problems.append(
            f"ServiceBusConnection__fullyQualifiedNamespace names no declared namespace: {ns}"
        )
    deliveries = setting(d, "max_delivery_count")
    wanted = set()
    for spec in resources.QUEUES:
        name = default(spec.setting)
        wanted.add(name)
        queue = d.queues.get(name)
        if queue is None:
            problems.append(f"queue {name} ({spec.setting}) is not declared")
            continue
        if setting(d, spec.setting) != name:
            problems.append(
                f"{aliases()[spec.setting]} = {setting(d, spec.setting)!r}, not {name!r}"
            )
        if queue.namespace != ns:
            problems.append(f"queue {name} is in namespace {queue.namespace}, not {ns}")
        if queue.requires_duplicate_detection is not True:
            problems.append(f"queue {name}: no duplicate detection (the outbox re-sends by id)")
        if queue.duplicate_window != f"PT{spec.duplicate_window_seconds}S":
            problems.append(
                f"queue {name}: duplicate window {queue.duplicate_window}, "
                f"the code relies on PT{spec.duplicate_window_seconds}S"
            )
        if queue.lock_duration != f"PT{spec.lock_seconds}S":
            problems.append(
                f"queue {name}: lock {queue.lock_duration}, "
                f"the code relies on PT{spec.lock_seconds}S"
            )
        if str(queue.max_delivery_count) != str(deliveries):
            problems.append(
                f"queue {name}: the broker dead-letters after {queue.max_delivery_count} "
                f"deliveries, the app counts on {deliveries} (SERVICEBUS_MAX_DELIVERY_COUNT)"
            )
        if queue.dead_lettering_on_expiry is not True:
            problems.append(f"queue {name}: expired messages are dropped, not dead-lettered")
    for name in set(d.queues) - wanted:
        problems.append(f"queue {name} is declared but the code uses none of that name")
    for trigger in service_bus_triggers():
        match = re.fullmatch(r"%(\w+)%", trigger["queueName"])
        if not match:
            problems.append(
                f"{trigger['function']} names its queue by value: {trigger['queueName']}"
            )
        elif d.app_settings.get(match.group(1)) not in d.queues:
            problems.append(
                f"{trigger['function']} reads %{match.group(1)}%, which names no declared queue"
            )
    return problems


def check_blob_containers(d: Deployed) -> list[str]:
    """Every Blob container the code writes to, in the account the app reaches (the app never
    creates one); the deployment package's container besides; no other."""
    problems = []
    account = d.app_settings.get("AzureWebJobsStorage__accountName")
    if account not in d.storage_accounts:
        problems.append(
            f"AzureWebJobsStorage__accountName = {account!r} is not a declared storage account"
        )
    wanted = set()
    for spec in resources.BLOB_CONTAINERS:
        name = default(spec.setting)
        wanted.add(name)
        if name not in d.blob_containers:
            problems.append(f"Blob container {name} ({spec.setting}) is not declared")
            continue
        if setting(d, spec.setting) != name:
            problems.append(
                f"{aliases()[spec.setting]} = {setting(d, spec.setting)!r}, not {name!r}"
            )
        if d.blob_containers[name] != account:
            problems.append(f"Blob container {name} is in {d.blob_containers[name]}, not {account}")
    package_account, package_container = deployment_storage(d)
    if package_container not in d.blob_containers or package_account != account:
        problems.append(
            f"the deployment package goes to {package_account}/{package_container}, "
            "not a declared container of the host's account"
        )
    for name in set(d.blob_containers) - wanted - {package_container}:
        problems.append(f"Blob container {name} is declared but nothing uses it")
    return problems


def check_blob_expiry(d: Deployed) -> list[str]:
    """A lifecycle rule deletes the blobs of exactly the containers that keep them for a while
    (print jobs' PDFs: debtors' data), after the days the code says; nothing else expires
    (receipts, payout lists and bulk uploads are kept)."""
    wanted = {
        default(spec.setting): spec.expire_after_days
        for spec in resources.BLOB_CONTAINERS
        if spec.expire_after_days is not None
    }
    problems = [
        f"blobs of {name} expire after {d.blob_expiry.get(name)!r} days, not {days}"
        for name, days in wanted.items()
        if d.blob_expiry.get(name) != days
    ]
    problems += [
        f"a lifecycle rule deletes the blobs of {name}, which the code keeps"
        for name in set(d.blob_expiry) - set(wanted)
    ]
    return problems


def check_app_settings(d: Deployed) -> list[str]:
    """Every setting the code reads is set, nothing nobody reads is, each value points at the
    resource it names, and the settings of each environment load."""
    problems = []
    read = set(aliases().values())
    missing = read - set(LOCAL_ONLY) - set(d.app_settings)
    if missing:
        problems.append(f"app settings missing: {sorted(missing)}")
    for name in set(LOCAL_ONLY) & set(d.app_settings):
        problems.append(f"{name} is set in Azure: {LOCAL_ONLY[name]}")
    connections = {t["connection"] for t in service_bus_triggers()}
    for name in d.app_settings:
        if re.fullmatch(r"PUSH_HUB_\d+_\w+", name):
            if re.sub(r"_\d+_", "_<n>_", name) not in indexed_patterns():
                problems.append(f"{name}: the code reads no such indexed setting")
        elif (
            name not in read
            and not any(re.fullmatch(p, name) for p in HOST_AND_SDK)
            and not any(
                re.fullmatch(f"{re.escape(c)}__(credential|clientId)", name) for c in connections
            )
        ):
            problems.append(f"{name}: nothing reads it")
    identity = site_identity(d)
    if identity is None or identity not in d.identities:
        problems.append(f"the site runs as {d.site_identities}, not one declared identity")
    for name in (
        "AZURE_CLIENT_ID",
        "AzureWebJobsStorage__clientId",
        *(f"{c}__clientId" for c in connections),
    ):
        ref = d.refs.get(name)
        expected = Ref(
            "Microsoft.ManagedIdentity/userAssignedIdentities", str(identity), "properties.clientId"
        )
        if ref != expected:
            problems.append(f"{name} reads {ref}, not the site's identity's client id")
    for name in ("AzureWebJobsStorage__credential", *(f"{c}__credential" for c in connections)):
        if d.app_settings.get(name) != "managedidentity":
            problems.append(f"{name} = {d.app_settings.get(name)!r}, not managedidentity")
    for connection in connections:
        if f"{connection}__fullyQualifiedNamespace" not in d.app_settings:
            problems.append(f"trigger connection {connection} has no __fullyQualifiedNamespace")
    vault = d.refs.get("KEY_VAULT_URL")
    if (
        vault is None
        or vault.type != "Microsoft.KeyVault/vaults"
        or vault.attribute != "properties.vaultUri"
        or vault.name not in d.key_vaults
    ):
        problems.append(f"KEY_VAULT_URL reads {vault}, not a declared vault's URI")
    insights = d.refs.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if insights is None or insights.type != "Microsoft.Insights/components":
        problems.append(f"APPLICATIONINSIGHTS_CONNECTION_STRING reads {insights}")
    problems += _push_hub_settings(d, vault.name if vault else None)
    problems += _settings_load(d)
    return problems


def _push_hub_settings(d: Deployed, vault: str | None) -> list[str]:
    problems = []
    for number, partition in enumerate(partitions(d), start=1):
        name = d.app_settings.get(f"PUSH_HUB_{number}_NAME")
        if name not in d.hubs:
            problems.append(f"PUSH_HUB_{number}_NAME = {name!r} is not a declared hub")
        if d.app_settings.get(f"PUSH_HUB_{number}_DIGITS") != partition["digits"]:
            problems.append(f"PUSH_HUB_{number}_DIGITS is not partition {number}'s digits")
        connection = d.app_settings.get(f"PUSH_HUB_{number}_CONNECTION")
        secret = key_vault_reference(d, connection)
        if (
            secret is None
            or secret.type != "Microsoft.KeyVault/vaults/secrets"
            or secret.attribute != "properties.secretUri"
        ):
            problems.append(
                f"PUSH_HUB_{number}_CONNECTION is not a Key Vault reference to a declared "
                f"secret: {connection}"
            )
        elif d.vault_secrets.get(secret.name) != vault:
            problems.append(
                f"PUSH_HUB_{number}_CONNECTION refers to secret {secret.name}, "
                "not in the app's vault"
            )
    extra = {
        n
        for n in d.app_settings
        if re.fullmatch(r"PUSH_HUB_(\d+)_\w+", n) and int(n.split("_")[2]) > len(partitions(d))
    }
    if extra:
        problems.append(f"push hub settings beyond the partitions: {sorted(extra)}")
    return problems


def _settings_load(d: Deployed) -> list[str]:
    values: dict[str, str] = {}
    for name, value in d.app_settings.items():
        if isinstance(value, Unknown):
            known = placeholder(name)
            if known is not None:
                values[name] = known
            elif name == "COSMOS_ENDPOINT":
                values[name] = "https://example.documents.azure.com:443/"
            elif re.fullmatch(r"PUSH_HUB_\d+_CONNECTION", name):
                values[name] = (
                    "Endpoint=sb://example.servicebus.windows.net/;"
                    "SharedAccessKeyName=app;SharedAccessKey=x"
                )
        else:
            values[name] = value if isinstance(value, str) else json.dumps(value)
    problems = []
    try:
        load_settings(values)
    except Exception as error:  # the app's own report of every bad value
        problems.append(f"the settings do not load: {error}")
    from shared.push.settings import push_hubs

    try:
        push_hubs({k: v for k, v in values.items() if k.startswith("PUSH_HUB_")})
    except Exception as error:
        problems.append(f"the push hubs do not load: {error}")
    return problems


def check_no_storage_connection_string(d: Deployed) -> list[str]:
    """No AzureWebJobsStorage connection string anywhere: the identity settings are the only
    storage connection of the host and of the app."""
    problems = []
    for name, value in d.app_settings.items():
        if name in ("AzureWebJobsStorage", "DEPLOYMENT_STORAGE_CONNECTION_STRING") or (
            isinstance(value, str)
            and re.search(r"(?i)AccountKey=|DefaultEndpointsProtocol=", value)
        ):
            problems.append(f"{name} holds a storage connection string")
    writers = STORAGE_STRING_WRITERS & d.kinds
    if writers:
        problems.append(
            f"{sorted(writers)} write their own AzureWebJobsStorage (azurerm issue 29693)"
        )
    authentication = (
        d.site.get("properties", {})
        .get("functionAppConfig", {})
        .get("deployment", {})
        .get("storage", {})
        .get("authentication", {})
    )
    if authentication.get("type") != "UserAssignedIdentity":
        problems.append(
            f"the deployment package is read with {authentication.get('type')}, not the identity"
        )
    return problems


EVENT_GRID_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
"""Azure Service Bus Data Sender: what Event Grid's delivery identity holds, and nothing else."""


def check_grants(d: Deployed) -> list[str]:
    """Every data-plane operation of the code and the host is granted, by built-in role id, on
    the resource the app uses, to the site's identity; nothing more."""
    problems = []
    needed, unknown = needed_grants()
    if unknown:
        problems.append(f"the code uses {sorted(unknown)}: add its data-plane role to SDK_GRANTS")
    identity = site_identity(d)
    granted = set()
    for grant in d.grants:
        if grant.role_id not in BUILT_IN_ROLES:
            problems.append(f"role {grant.role_id} is not a documented built-in role")
        if grant.scope is None:
            problems.append(f"role {grant.role_id} on an unknown scope")
            continue
        if (
            grant.principal is not None
            and grant.principal.name != identity
            and grant.role_id == EVENT_GRID_SENDER
            and grant.scope.type == "Microsoft.ServiceBus/namespaces"
            and grant.scope.name == namespace(d)
        ):
            # Event Grid's delivery identity: blob-created events of acquirers' files reach the
            # files queue with it (docs/cashback-files.md); it may send, nothing else.
            continue
        granted.add((grant.role_id, grant.scope.type))
        if (
            grant.principal is None
            or grant.principal.name != identity
            or grant.principal.attribute != "properties.principalId"
        ):
            problems.append(
                f"role {grant.role_id} goes to {grant.principal}, not the site's identity"
            )
        if grant.scope.type == STORAGE and grant.scope.name == d.app_settings.get(
            "CASHBACK_FILES_STORAGE_ACCOUNT"
        ):
            continue  # acquirers' files, in their own (SFTP-enabled) account
        expected_scope = {
            STORAGE: d.app_settings.get("AzureWebJobsStorage__accountName"),
            "Microsoft.ServiceBus/namespaces": namespace(d),
            "Microsoft.DocumentDB/databaseAccounts": cosmos_account(d),
            "Microsoft.KeyVault/vaults": (d.refs.get("KEY_VAULT_URL") or Ref("", "", "")).name,
            "Microsoft.Insights/components": (
                d.refs.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or Ref("", "", "")
            ).name,
        }.get(grant.scope.type)
        if expected_scope is not None and grant.scope.name != expected_scope:
            problems.append(
                f"role {grant.role_id} on {grant.scope.name}, the app uses {expected_scope}"
            )
    for role, scope in sorted(needed - granted):
        problems.append(f"not granted: {BUILT_IN_ROLES.get(role, role)} on {scope}")
    for role, scope in sorted(granted - needed):
        problems.append(f"granted but not used: {BUILT_IN_ROLES.get(role, role)} on {scope}")
    return problems


def check_hub_rules(d: Deployed) -> list[str]:
    """Each partition's hub has the app's rule, with Listen and Send and nothing more."""
    problems = []
    for number, _ in enumerate(partitions(d), start=1):
        hub = d.app_settings.get(f"PUSH_HUB_{number}_NAME")
        rules = [r for r in d.hub_rules if r.hub == hub and r.namespace == d.hubs.get(str(hub))]
        if len(rules) != 1:
            problems.append(f"hub {hub} has {len(rules)} rules for the app, not one")
        for rule in rules:
            if rule.rights != HUB_RIGHTS:
                problems.append(
                    f"hub {hub}: rule {rule.name} has {sorted(rule.rights)}, the app needs "
                    f"{sorted(HUB_RIGHTS)} (installations need Listen)"
                )
    return problems


def check_network(d: Deployed) -> list[str]:
    """The site's outbound traffic leaves through a delegated subnet behind a NAT Gateway with a
    static public IP; with private networking, every dependency has a private endpoint and its
    DNS zone is linked."""
    problems = []
    subnet_ref = _ref_of(d, _unwrap(d.site.get("properties", {}).get("virtualNetworkSubnetId")))
    subnet = d.subnets.get(subnet_ref.name) if subnet_ref else None
    if subnet is None:
        problems.append(f"the site is integrated with no declared subnet: {subnet_ref}")
        return problems
    if subnet.delegation != "Microsoft.App/environments":
        problems.append(f"subnet {subnet_ref.name} is delegated to {subnet.delegation}")
    if subnet.nat_gateway is None or subnet.nat_gateway not in d.nat_gateways:
        problems.append(
            f"subnet {subnet_ref.name} has no NAT Gateway: outbound calls use implicit SNAT"
        )
    elif not d.nat_gateways[subnet.nat_gateway]:
        problems.append(f"NAT Gateway {subnet.nat_gateway} has no public IP")
    bits = int(subnet.prefix.split("/")[1])
    maximum = scale(d).get("maximumInstanceCount", 0)
    if 2 ** (32 - bits) - 5 < 2 * maximum:
        problems.append(f"subnet {subnet.prefix} cannot hold 2 x {maximum} instances + 5 addresses")
    if d.values.get("private_networking"):
        missing = PRIVATE_ENDPOINTS - set(d.private_endpoints.values())
        if missing:
            problems.append(f"no private endpoint for {sorted(missing)}")
        if len(d.dns_links) < len(PRIVATE_ENDPOINTS):
            problems.append(f"private DNS zones linked to the VNet: {sorted(d.dns_links)}")
    return problems


def check_scale(d: Deployed) -> list[str]:
    """HTTP per-instance concurrency is set (Python's default is one request per instance),
    always-ready instances name real scale groups, and the maximum fits the memory quota."""
    problems = []
    settings = scale(d)
    concurrency = settings.get("triggers", {}).get("http", {}).get("perInstanceConcurrency")
    if not isinstance(concurrency, int) or concurrency < 2:
        problems.append(f"HTTP per-instance concurrency is {concurrency!r}: Python's default is 1")
    elif concurrency != d.values.get("function_http_per_instance_concurrency"):
        problems.append("HTTP per-instance concurrency is not the input's value")
    functions = {t["function"] for t in triggers()}
    always_ready = {a["name"]: a["instanceCount"] for a in settings.get("alwaysReady", [])}
    if always_ready != dict(d.values.get("function_always_ready") or {}):
        problems.append(f"always-ready {always_ready} is not the input's value")
    for name in always_ready:
        group = name.removeprefix("function:")
        if name not in SCALE_GROUPS and not (name.startswith("function:") and group in functions):
            problems.append(f"always-ready group {name!r} is neither a scale group nor a function")
    maximum = settings.get("maximumInstanceCount", 0)
    if sum(always_ready.values()) > maximum:
        problems.append("more always-ready instances than the maximum")
    memory = settings.get("instanceMemoryMB", 0)
    quota = d.values.get("function_memory_quota_mb", 512000)  # Flex's default regional quota
    if maximum * memory > quota:
        problems.append(
            f"{maximum} instances of {memory} MB exceed the regional quota of {quota} MB"
        )
    return problems


SITE_PREREQUISITES = {
    "Microsoft.Authorization/roleAssignments": "its role assignments",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments": "its Cosmos DB data role",
    "Microsoft.KeyVault/vaults/secrets": "the secrets its Key Vault references name",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "its Blob containers",
    "Microsoft.Network/virtualNetworks": "its subnet behind the NAT Gateway",
}
PRIVATE_PREREQUISITES = {
    "Microsoft.Network/privateEndpoints": "the private endpoints",
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": "the private DNS links",
}


def check_startup_order(d: Deployed) -> list[str]:
    """The site is created after everything it reads at start-up."""
    wanted = dict(SITE_PREREQUISITES)
    if d.values.get("private_networking"):
        wanted.update(PRIVATE_PREREQUISITES)
    return [
        f"the site does not wait for {what} ({type_})"
        for type_, what in wanted.items()
        if type_ not in d.site_prerequisites
    ]


def check_cosmos_account(d: Deployed) -> list[str]:
    """30 days of continuous backup; a second region with automatic failover where asked;
    per-container throughput as the inputs say."""
    problems = []
    account = d.cosmos_accounts.get(str(cosmos_account(d)))
    if account is None:
        return ["no Cosmos DB account to check"]
    if account["backup"] != ("Continuous", "Continuous30Days"):
        problems.append(f"backup {account['backup']}, not 30 days of continuous backup")
    secondary = d.values.get("cosmos_secondary_location") or ""
    locations = [location for _, location, _ in account["locations"]]
    if secondary and (locations[1:] != [secondary] or not account["automatic_failover"]):
        problems.append(
            f"regions {locations}, failover {account['automatic_failover']}: "
            f"not {secondary} with automatic failover"
        )
    dedicated = {name: c.autoscale_max for name, c in d.containers.items() if c.autoscale_max}
    keys = {default(s.setting): key for key, s in _container_keys().items()}
    expected = {}
    if d.values.get("cosmos_capacity_mode") == "autoscale":
        expected = {
            name: d.values["cosmos_container_autoscale_max_throughput"][keys[name]]
            for name in keys
            if keys[name] in (d.values.get("cosmos_container_autoscale_max_throughput") or {})
        }
    if dedicated != expected:
        problems.append(
            f"containers with throughput of their own {dedicated}, the inputs say {expected}"
        )
    return problems


def _container_keys() -> dict[str, resources.ContainerSpec]:
    """The IaC's container keys (the settings field without ``_container``)."""
    return {spec.setting.removesuffix("_container"): spec for spec in resources.CONTAINERS}


# What each alert watches: (resource type, metric, the dimension it splits or filters on).
ALERTS = {
    ("Microsoft.ServiceBus/namespaces", "ActiveMessages", "EntityName"): "queue backlog",
    ("Microsoft.ServiceBus/namespaces", "DeadletteredMessages", "EntityName"): "dead letters",
    ("Microsoft.Insights/components", "requests/failed", None): "function failures",
    ("Microsoft.Insights/components", "availabilityResults/availabilityPercentage", None): (
        "availability of /api/health"
    ),
    ("Microsoft.Web/sites", "Http5xx", None): "5xx answers",
    ("Microsoft.Web/sites", "InstanceCount", None): "instances near the quota-bound maximum",
    ("Microsoft.DocumentDB/databaseAccounts", "TotalRequests", "StatusCode"): "Cosmos DB 429s",
    ("Microsoft.DocumentDB/databaseAccounts", "NormalizedRUConsumption", "CollectionName"): (
        "Cosmos DB RU consumption"
    ),
    ("Microsoft.Network/natGateways", "SNATConnectionCount", "ConnectionState"): (
        "failed SNAT connections"
    ),
}
HUB_ALERTS = {"incoming.all.failedrequests", "outgoing.allpns.pnserror"}


def check_observability(d: Deployed) -> list[str]:
    """Alerts on what fails first on launch day, on the resources the app uses."""
    problems = []
    watched: dict[tuple[str, str, str | None], set[str]] = {}
    for alert in d.alerts:
        for scope in alert["scopes"]:
            if scope is None:
                problems.append(f"alert {alert['name']} watches an unknown resource")
                continue
            for dimension in [*alert["dimensions"], None]:
                watched.setdefault((scope.type, alert["metric"], dimension), set()).add(scope.name)
    uses = {
        "Microsoft.ServiceBus/namespaces": namespace(d),
        "Microsoft.DocumentDB/databaseAccounts": cosmos_account(d),
        "Microsoft.Insights/components": (
            d.refs.get("APPLICATIONINSIGHTS_CONNECTION_STRING") or Ref("", "", "")
        ).name,
        "Microsoft.Web/sites": d.site.get("name"),
    }
    subnet_ref = _ref_of(d, _unwrap(d.site.get("properties", {}).get("virtualNetworkSubnetId")))
    subnet = d.subnets.get(subnet_ref.name) if subnet_ref else None
    uses["Microsoft.Network/natGateways"] = subnet.nat_gateway if subnet else None
    for key, what in ALERTS.items():
        names = watched.get(key, set())
        expected = uses.get(key[0])
        if not names:
            problems.append(f"no alert on {what} ({key[1]})")
        elif expected and expected not in names:
            problems.append(f"the alert on {what} watches {sorted(names)}, not {expected}")
    for hub in d.hubs:
        for metric in HUB_ALERTS:
            if hub not in watched.get(
                ("Microsoft.NotificationHubs/namespaces/notificationHubs", metric, None), set()
            ):
                problems.append(f"no alert on {metric} of hub {hub}")
    return problems


def check_telemetry(d: Deployed) -> list[str]:
    """Host and worker telemetry in one trace, as Flex Consumption does it: host.json's
    telemetryMode OpenTelemetry, the worker's OpenTelemetry on, and the code exporting through
    the Azure Monitor OpenTelemetry distro (docs "Use OpenTelemetry with Azure Functions")."""
    problems = []
    host = json.loads((ROOT / "host.json").read_text())
    if host.get("telemetryMode") != "OpenTelemetry":
        problems.append(f"host.json telemetryMode is {host.get('telemetryMode')!r}")
    if d.app_settings.get("PYTHON_ENABLE_OPENTELEMETRY") != "true":
        problems.append("PYTHON_ENABLE_OPENTELEMETRY is not true: the worker's spans stand alone")
    if TELEMETRY not in needed_grants()[0]:
        problems.append("the code does not export through azure.monitor.opentelemetry")
    return problems


def check_no_keys(d: Deployed) -> list[str]:
    """No key or keyed connection string in an app setting or an output."""
    problems = []
    for name, value in d.app_settings.items():
        if name == "APPLICATIONINSIGHTS_CONNECTION_STRING":
            continue  # an instrumentation key is not a secret: ingestion needs Entra ID
        if re.fullmatch(r"PUSH_HUB_\d+_CONNECTION", name):
            continue  # a Key Vault reference (check_app_settings)
        if KEYISH.search(str(value)):
            problems.append(f"{name} = {value}")
    for name, value in d.outputs.items():
        if KEYISH.search(str(value)):
            problems.append(f"output {name} = {value}")
    return problems


CHECKS: dict[str, Check] = {
    "containers": check_containers,
    "queues": check_queues,
    "blob_containers": check_blob_containers,
    "blob_expiry": check_blob_expiry,
    "app_settings": check_app_settings,
    "no_storage_connection_string": check_no_storage_connection_string,
    "grants": check_grants,
    "hub_rules": check_hub_rules,
    "network": check_network,
    "scale": check_scale,
    "startup_order": check_startup_order,
    "cosmos_account": check_cosmos_account,
    "no_keys": check_no_keys,
    "observability": check_observability,
    "telemetry": check_telemetry,
}


def _unwrap(value: Any) -> str:
    return value.text if isinstance(value, Unknown) else str(value)
