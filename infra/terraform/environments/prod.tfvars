# Production: autoscale Cosmos DB, Premium Service Bus, private endpoints, four push partitions.
# The capacity values (instances, concurrency, always-ready, RU/s, messaging units, hub tier) are
# `python -m bench.capacity`'s output (docs/capacity.md); tests/infra fails when they disagree.
# Secrets are not here: TF_VAR_apns_token, TF_VAR_fcm_v1_private_key, TF_VAR_party_secrets.
environment = {
  prefix   = "cstella"
  name     = "prod"
  location = "italynorth"
}

function_instance_memory_mb            = 2048
function_maximum_instances             = 120
function_memory_quota_mb               = 512000
function_http_per_instance_concurrency = 23
function_zone_redundant                = true
function_always_ready = {
  "http"                            = 4
  "function:push_queue"             = 2
  "function:cashback_score"         = 2
  "function:cashback_wallet_events" = 2
}

citizen_jwt_issuer   = "https://app-backend.example.it"
citizen_jwt_audience = "centro-stella"
citizen_jwks_url     = "https://app-backend.example.it/.well-known/jwks.json"

backoffice_client_id = "0b0e0000-0000-4000-8000-00000000c11d"
backoffice_tenant_id = "0b0e0000-0000-4000-8000-0000000071d0"

wallet_psp_id       = "REPLACE-ME"
wallet_psp_base_url = "https://psp.example.it"
wallet_return_url   = "https://app-backend.example.it/wallet/onboarding"

cashback_bank_check_url = "https://bank-check.example.it"
cashback_hpan_salt      = "prod-hpan-salt-set-at-onboarding"
cashback_acquirers      = {}

cosmos_capacity_mode            = "autoscale"
cosmos_autoscale_max_throughput = 2000
cosmos_container_autoscale_max_throughput = {
  wallet   = 127000
  cashback = 52000
  notices  = 18000
  standin  = 3000
}
cosmos_database_name      = "centro-stella"
cosmos_zone_redundant     = true
cosmos_secondary_location = "westeurope"

servicebus_sku                     = "Premium"
servicebus_premium_messaging_units = 4
servicebus_max_delivery_count      = 10

notification_hubs_sku = "Standard"
notification_hub_partitions = [
  { digits = "0-3" },
  { digits = "4-7" },
  { digits = "8-b" },
  { digits = "c-f" },
]

apns = {
  bundle_id = "it.example.centrostella"
  key_id    = "REPLACE-ME"
  team_id   = "REPLACE-ME"
  endpoint  = "production"
}

fcm_v1 = {
  client_email = "push@centro-stella.iam.gserviceaccount.com"
  project_id   = "centro-stella"
}

private_networking              = true
vnet_address_space              = "10.20.0.0/16"
functions_subnet_prefix         = "10.20.0.0/24"
private_endpoints_subnet_prefix = "10.20.2.0/24"
storage_replication             = "ZRS"
log_retention_days              = 90
alert_emails                    = ["oncall@example.it"]
