# The Function App on the Flex Consumption plan (Linux, Python 3.11). Flex takes the runtime from
# its own configuration and refuses FUNCTIONS_WORKER_RUNTIME as an app setting. Scale: HTTP
# per-instance concurrency, always-ready instances and the maximum come from the capacity model
# (docs/capacity.md, python -m bench.capacity). The plan and the site are ARM resources (azapi),
# the same bodies as ../bicep/modules/functionapp.bicep.
resource "azapi_resource" "plan" {
  type      = "Microsoft.Web/serverfarms@2024-04-01"
  name      = local.names.plan
  parent_id = azurerm_resource_group.this.id
  location  = azurerm_resource_group.this.location
  tags      = local.tags

  body = {
    kind = "functionapp"
    sku = {
      tier = "FlexConsumption"
      name = "FC1"
    }
    properties = {
      reserved = true
      # Flex spreads instances over the region's zones and keeps at least two always-ready
      # instances per scale group (Azure reliability guide for Functions).
      zoneRedundant = var.function_zone_redundant
    }
  }
}

locals {
  identity_client_id = azurerm_user_assigned_identity.this.client_id

  # Every app setting. tests/infra evaluates the site's settings against shared/platform/config.py:
  # each Settings field is there (local-only ones aside), each value points at the resource it
  # names, and nothing is there that neither the code, the host nor an SDK reads. There is no
  # AzureWebJobsStorage: the host and the app reach storage with the identity only.
  app_settings_fixed = {
    # Functions host: storage and Service Bus trigger connections through the identity.
    AzureWebJobsStorage__accountName = azurerm_storage_account.this.name
    AzureWebJobsStorage__credential  = "managedidentity"
    AzureWebJobsStorage__clientId    = local.identity_client_id

    ServiceBusConnection__fullyQualifiedNamespace = "${azurerm_servicebus_namespace.this.name}.servicebus.windows.net"
    ServiceBusConnection__credential              = "managedidentity"
    ServiceBusConnection__clientId                = local.identity_client_id

    # Telemetry ingestion with Entra ID (local auth is off on Application Insights).
    APPLICATIONINSIGHTS_CONNECTION_STRING     = azurerm_application_insights.this.connection_string
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "Authorization=AAD;ClientId=${local.identity_client_id}"
    # host.json's telemetryMode is OpenTelemetry: the worker streams its own spans and logs in the
    # host's trace, so host and worker telemetry correlate.
    PYTHON_ENABLE_OPENTELEMETRY = "true"

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
    OUTBOX_SWEEP_SCHEDULE       = var.outbox_sweep_schedule
    NOTICES_EXPIRE_SCHEDULE     = var.notices_expire_schedule
    CASHBACK_RANK_SCHEDULE      = var.cashback_rank_schedule
    CASHBACK_PAYOUTS_SCHEDULE   = var.cashback_payouts_schedule
    CASHBACK_HPAN_LIST_SCHEDULE = var.cashback_hpan_list_schedule
    STANDIN_EVALUATE_SCHEDULE   = var.standin_evaluate_schedule
    PAYMENTS_RECONCILE_SCHEDULE = var.payments_reconcile_schedule

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
    WALLET_NOTIFICATION_URL = coalesce(var.wallet_notification_url, "https://${local.names.function_app}.azurewebsites.net/api/v1/wallets")
    WALLET_SESSION_MINUTES  = "30"
    WALLET_MAX_INSTRUMENTS  = "20"

    # Cashback: empty CASHBACK_PERIODS means the programme's production periods.
    CASHBACK_PERIODS                    = ""
    CASHBACK_CONTAINER                  = azurerm_cosmosdb_sql_container.this["cashback"].name
    CASHBACK_TRANSACTIONS_QUEUE         = azurerm_servicebus_queue.this["cashback_transactions"].name
    IBAN_CHECK_QUEUE                    = azurerm_servicebus_queue.this["iban_check"].name
    CASHBACK_BANK_CHECK_URL             = var.cashback_bank_check_url
    CASHBACK_BANK_CHECK_TIMEOUT_SECONDS = "5"
    CASHBACK_PAYOUTS_BLOB_CONTAINER     = azurerm_storage_container.app["cashback_payouts"].name
    # Acquirers' files (sftp.tf): the SFTP-enabled account, its blob-created events' queue.
    CASHBACK_FILES_QUEUE            = azurerm_servicebus_queue.this["cashback_files"].name
    CASHBACK_FILES_STORAGE_ACCOUNT  = azurerm_storage_account.files.name
    CASHBACK_FILES_CONTAINER_PREFIX = local.files_container_prefix
    CASHBACK_FILES_LOCAL_EVENTS     = "false"
    CASHBACK_FILES_SLICE_SECONDS    = "150" # under host.json's functionTimeout (300 s), with the skip on resume
    CASHBACK_PGP_PRIVATE_KEY_SECRET = "cashback-pgp-private-key"
    CASHBACK_PGP_PASSPHRASE_SECRET  = var.cashback_pgp_passphrase_secret
    CASHBACK_HPAN_SALT              = var.cashback_hpan_salt
    CASHBACK_LISTS_BLOB_CONTAINER   = azurerm_storage_container.app["cashback_lists"].name

    # Notices: the archive and its bulk uploads (blobs in the host's storage account).
    NOTICES_CONTAINER        = azurerm_cosmosdb_sql_container.this["notices"].name
    NOTICE_BULKS_CONTAINER   = azurerm_cosmosdb_sql_container.this["notice_bulks"].name
    NOTICES_QUEUE            = azurerm_servicebus_queue.this["notices"].name
    NOTICES_BLOB_CONTAINER   = azurerm_storage_container.app["notice_bulks"].name
    NOTICES_BULK_CHUNK_LINES = "500"
    NOTICES_BULK_CONCURRENCY = "16"

    # Stand-in: payments, stations and traffic counters; receipts on their way to ECs.
    STANDIN_CONTAINER               = azurerm_cosmosdb_sql_container.this["standin"].name
    PAYMENTS_CONTAINER              = azurerm_cosmosdb_sql_container.this["payments"].name
    PAYMENTS_PSP_ID                 = var.wallet_psp_id
    PAYMENTS_PSP_FEES               = "{\"${var.wallet_psp_id}\": 100}"
    PAYMENTS_STUCK_SECONDS          = "120"
    PAYMENTS_CRASH_AFTER_CHARGE     = "false"
    STANDIN_RECEIPTS_QUEUE          = azurerm_servicebus_queue.this["standin_receipts"].name
    PAYMENTS_NOTICES_QUEUE          = azurerm_servicebus_queue.this["payments_notices"].name
    JOURNAL_CONTAINER               = azurerm_cosmosdb_sql_container.this["journal"].name
    JOURNAL_QUEUE                   = azurerm_servicebus_queue.this["journal"].name
    JOURNAL_RETENTION_DAYS          = "3650"
    BACKOFFICE_POSITIONS_QUEUE      = azurerm_servicebus_queue.this["backoffice_positions"].name
    BACKOFFICE_PRINT_QUEUE          = azurerm_servicebus_queue.this["backoffice_print"].name
    STANDIN_TOKEN_MINUTES           = "30"
    STANDIN_STATION_TIMEOUT_SECONDS = "5"
    STANDIN_WINDOW_MINUTES          = "30"
    STANDIN_FAULT_RATE              = "0.5"
    STANDIN_FAULTY_SLOTS            = "0.5"
    STANDIN_DAY_TRAFFIC_SHARE       = "0.05"
    STANDIN_NIGHT_TRAFFIC_SHARE     = "0.10"
    STANDIN_RECEIPT_MAX_ATTEMPTS    = "48"
    STANDIN_EXCLUDED_STATIONS       = ""

    # Payments: citizens' receipt PDFs, rendered once and kept in the host's storage account.
    PAYMENTS_RECEIPTS_BLOB_CONTAINER = azurerm_storage_container.app["payments_receipts"].name

    # Back office: print jobs (state and PDF), read through a user delegation SAS.
    BACKOFFICE_PRINT_BLOB_CONTAINER = azurerm_storage_container.app["backoffice_print"].name

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

    # The platform's authentication runs in front of the app (backoffice_auth.tf): the app may
    # read the signed-in user from X-MS-CLIENT-PRINCIPAL.
    PLATFORM_AUTH_ENABLED = "true"
  }

  # Notification Hubs partitions (PUSH_HUB_<n>_*): the connection string is a Key Vault reference.
  app_settings_indexed = merge([for index, partition in local.notification_hub_partitions : {
    "PUSH_HUB_${index}_CONNECTION" = "@Microsoft.KeyVault(SecretUri=${azapi_resource.notification_hub_connection[index].output.properties.secretUri})"
    "PUSH_HUB_${index}_NAME"       = azapi_resource.notification_hub[index].name
    "PUSH_HUB_${index}_DIGITS"     = partition.digits
  }]...)

  app_settings = merge(local.app_settings_fixed, local.app_settings_indexed)
}

