# Production: autoscale Cosmos DB, Premium Service Bus, private endpoints, four push partitions.
# Secrets are not here: TF_VAR_apns_token, TF_VAR_fcm_v1_private_key, TF_VAR_party_secrets.
environment = {
  prefix   = "cstella"
  name     = "prod"
  location = "italynorth"
}

function_instance_memory_mb = 2048
function_maximum_instances  = 1000

citizen_jwt_issuer   = "https://app-backend.example.it"
citizen_jwt_audience = "centro-stella"
citizen_jwks_url     = "https://app-backend.example.it/.well-known/jwks.json"

wallet_psp_id       = "REPLACE-ME"
wallet_psp_base_url = "https://psp.example.it"
wallet_return_url   = "https://app-backend.example.it/wallet/onboarding"

cashback_bank_check_url = "https://bank-check.example.it"

cosmos_capacity_mode            = "autoscale"
cosmos_autoscale_max_throughput = 20000
cosmos_database_name            = "centro-stella"
cosmos_zone_redundant           = true

servicebus_sku                     = "Premium"
servicebus_premium_messaging_units = 2
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
private_endpoints_subnet_prefix = "10.20.1.0/24"
storage_replication             = "ZRS"
log_retention_days              = 90
alert_emails                    = ["oncall@example.it"]
