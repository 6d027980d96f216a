# Alerts: dead letters growing, function failures, Cosmos DB throttling (429s).
resource "azurerm_monitor_action_group" "this" {
  name                = local.names.action_group
  resource_group_name = azurerm_resource_group.this.name
  short_name          = "cstella"
  tags                = local.tags

  dynamic "email_receiver" {
    for_each = var.alert_emails
    content {
      name                    = "email-${email_receiver.key}"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }
}

# Every dead letter is work that ended outside the app's own failed-work record: look at it.
resource "azurerm_monitor_metric_alert" "dead_letters" {
  name                = "${local.base}-dead-letters"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_servicebus_namespace.this.id]
  description         = "Dead-lettered messages are growing on a queue (list and replay them through the operator routes)."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT15M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.ServiceBus/namespaces"
    metric_name      = "DeadletteredMessages"
    aggregation      = "Maximum"
    operator         = "GreaterThan"
    threshold        = 0

    dimension {
      name     = "EntityName"
      operator = "Include"
      values   = ["*"]
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.this.id
  }
}

resource "azurerm_monitor_metric_alert" "function_failures" {
  name                = "${local.base}-function-failures"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_application_insights.this.id]
  description         = "Function invocations are failing."
  severity            = 2
  frequency           = "PT1M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.Insights/components"
    metric_name      = "requests/failed"
    aggregation      = "Count"
    operator         = "GreaterThan"
    threshold        = var.alert_function_failures
  }

  action {
    action_group_id = azurerm_monitor_action_group.this.id
  }
}

resource "azurerm_monitor_metric_alert" "cosmos_throttling" {
  name                = "${local.base}-cosmos-429"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [azurerm_cosmosdb_account.this.id]
  description         = "Cosmos DB is throttling requests (429): raise the autoscale maximum or look for a hot partition."
  severity            = 2
  frequency           = "PT1M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = "Microsoft.DocumentDB/databaseAccounts"
    metric_name      = "TotalRequests"
    aggregation      = "Count"
    operator         = "GreaterThan"
    threshold        = var.alert_cosmos_throttled_requests

    dimension {
      name     = "StatusCode"
      operator = "Include"
      values   = ["429"]
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.this.id
  }
}
