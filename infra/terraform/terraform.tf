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
      # Notification Hubs FCM v1 credentials and Key Vault secrets written through the control
      # plane (so they can be written with the vault's public network access off).
      source  = "Azure/azapi"
      version = "~> 2.5"
    }
  }

  # CI logs in with OpenID Connect (ARM_USE_OIDC=true in the workflow); locally, `az login`.
  backend "azurerm" {
    use_azuread_auth = true
  }
}

provider "azurerm" {
  features {
    key_vault {
      purge_soft_delete_on_destroy = false
    }
  }
  storage_use_azuread = true # the storage account refuses shared keys
}

provider "azapi" {}
