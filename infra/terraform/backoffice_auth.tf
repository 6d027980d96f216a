# The back office's sign-in: App Service authentication ("Easy Auth") with Entra ID in front of
# the app. It lets unauthenticated requests through (AllowAnonymous): machine callers keep their
# own credentials, and only the back office asks for a signed-in user, whom the platform passes
# to the app as X-MS-CLIENT-PRINCIPAL (PLATFORM_AUTH_ENABLED, function_app.tf). Same body as
# ../bicep/modules/functionapp.bicep. The sign-in uses the ID token of the app registration
# (no client secret to keep); docs/backoffice.md.
resource "azapi_resource" "backoffice_auth" {
  type      = "Microsoft.Web/sites/config@2024-04-01"
  name      = "authsettingsV2"
  parent_id = azapi_resource.function_app.id

  body = {
    properties = {
      platform = {
        enabled = true
      }
      globalValidation = {
        requireAuthentication       = false
        unauthenticatedClientAction = "AllowAnonymous"
      }
      httpSettings = {
        requireHttps = true
      }
      identityProviders = {
        azureActiveDirectory = {
          enabled = true
          registration = {
            clientId     = var.backoffice_client_id
            openIdIssuer = "https://login.microsoftonline.com/${var.backoffice_tenant_id}/v2.0"
          }
        }
      }
      login = {
        tokenStore = {
          enabled = true
        }
      }
    }
  }
}
