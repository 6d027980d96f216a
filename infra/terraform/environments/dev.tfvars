# Development: scales to zero, public endpoints (Entra ID only), free push tier; outbound calls
# leave through the same NAT Gateway as production's.
# Secrets are not here: TF_VAR_apns_token, TF_VAR_fcm_v1_private_key, TF_VAR_party_secrets.
environment = {
  prefix   = "cstella"
  name     = "dev"
  location = "italynorth"
}

function_instance_memory_mb            = 2048
function_maximum_instances             = 40
function_http_per_instance_concurrency = 32

citizen_jwt_issuer   = "https://app-backend.dev.example.it"
citizen_jwt_audience = "centro-stella"
citizen_jwks_url     = "https://app-backend.dev.example.it/.well-known/jwks.json"

backoffice_client_id = "0b0e0000-0000-4000-8000-00000000c11d"
backoffice_tenant_id = "0b0e0000-0000-4000-8000-0000000071d0"

wallet_psp_id       = "DEMOPSP"
wallet_psp_base_url = "https://psp.dev.example.it"
wallet_return_url   = "https://app-backend.dev.example.it/wallet/onboarding"

cashback_bank_check_url = "https://bank-check.dev.example.it"
cashback_hpan_salt      = "dev-hpan-salt-set-at-onboarding"
cashback_acquirers      = {}

cosmos_capacity_mode = "serverless"
cosmos_database_name = "centro-stella"

servicebus_sku                = "Standard"
servicebus_max_delivery_count = 10

notification_hubs_sku = "Free"
notification_hub_partitions = [
  { digits = "0-f" },
]

private_networking  = false
storage_replication = "LRS"
log_retention_days  = 30
alert_emails        = []
