# Log Analytics and Application Insights. Local (key) authentication is off on both, so telemetry
# is ingested with Entra ID: the identity holds Monitoring Metrics Publisher (identity.tf) and the
# app settings carry APPLICATIONINSIGHTS_AUTHENTICATION_STRING (function_app.tf).
resource "azurerm_log_analytics_workspace" "this" {
  name                         = local.names.log_analytics
  resource_group_name          = azurerm_resource_group.this.name
  location                     = azurerm_resource_group.this.location
  sku                          = "PerGB2018"
  retention_in_days            = var.log_retention_days
  local_authentication_enabled = false
  tags                         = local.tags
}

resource "azurerm_application_insights" "this" {
  name                          = local.names.app_insights
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  workspace_id                  = azurerm_log_analytics_workspace.this.id
  application_type              = "web"
  local_authentication_disabled = true
  tags                          = local.tags
}
