# Names and endpoints only: no key or connection string leaves this configuration.
output "resource_group_name" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.this.name
}

output "function_app_name" {
  description = "The Function App to deploy the package to."
  value       = azapi_resource.function_app.name
}

output "function_app_url" {
  description = "The app's base URL (the API is under /api/)."
  value       = "https://${azapi_resource.function_app.output.properties.defaultHostName}"
}

output "backoffice_redirect_uri" {
  description = "The redirect URI to register on the back office's Entra ID app registration (the platform's sign-in callback)."
  value       = "https://${azapi_resource.function_app.output.properties.defaultHostName}/.auth/login/aad/callback"
}

output "identity_client_id" {
  description = "Client id of the Function App's user-assigned identity."
  value       = azurerm_user_assigned_identity.this.client_id
}

output "cosmos_endpoint" {
  description = "Cosmos DB endpoint."
  value       = azurerm_cosmosdb_account.this.endpoint
}

output "servicebus_namespace" {
  description = "Service Bus fully qualified namespace."
  value       = "${azurerm_servicebus_namespace.this.name}.servicebus.windows.net"
}

output "key_vault_url" {
  description = "Key Vault URL (per-party secrets are written here by name)."
  value       = azurerm_key_vault.this.vault_uri
}

output "outbound_ip_address" {
  description = "The static public IP every outbound call of the app leaves from (the NAT Gateway's): give it to partners that allow callers by address."
  value       = azurerm_public_ip.nat.ip_address
}
