# Every input, typed, described and validated. Per-environment values are in environments/*.tfvars;
# secrets (push credentials, party secrets) come from TF_VAR_* environment variables only.

variable "environment" {
  description = "Naming: a short project prefix, the environment name and the Azure region. Every resource name is built from it (locals.tf)."
  type = object({
    prefix   = string
    name     = string
    location = string
  })

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment.prefix))
    error_message = "environment.prefix: 2 to 10 lower-case letters or digits, starting with a letter (it goes into the storage account name)."
  }
  validation {
    condition     = contains(["dev", "uat", "prod"], var.environment.name)
    error_message = "environment.name: one of dev, uat, prod."
  }
  validation {
    condition     = contains(["italynorth", "westeurope", "northeurope", "germanywestcentral", "swedencentral", "francecentral"], var.environment.location)
    error_message = "environment.location: a region with a short code in locals.tf (italynorth, westeurope, northeurope, germanywestcentral, swedencentral, francecentral)."
  }
}

variable "tags" {
  description = "Tags added to every resource, beside the environment ones."
  type        = map(string)
  default     = {}
}

# Function App (Flex Consumption)

variable "function_instance_memory_mb" {
  description = "Memory of each Flex Consumption instance, in MB."
  type        = number
  default     = 2048

  validation {
    condition     = contains([512, 2048, 4096], var.function_instance_memory_mb)
    error_message = "function_instance_memory_mb: 512, 2048 or 4096."
  }
}

variable "function_maximum_instances" {
  description = "Most instances the app scales out to. Within the subscription's regional Flex memory quota (function_memory_quota_mb) and the integration subnet (functions_subnet_prefix); production's value comes from the capacity model (docs/capacity.md)."
  type        = number
  default     = 100

  validation {
    condition     = var.function_maximum_instances >= 1 && var.function_maximum_instances <= 1000
    error_message = "function_maximum_instances: from 1 to 1000."
  }
  validation {
    condition     = var.function_maximum_instances * var.function_instance_memory_mb <= var.function_memory_quota_mb
    error_message = "function_maximum_instances x function_instance_memory_mb is over the regional memory quota (function_memory_quota_mb): request more quota first (infra/README.md)."
  }
}

variable "function_memory_quota_mb" {
  description = "The subscription's regional memory quota for Flex Consumption instances, in MB (512,000 by default: 250 instances of 2,048 MB). Raised by a support request (infra/README.md); set it to the granted value."
  type        = number
  default     = 512000
}

variable "function_http_per_instance_concurrency" {
  description = "HTTP requests one instance serves at once (Flex's per-instance concurrency; Python's default is 1). From the measured figure in docs/capacity.md."
  type        = number
  default     = 32

  validation {
    condition     = var.function_http_per_instance_concurrency >= 1 && var.function_http_per_instance_concurrency <= 1000
    error_message = "function_http_per_instance_concurrency: from 1 to 1000."
  }
}

variable "function_always_ready" {
  description = "Always-ready instances per scale group: \"http\" for every HTTP function, \"function:<name>\" for one queue function (Flex scales those one by one). Billed while idle."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for name, count in var.function_always_ready : (name == "http" || startswith(name, "function:")) && count >= 0])
    error_message = "function_always_ready: keys \"http\" or \"function:<name>\", counts of 0 or more."
  }
  validation {
    condition     = sum(concat([0], values(var.function_always_ready))) <= var.function_maximum_instances
    error_message = "function_always_ready: more always-ready instances than function_maximum_instances."
  }
}

variable "function_zone_redundant" {
  description = "Spread the Flex Consumption plan over the region's availability zones (the platform then keeps at least two always-ready instances per scale group)."
  type        = bool
  default     = false
}

variable "citizen_jwt_issuer" {
  description = "CITIZEN_JWT_ISSUER: the `iss` of the app backend's citizen tokens."
  type        = string
}

variable "citizen_jwt_audience" {
  description = "CITIZEN_JWT_AUDIENCE: the `aud` the citizen tokens carry for this service."
  type        = string
}

# The back office's sign-in (App Service authentication with Entra ID): docs/backoffice.md

variable "backoffice_client_id" {
  description = "Client (application) id of the back office's Entra ID app registration. Register https://<function app>/.auth/login/aad/callback as its redirect URI (output backoffice_redirect_uri) and enable ID tokens."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.backoffice_client_id))
    error_message = "backoffice_client_id: a GUID in lower case."
  }
}

