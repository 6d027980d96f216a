# Notification Hubs: one namespace and hub per partition. Notification Hubs has no Entra ID data
# plane, so the app uses a SAS connection string of a hub rule, kept in Key Vault and referenced
# from PUSH_HUB_<n>_CONNECTION. The rule has Listen (the app creates, patches and deletes
# installations: a Send-only rule gets 401 on every one, tests/integration/test_push_client.py)
# and Send (notifications), not Manage (which could rewrite the hub's credentials and rules).
# The hubs are declared with azapi because azurerm has no FCM v1 credential.
resource "azurerm_notification_hub_namespace" "this" {
  for_each = local.notification_hub_partitions

  name                = "${local.names.notification_hub_namespace}-${each.key}"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  namespace_type      = "NotificationHub"
  sku_name            = var.notification_hubs_sku
  tags                = local.tags
}

resource "azapi_resource" "notification_hub" {
  for_each = local.notification_hub_partitions

  type      = "Microsoft.NotificationHubs/namespaces/notificationHubs@2023-10-01-preview"
  name      = "${local.names.notification_hub}-${each.key}"
  parent_id = azurerm_notification_hub_namespace.this[each.key].id
  location  = azurerm_resource_group.this.location
  tags      = local.tags
  body = {
    properties = {}
  }
  sensitive_body = {
    properties = merge(
      var.apns == null ? {} : {
        apnsCredential = {
          properties = {
            appId    = var.apns.team_id
            appName  = var.apns.bundle_id
            keyId    = var.apns.key_id
            token    = var.apns_token
            endpoint = var.apns.endpoint == "production" ? "https://api.push.apple.com:443/3/device" : "https://api.development.push.apple.com:443/3/device"
          }
        }
      },
      var.fcm_v1 == null ? {} : {
        fcmV1Credential = {
          properties = {
            clientEmail = var.fcm_v1.client_email
            projectId   = var.fcm_v1.project_id
            privateKey  = var.fcm_v1_private_key
          }
        }
      },
    )
  }
  # azapi sends sensitive_body only when its version changes: the hashes make a new APNs or FCM
  # credential a plan change (without them, changing a credential would change nothing).
  sensitive_body_version = merge(
    var.apns == null ? {} : { "properties.apnsCredential.properties.token" = sha256(var.apns_token) },
    var.fcm_v1 == null ? {} : { "properties.fcmV1Credential.properties.privateKey" = sha256(var.fcm_v1_private_key) },
  )
}

resource "azurerm_notification_hub_authorization_rule" "app" {
  for_each = local.notification_hub_partitions

  name                  = local.names.notification_hub_app_rule
  notification_hub_name = azapi_resource.notification_hub[each.key].name
  namespace_name        = azurerm_notification_hub_namespace.this[each.key].name
  resource_group_name   = azurerm_resource_group.this.name
  listen                = true # installations
  send                  = true # notifications
  manage                = false
}

locals {
  notification_hub_keys = {
    for index, rule in azurerm_notification_hub_authorization_rule.app :
    index => var.notification_hubs_key_in_use == "primary" ? rule.primary_access_key : rule.secondary_access_key
  }
}

# The rule's connection string, in Key Vault through the control plane; the version-less secret
# URI goes into the app setting, so a rotation needs no app setting change (infra/README.md).
resource "azapi_resource" "notification_hub_connection" {
  for_each = local.notification_hub_partitions

  type      = "Microsoft.KeyVault/vaults/secrets@2023-07-01"
  name      = local.notification_hubs_connection_secret[each.key]
  parent_id = azurerm_key_vault.this.id
  body = {
    properties = {
      contentType = "Notification Hubs connection string (${var.notification_hubs_key_in_use} key)"
    }
  }
  sensitive_body = {
    properties = {
      # The connection string the Notification Hubs portal shows for the rule.
      value = join(";", [
        "Endpoint=sb://${azurerm_notification_hub_namespace.this[each.key].name}.servicebus.windows.net/",
        "SharedAccessKeyName=${azurerm_notification_hub_authorization_rule.app[each.key].name}",
        "SharedAccessKey=${local.notification_hub_keys[each.key]}",
      ])
    }
  }
  # A regenerated key or a flipped notification_hubs_key_in_use writes a new secret version.
  sensitive_body_version = {
    "properties.value" = sha256(local.notification_hub_keys[each.key])
  }
  response_export_values = ["properties.secretUri"]
}
