# Diagnostic settings to Log Analytics for every resource that has them: all logs (where the
# resource has logs) and all metrics.
locals {
  diagnostic_targets = merge(
    {
      function_app  = { id = azapi_resource.function_app.id, logs = true }
      storage       = { id = azurerm_storage_account.this.id, logs = false } # the account level has metrics only
      storage_blob  = { id = "${azurerm_storage_account.this.id}/blobServices/default", logs = true }
      storage_queue = { id = "${azurerm_storage_account.this.id}/queueServices/default", logs = true }
      storage_table = { id = "${azurerm_storage_account.this.id}/tableServices/default", logs = true }
      cosmos        = { id = azurerm_cosmosdb_account.this.id, logs = true }
      servicebus    = { id = azurerm_servicebus_namespace.this.id, logs = true }
      key_vault     = { id = azurerm_key_vault.this.id, logs = true }
      nat_gateway   = { id = azurerm_nat_gateway.this.id, logs = false } # metrics only (SNAT connections)
    },
    { for index, _ in local.notification_hub_partitions : "notification_hubs_${index}" => { id = azurerm_notification_hub_namespace.this[index].id, logs = true } },
  )
}

resource "azurerm_monitor_diagnostic_setting" "this" {
  for_each = local.diagnostic_targets

  name                       = "to-log-analytics"
  target_resource_id         = each.value.id
  log_analytics_workspace_id = azurerm_log_analytics_workspace.this.id

  dynamic "enabled_log" {
    for_each = each.value.logs ? ["allLogs"] : []
    content {
      category_group = enabled_log.value
    }
  }

  enabled_metric {
    category = "AllMetrics"
  }
}