variable "backoffice_tenant_id" {
  description = "The Entra ID tenant (directory) id whose users sign in to the back office."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", var.backoffice_tenant_id))
    error_message = "backoffice_tenant_id: a GUID in lower case."
  }
}

variable "citizen_jwks_url" {
  description = "CITIZEN_JWKS_URL: where the app backend publishes its token keys (or set citizen_jwt_public_key)."
  type        = string
  default     = ""

  validation {
    condition     = var.citizen_jwks_url == "" || startswith(var.citizen_jwks_url, "https://")
    error_message = "citizen_jwks_url: an https URL, or empty."
  }
}

variable "citizen_jwt_public_key" {
  description = "CITIZEN_JWT_PUBLIC_KEY: one PEM public key (\\n escapes allowed), when there is no JWKS URL. Public, not a secret."
  type        = string
  default     = ""

  validation {
    condition     = var.citizen_jwt_public_key != "" || var.citizen_jwks_url != ""
    error_message = "Set citizen_jwks_url or citizen_jwt_public_key: the app refuses to start without a way to verify citizen tokens."
  }
}

# Wallet

variable "wallet_psp_id" {
  description = "WALLET_PSP_ID: the party id of the PSP whose hosted page onboards payment instruments (registered in the party registry)."
  type        = string

  validation {
    condition     = length(var.wallet_psp_id) > 0
    error_message = "wallet_psp_id: not empty."
  }
}

variable "wallet_psp_base_url" {
  description = "WALLET_PSP_BASE_URL: the PSP's onboarding API."
  type        = string

  validation {
    condition     = startswith(var.wallet_psp_base_url, "https://")
    error_message = "wallet_psp_base_url: an https URL."
  }
}

variable "wallet_return_url" {
  description = "WALLET_RETURN_URL: where the PSP's hosted page sends the citizen back (the app backend)."
  type        = string

  validation {
    condition     = startswith(var.wallet_return_url, "https://")
    error_message = "wallet_return_url: an https URL."
  }
}

variable "wallet_notification_url" {
  description = "WALLET_NOTIFICATION_URL: the base of the routes where the payment gateway posts onboarding outcomes (https, no query); empty: this app's own address, https://<function app>.azurewebsites.net/api/v1/wallets. Never taken from a request."
  type        = string
  default     = ""

  validation {
    condition     = var.wallet_notification_url == "" || (startswith(var.wallet_notification_url, "https://") && length(regexall("[?#@]", var.wallet_notification_url)) == 0)
    error_message = "wallet_notification_url: empty, or an https URL without credentials, query or fragment."
  }
}

variable "cashback_bank_check_url" {
  description = "CASHBACK_BANK_CHECK_URL: the bank-check service that says whether an IBAN belongs to a citizen."
  type        = string

  validation {
    condition     = startswith(var.cashback_bank_check_url, "https://")
    error_message = "cashback_bank_check_url: an https URL."
  }
}

variable "cashback_hpan_salt" {
  description = "CASHBACK_HPAN_SALT: the salt PANs are hashed with (SHA-256 of PAN + salt), served to acquirers; PSPs and acquirers hold it, so it is not the app's secret."
  type        = string

  validation {
    condition     = length(var.cashback_hpan_salt) >= 16
    error_message = "cashback_hpan_salt: at least 16 characters."
  }
}

variable "cashback_pgp_passphrase_secret" {
  description = "CASHBACK_PGP_PASSPHRASE_SECRET: the Key Vault secret holding the passphrase of the PGP private key (secret cashback-pgp-private-key); empty: the key has none."
  type        = string
  default     = ""
}

variable "cashback_acquirers" {
  description = "Acquirers delivering files by SFTP: party id (capital letters and digits) -> the public SSH keys (OpenSSH format) of its SFTP local user. Each gets a container rtd-<id in lower case> in the files' storage account."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for id, keys in var.cashback_acquirers : can(regex("^[A-Z0-9]{3,40}$", id)) && length(keys) > 0])
    error_message = "cashback_acquirers: party ids of capital letters and digits (3-40), each with at least one SSH key."
  }
}

# Timers: NCRONTAB schedules (second minute hour day month day-of-week), which the timer triggers
# bind by setting name (%OUTBOX_SWEEP_SCHEDULE% and the like).

