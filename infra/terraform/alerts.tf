# Alerts, one metric alert per line of local.metric_alerts (the same list as
# ../bicep/modules/alerts.bicep): queue backlog and dead letters per queue, function failures,
# 5xx and availability of /api/health, Cosmos DB 429s and RU consumption, Notification Hubs
# failures and platform (PNS) errors per hub, failed SNAT connections on the NAT Gateway, and
# instances nearing the maximum the memory quota allows.
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

# /api/health from three European locations every five minutes (anonymous: it says nothing
# about citizens, only whether each dependency answers).
resource "azurerm_application_insights_standard_web_test" "health" {
  name                    = "${local.base}-health"
  resource_group_name     = azurerm_resource_group.this.name
  location                = azurerm_resource_group.this.location
  application_insights_id = azurerm_application_insights.this.id
  geo_locations           = ["emea-nl-ams-azr", "emea-gb-db3-azr", "emea-fr-pra-edge"]
  frequency               = 300
  timeout                 = 30
  enabled                 = true
  tags                    = local.tags

  request {
    url       = "https://${azapi_resource.function_app.output.properties.defaultHostName}/api/health"
    http_verb = "GET"
  }

  validation_rules {
    expected_status_code = 200
  }
}

locals {
  # Every alert: what it watches (a resource, a metric, its dimensions), when it fires, and what
  # the on-call should look at. tests/infra checks the list against what the app relies on.
  metric_alerts = merge(
    {
      queue_backlog = {
        scope       = azurerm_servicebus_namespace.this.id
        namespace   = "Microsoft.ServiceBus/namespaces"
        metric      = "ActiveMessages"
        aggregation = "Maximum"
        operator    = "GreaterThan"
        threshold   = var.alert_queue_backlog
        dimensions  = { EntityName = ["*"] }
        description = "A queue is backing up: its consumer is failing, throttled or at its maximum instances."
      }
      dead_letters = {
        scope       = azurerm_servicebus_namespace.this.id
        namespace   = "Microsoft.ServiceBus/namespaces"
        metric      = "DeadletteredMessages"
        aggregation = "Maximum"
        operator    = "GreaterThan"
        threshold   = 0
        dimensions  = { EntityName = ["*"] }
        description = "Dead-lettered messages on a queue (list and replay them through the operator routes)."
      }
      function_failures = {
        scope       = azurerm_application_insights.this.id
        namespace   = "Microsoft.Insights/components"
        metric      = "requests/failed"
        aggregation = "Count"
        operator    = "GreaterThan"
        threshold   = var.alert_function_failures
        dimensions  = {}
        description = "Function invocations are failing."
      }
      http_5xx = {
        scope       = azapi_resource.function_app.id
        namespace   = "Microsoft.Web/sites"
        metric      = "Http5xx"
        aggregation = "Total"
        operator    = "GreaterThan"
        threshold   = var.alert_server_errors
        dimensions  = {}
        description = "The API answers 5xx: a dependency is down or throttling (503) or the app fails (500)."
      }
      availability = {
        scope       = azurerm_application_insights.this.id
        namespace   = "Microsoft.Insights/components"
        metric      = "availabilityResults/availabilityPercentage"
        aggregation = "Average"
        operator    = "LessThan"
        threshold   = 100
        dimensions  = {}
        description = "/api/health failed from at least one location: a dependency is down or the app does not start."
      }
      cosmos_throttling = {
        scope       = azurerm_cosmosdb_account.this.id
        namespace   = "Microsoft.DocumentDB/databaseAccounts"
        metric      = "TotalRequests"
        aggregation = "Count"
        operator    = "GreaterThan"
        threshold   = var.alert_cosmos_throttled_requests
        dimensions  = { StatusCode = ["429"] }
        description = "Cosmos DB is throttling requests (429): raise the container's autoscale maximum or look for a hot partition."
      }
      cosmos_ru = {
        scope       = azurerm_cosmosdb_account.this.id
        namespace   = "Microsoft.DocumentDB/databaseAccounts"
        metric      = "NormalizedRUConsumption"
        aggregation = "Maximum"
        operator    = "GreaterThan"
        threshold   = var.alert_cosmos_ru_percent
        dimensions  = { CollectionName = ["*"] }
        description = "A container uses most of its autoscale maximum: 429s come next."
      }
      snat_failures = {
        scope       = azurerm_nat_gateway.this.id
        namespace   = "Microsoft.Network/natGateways"
        metric      = "SNATConnectionCount"
        aggregation = "Total"
        operator    = "GreaterThan"
        threshold   = 0
        dimensions  = { ConnectionState = ["Failed"] }
        description = "Outbound connections fail at the NAT Gateway: SNAT ports are running out (add a public IP) or a partner refuses."
      }
      instances = {
        scope       = azapi_resource.function_app.id
        namespace   = "Microsoft.Web/sites"
        metric      = "InstanceCount"
        aggregation = "Maximum"
        operator    = "GreaterThan"
        threshold   = floor(var.function_maximum_instances * 0.8)
        dimensions  = {}
        description = "The app runs over 80% of its maximum instances, which the regional memory quota caps: request more quota (infra/README.md)."
      }
    },
    merge([for index, _ in local.notification_hub_partitions : {
      "hub_${index}_failed_requests" = {
        scope       = azapi_resource.notification_hub[index].id
        namespace   = "Microsoft.NotificationHubs/namespaces/notificationHubs"
        metric      = "incoming.all.failedrequests"
        aggregation = "Total"
        operator    = "GreaterThan"
        threshold   = var.alert_hub_failures
        dimensions  = {}
        description = "Notification Hubs refuses requests (throttling, quota, credentials)."
      }
      "hub_${index}_pns_errors" = {
        scope       = azapi_resource.notification_hub[index].id
        namespace   = "Microsoft.NotificationHubs/namespaces/notificationHubs"
        metric      = "outgoing.allpns.pnserror"
        aggregation = "Total"
        operator    = "GreaterThan"
        threshold   = var.alert_hub_failures
        dimensions  = {}
        description = "APNs or FCM refuse notifications: check the hub's credentials."
      }
    }]...),
  )
}

resource "azurerm_monitor_metric_alert" "this" {
  for_each = local.metric_alerts

  name                = "${local.base}-${replace(each.key, "_", "-")}"
  resource_group_name = azurerm_resource_group.this.name
  scopes              = [each.value.scope]
  description         = each.value.description
  severity            = 2
  frequency           = "PT1M"
  window_size         = "PT5M"
  tags                = local.tags

  criteria {
    metric_namespace = each.value.namespace
    metric_name      = each.value.metric
    aggregation      = each.value.aggregation
    operator         = each.value.operator
    threshold        = each.value.threshold

    dynamic "dimension" {
      for_each = each.value.dimensions
      content {
        name     = dimension.key
        operator = "Include"
        values   = dimension.value
      }
    }
  }

  action {
    action_group_id = azurerm_monitor_action_group.this.id
  }
}
