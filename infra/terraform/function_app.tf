# The Function App on the Flex Consumption plan (Linux, Python 3.11). Flex takes the runtime from
# its own configuration and refuses FUNCTIONS_WORKER_RUNTIME as an app setting.
resource "azurerm_service_plan" "this" {
  #checkov:skip=CKV_AZURE_212:Flex Consumption (FC1) scales per instance; a minimum worker count does not apply.
  #checkov:skip=CKV_AZURE_225:Flex Consumption (FC1) has no zone-redundancy setting on the plan.
  name                = local.names.plan
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = local.tags
}

locals {
  identity_client_id = azurerm_user_assigned_identity.this.client_id

  # Every app setting. tests/infra checks them against shared/platform/config.py: each Settings field is
  # here (local-only ones aside), and nothing is here that neither the code, the host nor an SDK
  # reads. APPLICATIONINSIGHTS_CONNECTION_STRING is set through site_config below.
  app_settings_fixed = {
    # Functions host: storage and Service Bus trigger connections through the identity.
    AzureWebJobsStorage__accountName = azurerm_storage_account.this.name
    AzureWebJobsStorage__credential  = "managedidentity"
    AzureWebJobsStorage__clientId    = local.identity_client_id

    ServiceBusConnection__fullyQualifiedNamespace = "${azurerm_servicebus_namespace.this.name}.servicebus.windows.net"
    ServiceBusConnection__credential              = "managedidentity"
    ServiceBusConnection__clientId                = local.identity_client_id

    # Telemetry ingestion with Entra ID (local auth is off on Application Insights).
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD;ClientId=${local.identity_client_id}"

    # DefaultAzureCredential (Cosmos DB, Service Bus, Key Vault) picks the user-assigned identity.
    AZURE_CLIENT_ID = local.identity_client_id

    # Cosmos DB: no COSMOS_KEY, so the app uses its identity.
    COSMOS_ENDPOINT              = azurerm_cosmosdb_account.this.endpoint
    COSMOS_DATABASE              = azurerm_cosmosdb_sql_database.this.name
    COSMOS_ENDPOINT_DISCOVERY    = "true"
    COSMOS_TIMEOUT_SECONDS       = "5"
    PARTIES_CONTAINER            = azurerm_cosmosdb_sql_container.this["parties"].name
    FAILED_WORK_CONTAINER        = azurerm_cosmosdb_sql_container.this["failed_work"].name
    WALLET_CONTAINER             = azurerm_cosmosdb_sql_container.this["wallet"].name
    PUSH_INSTALLATIONS_CONTAINER = azurerm_cosmosdb_sql_container.this["push_installations"].name

    # Service Bus
    SERVICEBUS_TIMEOUT_SECONDS    = "5"
    SERVICEBUS_MAX_DELIVERY_COUNT = tostring(var.servicebus_max_delivery_count)
    RESCHEDULE_MAX_ATTEMPTS       = "8"
    RESCHEDULE_BASE_SECONDS       = "60"
    RESCHEDULE_CAP_SECONDS        = "3600"
    WALLET_EVENTS_QUEUE           = azurerm_servicebus_queue.this["wallet_events"].name
    PUSH_QUEUE                    = azurerm_servicebus_queue.this["push"].name

    # Timers (NCRONTAB), bound by the timer triggers as %NAME_SCHEDULE%.
    OUTBOX_SWEEP_SCHEDULE     = var.outbox_sweep_schedule
    NOTICES_EXPIRE_SCHEDULE   = var.notices_expire_schedule
    CASHBACK_RANK_SCHEDULE    = var.cashback_rank_schedule
    CASHBACK_PAYOUTS_SCHEDULE = var.cashback_payouts_schedule
    STANDIN_EVALUATE_SCHEDULE = var.standin_evaluate_schedule

    # Push: one keep-alive session per Notification Hubs namespace (the hubs are PUSH_HUB_<n>_*).
    PUSH_CONNECTOR_LIMIT          = "32"
    PUSH_CONNECTOR_LIMIT_PER_HOST = "32"
    PUSH_KEEPALIVE_SECONDS        = "60"
    PUSH_TIMEOUT_SECONDS          = "10"
    PUSH_CONNECT_TIMEOUT_SECONDS  = "3"
    PUSH_RETRY_ATTEMPTS           = "3"
    PUSH_RETRY_BASE_SECONDS       = "0.2"
    PUSH_RETRY_CAP_SECONDS        = "5"
    PUSH_SAS_TTL_SECONDS          = "3600"
    PUSH_SAS_RENEW_SECONDS        = "300"

    # Wallet: onboarding through the PSP's hosted page.
    WALLET_PSP_ID              = var.wallet_psp_id
    WALLET_PSP_BASE_URL        = var.wallet_psp_base_url
    WALLET_PSP_TIMEOUT_SECONDS = "5"
    WALLET_RETURN_URL          = var.wallet_return_url
    # Where PSPs post outcomes: configuration only, by default this app's own address (the app
    # refuses to onboard, and /api/health reports it, when it is empty).
    WALLET_NOTIFICATION_URL = coalesce(var.wallet_notification_url, "https://${local.names.function_app}.azurewebsites.net/api/v1/wallet/psp/notifications")
    WALLET_SESSION_MINUTES  = "30"
    WALLET_MAX_INSTRUMENTS  = "20"

    # Cashback: empty CASHBACK_PERIODS means the programme's production periods.
    CASHBACK_PERIODS                    = ""
    CASHBACK_CONTAINER                  = azurerm_cosmosdb_sql_container.this["cashback"].name
    CASHBACK_TRANSACTIONS_QUEUE         = azurerm_servicebus_queue.this["cashback_transactions"].name
    IBAN_CHECK_QUEUE                    = azurerm_servicebus_queue.this["iban_check"].name
    CASHBACK_BANK_CHECK_URL             = var.cashback_bank_check_url
    CASHBACK_BANK_CHECK_TIMEOUT_SECONDS = "5"
    CASHBACK_PAYOUTS_BLOB_CONTAINER     = "cashback-payouts"

    # Notices: the archive and its bulk uploads (blobs in the host's storage account).
    NOTICES_CONTAINER        = azurerm_cosmosdb_sql_container.this["notices"].name
    NOTICE_BULKS_CONTAINER   = azurerm_cosmosdb_sql_container.this["notice_bulks"].name
    NOTICES_QUEUE            = azurerm_servicebus_queue.this["notices"].name
    NOTICES_BLOB_CONTAINER   = "notice-bulks"
    NOTICES_BULK_CHUNK_LINES = "500"
    NOTICES_BULK_CONCURRENCY = "16"

    # Stand-in: payments, stations and traffic counters; receipts on their way to ECs.
    STANDIN_CONTAINER               = azurerm_cosmosdb_sql_container.this["standin"].name
    STANDIN_RECEIPTS_QUEUE          = azurerm_servicebus_queue.this["standin_receipts"].name
    STANDIN_TOKEN_MINUTES           = "30"
    STANDIN_STATION_TIMEOUT_SECONDS = "5"
    STANDIN_WINDOW_MINUTES          = "30"
    STANDIN_FAULT_RATE              = "0.5"
    STANDIN_FAULTY_SLOTS            = "0.5"
    STANDIN_DAY_TRAFFIC_SHARE       = "0.05"
    STANDIN_NIGHT_TRAFFIC_SHARE     = "0.10"
    STANDIN_RECEIPT_MAX_ATTEMPTS    = "48"

    # Citizens' tokens
    CITIZEN_JWT_ISSUER     = var.citizen_jwt_issuer
    CITIZEN_JWT_AUDIENCE   = var.citizen_jwt_audience
    CITIZEN_JWKS_URL       = var.citizen_jwks_url
    CITIZEN_JWT_PUBLIC_KEY = var.citizen_jwt_public_key

    # Secrets read by name through the SDK
    KEY_VAULT_URL = azurerm_key_vault.this.vault_uri

    # Health
    HEALTH_TIMEOUT_SECONDS = "2"
    HEALTH_CACHE_SECONDS   = "10"
  }

  # Notification Hubs partitions (PUSH_HUB_<n>_*): the connection string is a Key Vault reference.
  app_settings_indexed = merge([for index, partition in local.notification_hub_partitions : {
    "PUSH_HUB_${index}_CONNECTION" = "@Microsoft.KeyVault(SecretUri=${azapi_resource.notification_hub_connection[index].output.properties.secretUri})"
    "PUSH_HUB_${index}_NAME"       = azapi_resource.notification_hub[index].name
    "PUSH_HUB_${index}_DIGITS"     = partition.digits
  }]...)

  app_settings = merge(local.app_settings_fixed, local.app_settings_indexed)
}