variable "outbox_sweep_schedule" {
  description = "OUTBOX_SWEEP_SCHEDULE: when the outbox sweep re-sends events left in documents' outboxes."
  type        = string
  default     = "*/30 * * * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.outbox_sweep_schedule))
    error_message = "outbox_sweep_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}

variable "notices_expire_schedule" {
  description = "NOTICES_EXPIRE_SCHEDULE: when valid notices past their expiration date become expired."
  type        = string
  default     = "0 */5 * * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.notices_expire_schedule))
    error_message = "notices_expire_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}

variable "cashback_rank_schedule" {
  description = "CASHBACK_RANK_SCHEDULE: when the periods still taking transactions are ranked."
  type        = string
  default     = "0 0 * * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.cashback_rank_schedule))
    error_message = "cashback_rank_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}

variable "cashback_payouts_schedule" {
  description = "CASHBACK_PAYOUTS_SCHEDULE: when the payout lists of closed periods are written."
  type        = string
  default     = "0 30 2 * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.cashback_payouts_schedule))
    error_message = "cashback_payouts_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}

variable "cashback_hpan_list_schedule" {
  description = "CASHBACK_HPAN_LIST_SCHEDULE: when the list of hashed PANs enabled for cashback is written for acquirers."
  type        = string
  default     = "0 0 1 * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.cashback_hpan_list_schedule))
    error_message = "cashback_hpan_list_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}

variable "standin_evaluate_schedule" {
  description = "STANDIN_EVALUATE_SCHEDULE: when stations in stand-in are probed and the entry and exit rules applied."
  type        = string
  default     = "0 */5 * * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.standin_evaluate_schedule))
    error_message = "standin_evaluate_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}
# Cosmos DB

variable "cosmos_capacity_mode" {
  description = "serverless (pay per request, nothing at idle, one region) or autoscale (provisioned throughput: per container where cosmos_container_autoscale_max_throughput names one, else the database's shared throughput)."
  type        = string
  default     = "serverless"

  validation {
    condition     = contains(["serverless", "autoscale"], var.cosmos_capacity_mode)
    error_message = "cosmos_capacity_mode: serverless or autoscale."
  }
}

variable "cosmos_autoscale_max_throughput" {
  description = "Autoscale only: the maximum RU/s of the database's shared throughput, used by the containers without throughput of their own (it scales between 10% and this)."
  type        = number
  default     = 1000

  validation {
    condition     = var.cosmos_autoscale_max_throughput >= 1000 && var.cosmos_autoscale_max_throughput % 1000 == 0
    error_message = "cosmos_autoscale_max_throughput: a multiple of 1000, at least 1000."
  }
}

variable "cosmos_container_autoscale_max_throughput" {
  description = "Autoscale only: maximum RU/s of the containers with throughput of their own, by container key (wallet, cashback, notices, standin...); from the capacity model (docs/capacity.md)."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for key, max in var.cosmos_container_autoscale_max_throughput : max >= 1000 && max % 1000 == 0])
    error_message = "cosmos_container_autoscale_max_throughput: multiples of 1000, at least 1000."
  }
}

variable "cosmos_secondary_location" {
  description = "A second region for the Cosmos DB account, with automatic failover; empty: one region. Needs autoscale (serverless accounts have one region)."
  type        = string
  default     = ""

  validation {
    condition     = var.cosmos_secondary_location == "" || (var.cosmos_capacity_mode == "autoscale" && var.cosmos_secondary_location != var.environment.location)
    error_message = "cosmos_secondary_location: empty, or a region other than environment.location with cosmos_capacity_mode = autoscale."
  }
}

variable "cosmos_database_name" {
  description = "COSMOS_DATABASE: the NoSQL database holding every container."
  type        = string
  default     = "centro-stella"
}

variable "cosmos_zone_redundant" {
  description = "Spread the Cosmos DB account over availability zones (where the region has them)."
  type        = bool
  default     = false
}

# Service Bus

variable "servicebus_sku" {
  description = "Standard, or Premium (needed for private endpoints)."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Standard", "Premium"], var.servicebus_sku)
    error_message = "servicebus_sku: Standard or Premium."
  }
  validation {
    condition     = !var.private_networking || var.servicebus_sku == "Premium"
    error_message = "Private networking needs the Premium Service Bus tier: Standard has no private endpoints."
  }
}

variable "servicebus_premium_messaging_units" {
  description = "Premium only: messaging units."
  type        = number
  default     = 1

  validation {
    condition     = contains([1, 2, 4, 8, 16], var.servicebus_premium_messaging_units)
    error_message = "servicebus_premium_messaging_units: 1, 2, 4, 8 or 16."
  }
}

variable "servicebus_max_delivery_count" {
  description = "Deliveries before the broker dead-letters a message; also SERVICEBUS_MAX_DELIVERY_COUNT, so the app records the last delivery as failed work."
  type        = number
  default     = 10

  validation {
    condition     = var.servicebus_max_delivery_count >= 1 && var.servicebus_max_delivery_count <= 100
    error_message = "servicebus_max_delivery_count: from 1 to 100 (the app's own limits)."
  }
}

variable "servicebus_lock_duration_seconds" {
  description = "Peek-lock duration of the queues, in seconds (the host renews the lock while a function runs)."
  type        = number
  default     = 60

  validation {
    condition     = var.servicebus_lock_duration_seconds >= 5 && var.servicebus_lock_duration_seconds <= 300
    error_message = "servicebus_lock_duration_seconds: from 5 to 300."
  }
}

variable "servicebus_duplicate_detection_window_seconds" {
  description = "Duplicate detection window of the queues, in seconds: a re-sent message id inside it is dropped."
  type        = number
  default     = 600

  validation {
    condition     = var.servicebus_duplicate_detection_window_seconds >= 20 && var.servicebus_duplicate_detection_window_seconds <= 604800
    error_message = "servicebus_duplicate_detection_window_seconds: from 20 seconds to 7 days."
  }
}

variable "servicebus_dead_lettering_on_expiry" {
  description = "Dead-letter messages whose time to live expires (the operator routes list and replay them) instead of dropping them."
  type        = bool
  default     = true
}

variable "servicebus_message_ttl_days" {
  description = "Time to live of queued messages, in days."
  type        = number
  default     = 14

  validation {
    condition     = var.servicebus_message_ttl_days >= 1 && var.servicebus_message_ttl_days <= 14
    error_message = "servicebus_message_ttl_days: from 1 to 14."
  }
}

# Notification Hubs

variable "notification_hub_partitions" {
  description = "One Notification Hubs namespace and hub per partition, numbered from 1 (PUSH_HUB_<n>_*); `digits` are the hex digits of the installations it holds, as the app reads them (\"0-3\", \"4,5,6\", \"a-f\"). Together they cover 0-f once (the app checks it and reports it on /api/health)."
  type = list(object({
    digits = string
  }))
  default = [{ digits = "0-f" }]

  validation {
    condition     = length(var.notification_hub_partitions) >= 1 && alltrue([for p in var.notification_hub_partitions : can(regex("^[0-9a-f](-[0-9a-f])?(,[0-9a-f](-[0-9a-f])?)*$", p.digits))])
    error_message = "notification_hub_partitions: at least one, each with hex digits and ranges such as 0-3,8,a-f."
  }
}

variable "notification_hubs_sku" {
  description = "Notification Hubs namespace tier: Free (dev: 1M pushes, 500 devices), Basic or Standard."
  type        = string
  default     = "Free"

  validation {
    condition     = contains(["Free", "Basic", "Standard"], var.notification_hubs_sku)
    error_message = "notification_hubs_sku: Free, Basic or Standard."
  }
}

variable "notification_hubs_key_in_use" {
  description = "Which key of each hub's send rule the app uses (primary or secondary): flip it to rotate keys without downtime (infra/README.md)."
  type        = string
  default     = "primary"

  validation {
    condition     = contains(["primary", "secondary"], var.notification_hubs_key_in_use)
    error_message = "notification_hubs_key_in_use: primary or secondary."
  }
}

variable "apns" {
  description = "APNs token authentication of the mobile app: bundle id, key id, team id, and the endpoint (production or sandbox); null leaves the hubs without APNs. Not secret; the token is apns_token."
  type = object({
    bundle_id = string
    key_id    = string
    team_id   = string
    endpoint  = string
  })
  default = null

  validation {
    condition     = var.apns == null ? true : contains(["production", "sandbox"], var.apns.endpoint)
    error_message = "apns.endpoint: production or sandbox."
  }
}

variable "apns_token" {
  description = "APNs signing key (.p8 content). Secret: pass it as TF_VAR_apns_token."
  type        = string
  default     = ""
  sensitive   = true
}

variable "fcm_v1" {
  description = "FCM v1 service account of the mobile app's Firebase project: its client e-mail and project id; null leaves the hubs without FCM. Not secret; the private key is fcm_v1_private_key."
  type = object({
    client_email = string
    project_id   = string
  })
  default = null
}

variable "fcm_v1_private_key" {
  description = "FCM v1 service account private key (PEM). Secret: pass it as TF_VAR_fcm_v1_private_key."
  type        = string
  default     = ""
  sensitive   = true
}

# Key Vault

variable "party_secrets" {
  description = "Per-party secrets (PSP signing secrets, station credentials), secret name => value; the party registry stores the name. Written through the control plane. Secret: TF_VAR_party_secrets."
  type        = map(string)
  default     = {}
  sensitive   = true
}

# Storage

variable "storage_replication" {
  description = "Replication of the Functions storage account (host state and deployment package)."
  type        = string
  default     = "LRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "GZRS"], var.storage_replication)
    error_message = "storage_replication: LRS, ZRS, GRS or GZRS."
  }
}

# Networking

variable "private_networking" {
  description = "Private endpoints for storage, Cosmos DB, Service Bus and Key Vault, and their public network access off. Needs servicebus_sku = Premium. (The VNet integration and the NAT Gateway exist in every environment.)"
  type        = bool
  default     = false
}

variable "vnet_address_space" {
  description = "The VNet's address space (the Function App's integration subnet and, with private networking, the private endpoints)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vnet_address_space, 0))
    error_message = "vnet_address_space: a CIDR block."
  }
}