# The site is declared through the ARM API (azapi) rather than azurerm's Flex Consumption
# resource: that resource always writes its own AzureWebJobsStorage connection string, with an
# empty AccountKey when the identity is used (azurerm issues 29693, 30732 and 29149), and the
# Functions host prefers it over the AzureWebJobsStorage__* identity settings
# (azure-functions-host issue 11796): with shared keys off the host, and the app, could not
# start. Here the app settings are exactly the ones below, the same body as
# ../bicep/modules/functionapp.bicep.
resource "azapi_resource" "function_app" {
  type      = "Microsoft.Web/sites@2024-04-01"
  name      = local.names.function_app
  parent_id = azurerm_resource_group.this.id
  location  = azurerm_resource_group.this.location
  tags      = merge(local.tags, { "azd-service-name" = "api" })

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.this.id]
  }

  body = {
    kind = "functionapp,linux"
    properties = {
      serverFarmId              = azapi_resource.plan.id
      httpsOnly                 = true
      publicNetworkAccess       = "Enabled"
      clientCertMode            = "Optional"
      keyVaultReferenceIdentity = azurerm_user_assigned_identity.this.id
      virtualNetworkSubnetId    = azurerm_subnet.functions.id
      siteConfig = {
        minTlsVersion = "1.2"
        ftpsState     = "Disabled"
        http20Enabled = true
        appSettings   = [for name, value in local.app_settings : { name = name, value = value }]
      }
      functionAppConfig = {
        deployment = {
          storage = {
            type  = "blobContainer"
            value = "${azurerm_storage_account.this.primary_blob_endpoint}${azurerm_storage_container.deployment.name}"
            authentication = {
              type                           = "UserAssignedIdentity"
              userAssignedIdentityResourceId = azurerm_user_assigned_identity.this.id
            }
          }
        }
        scaleAndConcurrency = {
          instanceMemoryMB     = var.function_instance_memory_mb
          maximumInstanceCount = var.function_maximum_instances
          alwaysReady          = [for name, count in var.function_always_ready : { name = name, instanceCount = count }]
          triggers = {
            http = {
              perInstanceConcurrency = var.function_http_per_instance_concurrency
            }
          }
        }
        runtime = {
          name    = "python"
          version = "3.11"
        }
      }
    }
  }
  response_export_values = ["properties.defaultHostName"]

  # The app starts reading Key Vault references, its storage and Cosmos DB at once: its rights,
  # the secrets it references and, with private networking, the private endpoints and the DNS
  # links that make those names resolve inside the VNet must exist first.
  depends_on = [
    azurerm_role_assignment.this,
    azurerm_cosmosdb_sql_role_assignment.this,
    azapi_resource.notification_hub_connection,
    azapi_resource.party_secret,
    azurerm_storage_container.app,
    azurerm_private_endpoint.this,
    azurerm_private_dns_zone_virtual_network_link.this,
    azurerm_subnet_nat_gateway_association.functions,
  ]
}

# No FTP and no basic-auth publishing: deployments use Entra ID (the workflow's OIDC login).
resource "azapi_update_resource" "ftp_off" {
  for_each = toset(["ftp", "scm"])

  type      = "Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01"
  name      = each.key
  parent_id = azapi_resource.function_app.id
  body = {
    properties = {
      allow = false
    }
  }
}
