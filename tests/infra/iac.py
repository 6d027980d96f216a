"""Read both IaC flavours into one shape, so the parity tests compare like with like.

The files are parsed by the IaC tools' own venv (``dump_iac.py``: python-hcl2 and pycep); this
module only reads that JSON. Both flavours become a :class:`Flavour`: app settings, containers,
queues, role grants, ARM resource types, inputs (Terraform variables / Bicep parameters, named in
snake_case) and each environment's input values.

A setting's or attribute's value is a :class:`Literal`, a :class:`Ref` to one input, or an
:class:`Expr` (anything else: a reference to another resource, an interpolation...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TOOLS = ROOT / ".venv-tools"


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Ref:
    """The value of one input (a variable or parameter), possibly turned into a string."""

    name: str


@dataclass(frozen=True)
class Expr:
    text: str


Value = Literal | Ref | Expr


@dataclass(frozen=True)
class Input:
    default: Any
    required: bool
    secret: bool


@dataclass
class Flavour:
    name: str
    app_settings: dict[str, Value] = field(default_factory=dict)
    indexed_settings: dict[str, str] = field(default_factory=dict)  # "PUSH_HUB_<n>_NAME" -> value
    containers: dict[str, dict[str, Value]] = field(default_factory=dict)  # by settings name
    queues: dict[str, dict[str, Value]] = field(default_factory=dict)  # by settings name
    queue_resource: dict[str, Value] = field(default_factory=dict)  # what every queue gets
    roles: set[tuple[str, str]] = field(default_factory=set)  # (role, ARM type of the scope)
    role_principals: set[str] = field(default_factory=set)  # who each grant is for
    resource_types: set[str] = field(default_factory=set)
    inputs: dict[str, Input] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # name -> expression text

    def resolve(self, value: Value, environment: str | None) -> Any:
        """A value for one environment (its file, else the input's default); Expr stays."""
        if isinstance(value, Literal):
            return value.value
        if isinstance(value, Ref):
            values = self.environments.get(environment or "", {})
            return values[value.name] if value.name in values else self.inputs[value.name].default
        return value


def snake(name: str) -> str:
    """Bicep's camelCase parameter name as Terraform's snake_case variable name."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def indexed(name: str) -> str:
    """``PUSH_HUB_${index}_NAME`` -> ``PUSH_HUB_<n>_NAME``."""
    return re.sub(r"\$\{[^}]*\}", "<n>", name)


# ------------------------------------------------------------------------------------ Terraform

# azurerm resource types as the ARM types they create (inline blocks that are separate ARM
# resources count too). azapi resources name their ARM type themselves.
AZURERM_ARM_TYPES: dict[str, tuple[str, ...]] = {
    "azurerm_resource_group": ("Microsoft.Resources/resourceGroups",),
    "azurerm_user_assigned_identity": ("Microsoft.ManagedIdentity/userAssignedIdentities",),
    "azurerm_log_analytics_workspace": ("Microsoft.OperationalInsights/workspaces",),
    "azurerm_application_insights": ("Microsoft.Insights/components",),
    "azurerm_storage_account": (
        "Microsoft.Storage/storageAccounts",
        "Microsoft.Storage/storageAccounts/blobServices",
    ),
    "azurerm_storage_container": ("Microsoft.Storage/storageAccounts/blobServices/containers",),
    "azurerm_cosmosdb_account": ("Microsoft.DocumentDB/databaseAccounts",),
    "azurerm_cosmosdb_sql_database": ("Microsoft.DocumentDB/databaseAccounts/sqlDatabases",),
    "azurerm_cosmosdb_sql_container": (
        "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
    ),
    "azurerm_cosmosdb_sql_role_assignment": (
        "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
    ),
    "azurerm_servicebus_namespace": ("Microsoft.ServiceBus/namespaces",),
    "azurerm_servicebus_queue": ("Microsoft.ServiceBus/namespaces/queues",),
    "azurerm_key_vault": ("Microsoft.KeyVault/vaults",),
    "azurerm_notification_hub_namespace": ("Microsoft.NotificationHubs/namespaces",),
    "azurerm_notification_hub_authorization_rule": (
        "Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules",
    ),
    "azurerm_service_plan": ("Microsoft.Web/serverfarms",),
    "azurerm_function_app_flex_consumption": ("Microsoft.Web/sites",),
    "azurerm_role_assignment": ("Microsoft.Authorization/roleAssignments",),
    "azurerm_virtual_network": ("Microsoft.Network/virtualNetworks",),
    "azurerm_subnet": ("Microsoft.Network/virtualNetworks",),  # Bicep declares them inline
    "azurerm_private_dns_zone": ("Microsoft.Network/privateDnsZones",),
    "azurerm_private_dns_zone_virtual_network_link": (
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
    ),
    "azurerm_private_endpoint": (
        "Microsoft.Network/privateEndpoints",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
    ),
    "azurerm_monitor_diagnostic_setting": ("Microsoft.Insights/diagnosticSettings",),
    "azurerm_monitor_action_group": ("Microsoft.Insights/actionGroups",),
    "azurerm_monitor_metric_alert": ("Microsoft.Insights/metricAlerts",),
}

# Terraform attributes that become app settings outside app_settings.
TF_SITE_CONFIG_SETTINGS = {
    "application_insights_connection_string": "APPLICATIONINSIGHTS_CONNECTION_STRING",
}

COSMOS_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"

# Built-in Azure role definition ids (the same in every tenant), for the Bicep flavour.
ROLE_IDS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    COSMOS_DATA_CONTRIBUTOR: "Cosmos DB Built-in Data Contributor",
}


def unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def tf_value(raw: Any) -> Value:
    """python-hcl2's rendering of one expression as a Value."""
    if isinstance(raw, bool | int | float) or raw is None:
        return Literal(raw)
    if isinstance(raw, str):
        if raw.startswith('"') and raw.endswith('"') and "${" not in raw:
            return Literal(raw[1:-1])
        match = re.fullmatch(r"\$\{(?:tostring\()?var\.([a-z0-9_]+)\)?\}", raw)
        if match:
            return Ref(match.group(1))
        return Expr(raw)
    if "${" not in repr(raw):
        return Literal(tf_plain(raw))
    return Expr(repr(raw))


def tf_plain(raw: Any) -> Any:
    """A tfvars or default value as plain data (strings unquoted)."""
    if isinstance(raw, dict):
        return {unquote(k): tf_plain(v) for k, v in raw.items() if not k.startswith("__")}
    if isinstance(raw, list):
        return [tf_plain(item) for item in raw]
    if isinstance(raw, str):
        if raw == "${null}":
            return None
        return unquote(raw)
    return raw


def tf_blocks(files: Mapping[str, Any], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every ``resource``/``data`` block; (name, "", body) for others."""
    for parsed in files.values():
        for entry in parsed.get(kind, []):
            for first, inner in entry.items():
                if kind in ("resource", "data"):
                    for second, body in inner.items():
                        yield unquote(first), unquote(second), body
                else:
                    yield unquote(first), "", inner


def terraform(files: Mapping[str, Any], tfvars: Mapping[str, Any]) -> Flavour:
    flavour = Flavour("terraform")
    local: dict[str, Any] = {}
    for parsed in files.values():
        for entry in parsed.get("locals", []):
            local.update({k: v for k, v in entry.items() if not k.startswith("__")})

    for name, _, body in tf_blocks(files, "variable"):
        has_default = "default" in body
        flavour.inputs[name] = Input(
            default=tf_plain(body.get("default")),
            required=not has_default,
            secret=body.get("sensitive") is True,
        )
    for environment, values in tfvars.items():
        flavour.environments[environment] = tf_plain(values)
    for name, _, body in tf_blocks(files, "output"):
        flavour.outputs[name] = str(body.get("value"))

    for key, raw in local["app_settings_fixed"].items():
        if not key.startswith("__"):
            flavour.app_settings[unquote(key)] = tf_value(raw)
    text = local["app_settings_indexed"]
    keys = list(re.finditer(r'\\?"([A-Za-z0-9_]*\$\{[^}]*\}[A-Za-z0-9_]*)\\?"\s*=\s*', text))
    for key, following in zip(keys, [*keys[1:], None], strict=True):
        value = text[key.end() : following.start() if following else len(text)]
        flavour.indexed_settings[indexed(key.group(1))] = value.strip().rstrip(",")

    for key, body in local["cosmos_containers"].items():
        entry = {unquote(k): tf_value(v) for k, v in body.items() if not k.startswith("__")}
        entry["key"] = Literal(unquote(key))
        flavour.containers[entry["setting"].value] = entry
    for key, body in local["servicebus_queues"].items():
        entry = {unquote(k): tf_value(v) for k, v in body.items() if not k.startswith("__")}
        entry["key"] = Literal(unquote(key))
        flavour.queues[entry["setting"].value] = entry

    resources = {(kind, name): body for kind, name, body in tf_blocks(files, "resource")}
    for (kind, _name), body in resources.items():
        if kind.startswith("azapi_"):
            flavour.resource_types.add(tf_plain(body["type"]).split("@")[0])
        elif kind in AZURERM_ARM_TYPES:
            flavour.resource_types.update(AZURERM_ARM_TYPES[kind])
        else:
            flavour.resource_types.add(f"(no ARM type known for {kind})")
        if kind == "azurerm_function_app_flex_consumption":
            for attribute, setting in TF_SITE_CONFIG_SETTINGS.items():
                for site_config in body.get("site_config", []):
                    if attribute in site_config:
                        flavour.app_settings[setting] = tf_value(site_config[attribute])

    queue = resources[("azurerm_servicebus_queue", "this")]
    flavour.queue_resource = {
        "max_delivery_count": tf_value(queue["max_delivery_count"]),
        "lock_duration": tf_value(queue["lock_duration"]),
        "duplicate_detection": tf_value(queue["requires_duplicate_detection"]),
        "duplicate_window": tf_value(queue["duplicate_detection_history_time_window"]),
        "dead_lettering_on_expiry": tf_value(queue["dead_lettering_on_message_expiration"]),
    }

    for grant in local["role_assignments"].values():
        scope = re.fullmatch(r"\$\{([a-z0-9_]+)\.[a-z0-9_]+\.id\}", grant["scope"])
        scope_type = AZURERM_ARM_TYPES[scope.group(1)][0] if scope else str(grant["scope"])
        flavour.roles.add((tf_plain(grant["role"]), scope_type))
    assignment = resources[("azurerm_role_assignment", "this")]
    flavour.role_principals.add(str(assignment["principal_id"]))
    for (kind, _name), body in resources.items():
        if kind == "azurerm_cosmosdb_sql_role_assignment":
            role = body["role_definition_id"]
            name = ROLE_IDS.get(role.split("/")[-1].rstrip('"}'), str(role))
            flavour.roles.add((name, "Microsoft.DocumentDB/databaseAccounts"))
            flavour.role_principals.add(str(body["principal_id"]))
    return flavour


# ---------------------------------------------------------------------------------------- Bicep


def bicep_body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's properties, with pycep's loop and condition wrappers removed."""
    config = resource["config"]
    while (
        isinstance(config, dict)
        and ("loop_type" in config or "condition" in config)
        and isinstance(config.get("config"), dict)
    ):
        config = config["config"]
    return config  # type: ignore[no-any-return]


def bicep_value(raw: Any, names: set[str]) -> Value:
    """pycep's rendering of one expression; ``names`` are the file's parameters."""
    if isinstance(raw, bool | int | float) or raw is None:
        return Literal(raw)
    if isinstance(raw, str):
        if raw in names:
            return Ref(snake(raw))
        if "${" in raw:
            return Expr(raw)
        return Literal(raw)
    if isinstance(raw, list) and all(
        isinstance(item, str | int | float | bool) and item not in names for item in raw
    ):
        return Literal(raw)
    if isinstance(raw, dict) and raw.get("function", {}).get("type") == "string":
        inner = raw["function"]["parameters"].get(
            "argument_1", next(iter(raw["function"]["parameters"].values()))
        )
        if isinstance(inner, str) and inner in names:
            return Ref(snake(inner))
    return Expr(repr(raw))


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def bicep(files: Mapping[str, Any], parameter_files: Mapping[str, Any]) -> Flavour:
    flavour = Flavour("bicep")
    main = files["main.bicep"]
    params = set(main["parameters"])
    variables = main["variables"]

    for name, param in main["parameters"].items():
        decorators = {d["type"] for d in param.get("decorators", [])}
        flavour.inputs[snake(name)] = Input(
            default=param.get("default"),
            required=param.get("default") is None,
            secret="secure" in decorators,
        )
    for environment, document in parameter_files.items():
        flavour.environments[environment] = {
            snake(name): entry["value"] for name, entry in document["parameters"].items()
        }
    for name, output in main.get("outputs", {}).items():
        flavour.outputs[name] = repr(output.get("value"))

    for key, raw in variables["appSettings"]["value"].items():
        flavour.app_settings[key] = bicep_value(raw, params)
    for variable in variables.values():
        for node in walk(variable["value"]):
            if (
                isinstance(node, dict)
                and set(node) == {"name", "value"}
                and isinstance(node["name"], str)
                and "${" in node["name"]
            ):
                flavour.indexed_settings[indexed(node["name"])] = repr(node["value"])

    for key, body in variables["cosmosContainers"]["value"].items():
        entry = {snake(k): bicep_value(v, params) for k, v in body.items()}
        entry["key"] = Literal(key)
        flavour.containers[entry["setting"].value] = entry  # type: ignore[union-attr]
    for key, body in variables["servicebusQueues"]["value"].items():
        entry = {snake(k): bicep_value(v, params) for k, v in body.items()}
        entry["key"] = Literal(key)
        flavour.queues[entry["setting"].value] = entry  # type: ignore[union-attr]

    # What every queue gets: the servicebus module's queue properties, with the module's
    # parameters traced back to main.bicep's inputs.
    module = bicep_body(main["modules"]["servicebus"])["params"]
    servicebus = files["modules/servicebus.bicep"]
    properties = bicep_body(servicebus["resources"]["queue"])["properties"]

    def traced(raw: Any) -> Value:
        if isinstance(raw, str) and raw in module:
            return bicep_value(module[raw], params)
        return bicep_value(raw, set(servicebus["parameters"]))

    flavour.queue_resource = {
        "max_delivery_count": traced(properties["maxDeliveryCount"]),
        "lock_duration": traced(properties["lockDuration"]),
        "duplicate_detection": traced(properties["requiresDuplicateDetection"]),
        "duplicate_window": traced(properties["duplicateDetectionHistoryTimeWindow"]),
        "dead_lettering_on_expiry": traced(properties["deadLetteringOnMessageExpiration"]),
    }

    for path, parsed in files.items():
        for resource in parsed.get("resources", {}).values():
            if not resource.get("existing"):
                flavour.resource_types.add(resource["type"])
        if path == "modules/roles.bicep":
            _bicep_roles(flavour, parsed)
    # The grants' principal, traced back to what main.bicep passes to the roles module.
    passed = bicep_body(main["modules"]["roles"])["params"]
    flavour.role_principals = {repr(passed.get(p, p)) for p in flavour.role_principals}
    return flavour


def _bicep_roles(flavour: Flavour, parsed: dict[str, Any]) -> None:
    ids = {
        name: var["value"]
        for name, var in parsed["variables"].items()
        if isinstance(var["value"], str)
    }
    resources = parsed["resources"]
    for resource in resources.values():
        body = bicep_body(resource)
        properties = body.get("properties", {})
        if resource["type"] == "Microsoft.Authorization/roleAssignments":
            role_id = properties["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
            scope_type = resources[body["scope"]]["type"]
        elif resource["type"] == "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments":
            role_id = str(properties["roleDefinitionId"]).rsplit("/", 1)[-1].strip("${}")
            scope_type = resources[body["parent"]]["type"]
        else:
            continue
        role = ROLE_IDS.get(ids.get(role_id, role_id), f"(unknown role {role_id})")
        flavour.roles.add((role, scope_type))
        flavour.role_principals.add(str(properties["principalId"]))
