# The Function App's one identity and everything it may do. Each grant covers a data-plane
# operation the code (or the Functions host) performs; tests/infra checks the list against the code.
resource "azurerm_user_assigned_identity" "this" {
  name                = local.names.identity
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

locals {
  # Built-in role definition ids: the same in every tenant (Microsoft's "Azure built-in roles"
  # page); tests/infra checks them against that list and against what the code does.
  built_in_roles = {
    storage_blob_data_owner        = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    storage_queue_data_contributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
    storage_table_data_contributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
    service_bus_data_sender        = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    service_bus_data_receiver      = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
    key_vault_secrets_user         = "4633458b-17de-408a-b874-0445c86b69e6"
    monitoring_metrics_publisher   = "3913510d-42f4-4e42-8a64-420c390055eb"
  }

  role_assignments = {
    # AzureWebJobsStorage (host keys, leases, timer state), the Flex deployment package and the
    # app's blobs (bulk uploads, payout lists, print jobs' blocks); the print jobs' links are
    # user delegation SAS, whose key (generateUserDelegationKey) this role grants too.
    storage_blob = {
      scope = azurerm_storage_account.this.id
      role  = local.built_in_roles.storage_blob_data_owner
    }
    # AzureWebJobsStorage: the host's queues (retries, scale signals).
    storage_queue = {
      scope = azurerm_storage_account.this.id
      role  = local.built_in_roles.storage_queue_data_contributor
    }
    # AzureWebJobsStorage: the host's tables (diagnostic events).
    storage_table = {
      scope = azurerm_storage_account.this.id
      role  = local.built_in_roles.storage_table_data_contributor
    }
    # Acquirers' files (sftp.tf): read, report written next to them, containers on first use.
    files_blob = {
      scope = azurerm_storage_account.files.id
      role  = local.built_in_roles.storage_blob_data_owner
    }
    # Producers, the outbox and dead-letter replays send.
    servicebus_sender = {
      scope = azurerm_servicebus_namespace.this.id
      role  = local.built_in_roles.service_bus_data_sender
    }
    # Queue triggers and the dead-letter operator routes receive.
    servicebus_receiver = {
      scope = azurerm_servicebus_namespace.this.id
      role  = local.built_in_roles.service_bus_data_receiver
    }
    # Key Vault references in app settings and per-party secrets read by name.
    key_vault_secrets = {
      scope = azurerm_key_vault.this.id
      role  = local.built_in_roles.key_vault_secrets_user
    }
    # Telemetry ingestion with Entra ID.
    app_insights = {
      scope = azurerm_application_insights.this.id
      role  = local.built_in_roles.monitoring_metrics_publisher
    }
  }
}

resource "azurerm_role_assignment" "this" {
  for_each = local.role_assignments

  scope              = each.value.scope
  role_definition_id = "/subscriptions/${data.azurerm_client_config.current.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/${each.value.role}"
  principal_id       = azurerm_user_assigned_identity.this.principal_id
  principal_type     = "ServicePrincipal"
}

# Cosmos DB data plane: read and write items (Cosmos DB Built-in Data Contributor). Cosmos DB has
# its own RBAC, separate from Azure role assignments.
resource "azurerm_cosmosdb_sql_role_assignment" "this" {
  resource_group_name = azurerm_resource_group.this.name
  account_name        = azurerm_cosmosdb_account.this.name
  role_definition_id  = "${azurerm_cosmosdb_account.this.id}/sqlRoleDefinitions/00000000-0000-0000-0000-000000000002"
  principal_id        = azurerm_user_assigned_identity.this.principal_id
  scope               = azurerm_cosmosdb_account.this.id
}
