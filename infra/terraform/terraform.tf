# Versions, providers and state. `terraform init -backend-config=...` supplies the state storage
# (see infra/README.md); the state account is created once, outside this configuration.
terraform {
  required_version = ">= 1.9.0" # validations that read other variables

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.42"
    }
    azapi = {
      # The Function App and its plan (azurerm's Flex Consumption resource writes its own
      # AzureWebJobsStorage: function_app.tf), Notification Hubs FCM v1 credentials, and Key
      # Vault secrets written through the control plane (so they can be written with the vault's
      # public network access off); sensitive_body_version needs a 2.x release that has it.
      source  = "Azure/azapi"
      version = "~> 2.6"
    }
  }

  # CI logs in with OpenID Connect (ARM_USE_OIDC=true in the workflow); locally, `az login`.
  backend "azurerm" {
    use_azuread_auth = true
  }
}

# azurerm 4.x needs the subscription: ARM_SUBSCRIPTION_ID in the environment (infra/README.md),
# never written here, so one configuration serves every subscription.
provider "azurerm" {
  features {
    key_vault {
      purge_soft_delete_on_destroy = false
    }
    storage {
      # The storage account refuses public network access in production: reading its queue or
      # blob service properties over the data plane would fail the plan with 403 (azurerm issue
      # 33454). Everything here is written through the management plane.
      data_plane_available = false
    }
  }
  storage_use_azuread = true # the storage account refuses shared keys
}

provider "azapi" {}
