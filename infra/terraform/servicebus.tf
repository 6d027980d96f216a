# Service Bus: the namespace and every queue a trigger or a producer names. Keys are off (local
# auth disabled): triggers and senders use the identity (ServiceBusConnection__*).
resource "azurerm_servicebus_namespace" "this" {
  #checkov:skip=CKV_AZURE_202:The namespace calls nothing itself (no customer-managed keys), so it needs no identity of its own.
  #checkov:skip=CKV_AZURE_204:Public network access is off with private_networking (Premium, prod); dev keeps it on, with local auth off so only Entra ID RBAC gets in.
  #checkov:skip=CKV_AZURE_201:Service-managed encryption; customer-managed keys need Premium and a key lifecycle this project does not run.
  #checkov:skip=CKV_AZURE_199:Double encryption needs customer-managed keys (see CKV_AZURE_201).
  name                          = local.names.servicebus
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  sku                           = var.servicebus_sku
  capacity                      = var.servicebus_sku == "Premium" ? var.servicebus_premium_messaging_units : 0
  premium_messaging_partitions  = var.servicebus_sku == "Premium" ? 1 : 0
  local_auth_enabled            = false
  public_network_access_enabled = !var.private_networking
  minimum_tls_version           = "1.2"
  tags                          = local.tags
}

resource "azurerm_servicebus_queue" "this" {
  for_each = local.servicebus_queues

  name                                    = each.value.name
  namespace_id                            = azurerm_servicebus_namespace.this.id
  max_delivery_count                      = var.servicebus_max_delivery_count
  lock_duration                           = "PT${each.value.lock_seconds}S"
  requires_duplicate_detection            = true
  duplicate_detection_history_time_window = "PT${each.value.duplicate_window_seconds}S"
  dead_lettering_on_message_expiration    = var.servicebus_dead_lettering_on_expiry
  default_message_ttl                     = "P${var.servicebus_message_ttl_days}D"
}