variable "functions_subnet_prefix" {
  description = "The Function App's integration subnet (delegated to Microsoft.App/environments, behind the NAT Gateway), inside the VNet: one address per instance, twice the maximum while instances are replaced, plus Azure's 5."
  type        = string
  default     = "10.20.0.0/24"

  validation {
    condition     = can(cidrhost(var.functions_subnet_prefix, 0))
    error_message = "functions_subnet_prefix: a CIDR block."
  }
  validation {
    condition     = pow(2, 32 - tonumber(split("/", var.functions_subnet_prefix)[1])) - 5 >= 2 * var.function_maximum_instances
    error_message = "functions_subnet_prefix: too small for function_maximum_instances (it needs 2 x maximum + 5 addresses)."
  }
}

variable "private_endpoints_subnet_prefix" {
  description = "Private networking only: the private endpoints subnet, inside the VNet."
  type        = string
  default     = "10.20.2.0/24"

  validation {
    condition     = can(cidrhost(var.private_endpoints_subnet_prefix, 0))
    error_message = "private_endpoints_subnet_prefix: a CIDR block."
  }
}

# Monitoring

variable "log_retention_days" {
  description = "Log Analytics retention, in days."
  type        = number
  default     = 30

  validation {
    condition     = var.log_retention_days >= 30 && var.log_retention_days <= 730
    error_message = "log_retention_days: from 30 to 730."
  }
}

