# The Function App's one identity and everything it may do. Each grant covers a data-plane
# operation the code (or the Functions host) performs; tests/infra checks the list against the code.
resource "azurerm_user_assigned_identity" "this" {
  name                = local.names.identity
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  tags                = local.tags
}

locals {
  role_assignments = {
    # AzureWebJobsStorage (host keys, leases, timer state) and the Flex deployment package.
    storage_blob = {
      scope = azurerm_storage_account.this.id
      role  = "Storage Blob Data Owner"
    }
    # AzureWebJobsStorage: the host's queues (retries, scale signals).
    storage_queue = {
      scope = azurerm_storage_account.this.id
      role  = "Storage Queue Data Contributor"
    }
    # AzureWebJobsStorage: the host's tables (diagnostic events).
    storage_table = {
      scope = azurerm_storage_account.this.id
      role  = "Storage Table Data Contributor"
    }
    # Producers, the outbox and dead-letter replays send.
    servicebus_sender = {
      scope = azurerm_servicebus_namespace.this.id
      role  = "Azure Service Bus Data Sender"
    }
    # Queue triggers and the dead-letter operator routes receive.
    servicebus_receiver = {
      scope = azurerm_servicebus_namespace.this.id
      role  = "Azure Service Bus Data Receiver"
    }
    # Key Vault references in app settings and per-party secrets read by name.
    key_vault_secrets = {
      scope = azurerm_key_vault.this.id
      role  = "Key Vault Secrets User"
    }
    # Telemetry ingestion with Entra ID.
    app_insights = {
      scope = azurerm_application_insights.this.id
      role  = "Monitoring Metrics Publisher"
    }
  }
}

resource "azurerm_role_assignment" "this" {
  for_each = local.role_assignments

  scope                = each.value.scope
  role_definition_name = each.value.role
  principal_id         = azurerm_user_assigned_identity.this.principal_id
  principal_type       = "ServicePrincipal"
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
