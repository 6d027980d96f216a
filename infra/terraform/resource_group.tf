resource "azurerm_resource_group" "this" {
  name     = local.names.resource_group
  location = var.environment.location
  tags     = local.tags

  lifecycle {
    precondition {
      condition     = alltrue(values(local.name_rules))
      error_message = "Some names break Azure's rules: ${join(", ", [for name, ok in local.name_rules : name if !ok])}. Shorten environment.prefix."
    }
  }
}

data "azurerm_client_config" "current" {}