variable "alert_emails" {
  description = "Who the alerts (queues, failures, 5xx, availability, Cosmos DB, Notification Hubs, SNAT, instances) are e-mailed to."
  type        = list(string)
  default     = []
}

variable "alert_function_failures" {
  description = "Failed function invocations in 5 minutes above which the failure alert fires."
  type        = number
  default     = 5
}

variable "alert_queue_backlog" {
  description = "Active messages on one queue above which the backlog alert fires."
  type        = number
  default     = 10000
}

variable "alert_server_errors" {
  description = "HTTP 5xx answers in 5 minutes above which the 5xx alert fires."
  type        = number
  default     = 50
}

variable "alert_cosmos_ru_percent" {
  description = "Normalized RU consumption (percent of a container's maximum) above which the RU alert fires."
  type        = number
  default     = 90
}

variable "alert_hub_failures" {
  description = "Failed requests or platform (APNs/FCM) errors of one hub in 5 minutes above which its alerts fire."
  type        = number
  default     = 10
}

variable "alert_cosmos_throttled_requests" {
  description = "Cosmos DB requests answered 429 in 5 minutes above which the throttling alert fires."
  type        = number
  default     = 50
}

variable "payments_reconcile_schedule" {
  description = "PAYMENTS_RECONCILE_SCHEDULE: when payments a crash or a timeout left in flight are finished from the gateway's state."
  type        = string
  default     = "0 * * * * *"

  validation {
    condition     = can(regex("^[0-9A-Za-z*/,-]+( [0-9A-Za-z*/,-]+){5}$", var.payments_reconcile_schedule))
    error_message = "payments_reconcile_schedule: six NCRONTAB fields separated by one space (second minute hour day month day-of-week)."
  }
}
