// Every setting the app reads at start (shared/settings.py Settings.from_env, shared/storage.py
// storage_config) and the identity-based host storage and telemetry connections. Nothing here is
// a secret: the notification sinks' URLs are, so their settings are Key Vault references, and
// only for a sink the deployment was given. IDENTITY_ENDPOINT and IDENTITY_HEADER are set by
// the platform.
// tests/unit/test_infra.py checks this list against shared/settings.py.
//
// Writing sites/config 'appsettings' replaces the whole list, so a plain write would delete every
// setting an operator added by hand at each `azd up`. As the Azure Verified Modules site module
// does, the current settings are read here and handed to a nested module that writes them merged
// with these (ours win on a shared name): docs/decisions.md#appsettings-merge.

param functionAppName string

@description('The multi-tenant app registration\'s client id; empty until it exists (national clouds: docs/deploying.md).')
param appClientId string

@description('The user-assigned managed identity\'s client id.')
param managedIdentityClientId string

@description('The home tenant of the app registration and the managed identity: operators\' tokens come from it.')
param homeTenantId string

@description('https://<function app default host name>: the consent redirect URI and status URLs are built from it.')
param publicUrl string

@description('public, usgov or china (shared/settings.py Cloud).')
param cloud string

@description('NCRONTAB of the scheduled run.')
param schedule string

param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param appInsightsConnectionString string

@description('The generic webhook URL\'s secret (versionless URI); empty: no such sink.')
param webhookSecretUri string = ''

@description('The Teams webhook URL\'s secret (versionless URI); empty: no such sink.')
param teamsWebhookSecretUri string = ''

var settings = {
  APP_CLIENT_ID: appClientId
  AZURE_CLIENT_ID: managedIdentityClientId
  AZURE_TENANT_ID: homeTenantId
  XTENANT_PUBLIC_URL: publicUrl
  AZURE_CLOUD: cloud
  XTENANT_AUTH_MODE: 'managed_identity'
  SCHEDULE: schedule
  AzureWebJobsStorage__blobServiceUri: blobEndpoint
  AzureWebJobsStorage__queueServiceUri: queueEndpoint
  AzureWebJobsStorage__tableServiceUri: tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: managedIdentityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${managedIdentityClientId};Authorization=AAD'
}

// A sink's setting refers to its secret; the platform puts the URL in the app's environment.
var sinkSettings = union(
  empty(webhookSecretUri) ? {} : {
    XTENANT_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
  },
  empty(teamsWebhookSecretUri) ? {} : {
    XTENANT_TEAMS_WEBHOOK_URL: '@Microsoft.KeyVault(SecretUri=${teamsWebhookSecretUri})'
  }
)

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

// Read in this deployment, written in the nested one: a template that read and wrote the same
// config in one deployment would depend on itself.
module merged 'appsettings-merge.bicep' = {
  name: 'appsettings-merge'
  params: {
    functionAppName: site.name
    currentAppSettings: list('${site.id}/config/appsettings', '2024-04-01').properties
    appSettings: union(settings, sinkSettings)
  }
}
