# Names built from the one environment object, and the catalogue of what the code needs.
locals {
  location_short = {
    italynorth         = "itn"
    westeurope         = "weu"
    northeurope        = "neu"
    germanywestcentral = "gwc"
    swedencentral      = "sdc"
    francecentral      = "frc"
  }

  # "<prefix>-<env>-<region>", e.g. "cstella-prod-itn".
  base = "${var.environment.prefix}-${var.environment.name}-${local.location_short[var.environment.location]}"

  names = {
    resource_group             = "${local.base}-rg"
    identity                   = "${local.base}-func-id"
    plan                       = "${local.base}-asp"
    function_app               = "${local.base}-func"
    storage_account            = "${var.environment.prefix}${var.environment.name}${local.location_short[var.environment.location]}func"
    files_storage_account      = "${var.environment.prefix}${var.environment.name}${local.location_short[var.environment.location]}rtd"
    files_events_topic         = "${local.base}-rtd-egst"
    deployment_container       = "app-package"
    log_analytics              = "${local.base}-log"
    app_insights               = "${local.base}-appi"
    cosmos_account             = "${local.base}-cosmos"
    servicebus                 = "${local.base}-sbns"
    key_vault                  = "${local.base}-kv"
    notification_hub_namespace = "${local.base}-ntfns"
    notification_hub           = "${local.base}-ntf"
    notification_hub_app_rule  = "app-listen-send"
    vnet                       = "${local.base}-vnet"
    nat_gateway                = "${local.base}-ng"
    nat_public_ip              = "${local.base}-ng-pip"
    action_group               = "${local.base}-ag"
  }

  # Azure's naming rules, checked before anything is created (resource_group.tf).
  name_rules = {
    storage_account = can(regex("^[a-z0-9]{3,24}$", local.names.storage_account))
    files_account   = can(regex("^[a-z0-9]{3,24}$", local.names.files_storage_account))
    key_vault       = can(regex("^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$", local.names.key_vault))
    cosmos_account  = can(regex("^[a-z0-9][a-z0-9-]{1,42}[a-z0-9]$", local.names.cosmos_account))
    servicebus      = can(regex("^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$", local.names.servicebus))
    function_app    = length(local.names.function_app) <= 32
  }

  tags = merge(var.tags, {
    project     = "centro-stella"
    environment = var.environment.name
  })

  # Every Cosmos DB container the code uses (shared/platform/resources.py CONTAINERS): the settings
  # name naming it, its name (the setting's default), its partition key path and default TTL
  # (null: off; -1: on, only documents carrying a ttl expire). tests/infra evaluates the container
  # resources built from this against the code.
  cosmos_containers = {
    parties = {
      setting       = "PARTIES_CONTAINER"
      name          = "parties"
      partition_key = "/id"
      default_ttl   = null
      unique_keys   = [] # lists of paths, one list per unique key
    }
    failed_work = {
      setting       = "FAILED_WORK_CONTAINER"
      name          = "failed-work"
      partition_key = "/id"
      default_ttl   = null
      unique_keys   = []
    }
    wallet = {
      setting       = "WALLET_CONTAINER"
      name          = "wallet"
      partition_key = "/pk"
      default_ttl   = -1 # finished instruments and sessions carry a ttl of 90 days
      unique_keys   = []
    }
    push_installations = {
      setting       = "PUSH_INSTALLATIONS_CONTAINER"
      name          = "push-installations"
      partition_key = "/id"
      default_ttl   = null
      unique_keys   = []
    }
    cashback = {
      setting       = "CASHBACK_CONTAINER"
      name          = "cashback"
      partition_key = "/pk"
      default_ttl   = null
      unique_keys   = []
    }
    notices = {
      setting       = "NOTICES_CONTAINER"
      name          = "notices"
      partition_key = "/pk"
      default_ttl   = null
      unique_keys   = []
    }
    notice_bulks = {
      setting       = "NOTICE_BULKS_CONTAINER"
      name          = "notice-bulks"
      partition_key = "/pk"
      default_ttl   = null
      unique_keys   = []
    }
    standin = {
      setting       = "STANDIN_CONTAINER"
      name          = "standin"
      partition_key = "/pk"
      default_ttl   = null
      unique_keys   = []
    }
    payments = {
      setting       = "PAYMENTS_CONTAINER"
      name          = "payments"
      partition_key = "/pk"
      default_ttl   = -1 # ended transactions carry a ttl of their own
      unique_keys   = []
    }
    journal = {
      setting       = "JOURNAL_CONTAINER"
      name          = "journal"
      partition_key = "/pk"
      default_ttl   = -1 # each entry carries JOURNAL_RETENTION_DAYS as its ttl
      unique_keys   = []
    }
  }

  # Every Blob container the code writes to (shared/platform/resources.py BLOB_CONTAINERS), in the
  # host's storage account: the app's identity cannot create containers, so they exist first.
  blob_containers = {
    notice_bulks = {
      setting = "NOTICES_BLOB_CONTAINER"
      name    = "notice-bulks"
    }
    cashback_payouts = {
      setting = "CASHBACK_PAYOUTS_BLOB_CONTAINER"
      name    = "cashback-payouts"
    }
    cashback_lists = {
      setting = "CASHBACK_LISTS_BLOB_CONTAINER"
      name    = "cashback-lists"
    }
    payments_receipts = {
      setting = "PAYMENTS_RECEIPTS_BLOB_CONTAINER"
      name    = "payments-receipts"
    }
    backoffice_print = {
      setting = "BACKOFFICE_PRINT_BLOB_CONTAINER"
      name    = "backoffice-print"
      # print jobs' PDFs hold debtors' data: deleted a day after they are written
      expire_after_days = 1
    }
  }

  # Every Service Bus queue a trigger or a producer names (shared/platform/resources.py QUEUES).
  servicebus_queues = {
    wallet_events = {
      setting                  = "WALLET_EVENTS_QUEUE"
      name                     = "wallet-events"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    push = {
      setting                  = "PUSH_QUEUE"
      name                     = "push"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    cashback_transactions = {
      setting                  = "CASHBACK_TRANSACTIONS_QUEUE"
      name                     = "cashback-transactions"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    cashback_files = {
      setting                  = "CASHBACK_FILES_QUEUE"
      name                     = "cashback-files"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    iban_check = {
      setting                  = "IBAN_CHECK_QUEUE"
      name                     = "iban-check"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    notices = {
      setting                  = "NOTICES_QUEUE"
      name                     = "notices"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    standin_receipts = {
      setting                  = "STANDIN_RECEIPTS_QUEUE"
      name                     = "standin-receipts"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    payments_notices = {
      setting                  = "PAYMENTS_NOTICES_QUEUE"
      name                     = "payments-notices"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    journal = {
      setting                  = "JOURNAL_QUEUE"
      name                     = "journal"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    backoffice_positions = {
      setting                  = "BACKOFFICE_POSITIONS_QUEUE"
      name                     = "backoffice-positions"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
    backoffice_print = {
      setting                  = "BACKOFFICE_PRINT_QUEUE"
      name                     = "backoffice-print"
      lock_seconds             = var.servicebus_lock_duration_seconds
      duplicate_window_seconds = var.servicebus_duplicate_detection_window_seconds
    }
  }

  # Notification Hubs partitions by number ("1", "2", ...): PUSH_HUB_<n>_*.
  notification_hub_partitions = { for index, partition in var.notification_hub_partitions : tostring(index + 1) => partition }

  notification_hubs_connection_secret = { for index, _ in local.notification_hub_partitions : index => "notification-hub-${index}-app" }
}