resource "azurerm_function_app_flex_consumption" "this" {
  name                                           = local.names.function_app
  resource_group_name                            = azurerm_resource_group.this.name
  location                                       = azurerm_resource_group.this.location
  service_plan_id                                = azurerm_service_plan.this.id
  runtime_name                                   = "python"
  runtime_version                                = "3.11"
  instance_memory_in_mb                          = var.function_instance_memory_mb
  maximum_instance_count                         = var.function_maximum_instances
  storage_container_type                         = "blobContainer"
  storage_container_endpoint                     = "${azurerm_storage_account.this.primary_blob_endpoint}${azurerm_storage_container.deployment.name}"
  storage_authentication_type                    = "UserAssignedIdentity"
  storage_user_assigned_identity_id              = azurerm_user_assigned_identity.this.id
  https_only                                     = true
  public_network_access_enabled                  = true
  client_certificate_mode                        = "Optional"
  webdeploy_publish_basic_authentication_enabled = false
  virtual_network_subnet_id                      = var.private_networking ? azurerm_subnet.functions[0].id : null
  key_vault_reference_identity_id                = azurerm_user_assigned_identity.this.id
  app_settings                                   = local.app_settings
  tags                                           = merge(local.tags, { "azd-service-name" = "api" })

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.this.id]
  }

  site_config {
    minimum_tls_version                    = "1.2"
    http2_enabled                          = true
    application_insights_connection_string = azurerm_application_insights.this.connection_string
  }

  depends_on = [azurerm_role_assignment.this]
}

# No FTP and no basic-auth publishing: deployments use Entra ID (the workflow's OIDC login).
resource "azapi_update_resource" "ftp_off" {
  for_each = toset(["ftp", "scm"])

  type      = "Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01"
  name      = each.key
  parent_id = azurerm_function_app_flex_consumption.this.id
  body = {
    properties = {
      allow = false
    }
  }
}
