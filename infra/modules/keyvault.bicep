// The Key Vault that keeps the notification sinks' URLs (docs/notifications.md). A webhook URL
// embeds the token that lets anyone post to it: a secret, so the app never holds it in an app
// setting. Each app setting is a Key Vault reference the platform resolves with the managed
// identity (functionapp.bicep keyVaultReferenceIdentity; the role is in roles.bicep).
// https://learn.microsoft.com/azure/app-service/app-service-key-vault-references
//
// RBAC authorization (no access policies), soft delete and purge protection. The deployment
// writes a secret only for a URL it is given (azd env XTENANT_WEBHOOK_URL /
// XTENANT_TEAMS_WEBHOOK_URL); without one the vault stays empty and no setting refers to it.

param name string
param location string
param tags object

@secure()
@description('The generic webhook\'s URL; empty: no secret.')
param webhookUrl string = ''

@secure()
@description('The Teams Workflows webhook\'s URL; empty: no secret.')
param teamsWebhookUrl string = ''

@description('Days a deleted vault or secret can be recovered. Purge protection holds the vault\'s name that long after `azd down` (docs/notifications.md).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 7

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    // As the storage account: Flex Consumption without a virtual network resolves Key Vault
    // references over the public endpoint; every read needs an Entra token with a data role.
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Names the app settings refer to (appsettings.bicep).
var webhookSecretName = 'webhook-url'
var teamsWebhookSecretName = 'teams-webhook-url'

module webhookSecret 'keyvault-secret.bicep' = if (!empty(webhookUrl)) {
  name: 'keyvault-webhook-url'
  params: {
    vaultName: vault.name
    name: webhookSecretName
    value: webhookUrl
  }
}

module teamsWebhookSecret 'keyvault-secret.bicep' = if (!empty(teamsWebhookUrl)) {
  name: 'keyvault-teams-webhook-url'
  params: {
    vaultName: vault.name
    name: teamsWebhookSecretName
    value: teamsWebhookUrl
  }
}

output name string = vault.name
// Versionless (trailing slash): the app follows a rotated secret without a deployment.
output webhookSecretUri string = '${vault.properties.vaultUri}secrets/${webhookSecretName}/'
output teamsWebhookSecretUri string = '${vault.properties.vaultUri}secrets/${teamsWebhookSecretName}/'
