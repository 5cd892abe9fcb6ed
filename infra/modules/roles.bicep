// Least privilege for the managed identity: data roles on the one storage account, the right
// to publish telemetry to the one Application Insights component, and to read the secrets of
// the one Key Vault (the platform resolves the app's Key Vault references with it). Nothing at
// resource-group or subscription scope, no control-plane role, no account keys.

param storageAccountName string
param appInsightsName string
param keyVaultName string
param principalId string

// Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var storageRoles = [
  {
    id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
    role: 'Storage Blob Data Owner'
    why: 'The Functions host keeps leases, timer state and keys in blobs; Flex Consumption reads the deployment package.'
  }
  {
    id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
    role: 'Storage Queue Data Contributor'
    why: 'Runs fan out one message per tenant job; the queue trigger reads, deletes and poisons them.'
  }
  {
    id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
    role: 'Storage Table Data Contributor'
    why: 'The tenant registry, the run ledger and the single-use onboarding states.'
  }
]
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in storageRoles: {
  name: guid(account.id, principalId, role.id)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.id)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: '${role.role}: ${role.why}'
  }
}]

resource telemetryRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, principalId, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Monitoring Metrics Publisher: send telemetry to Application Insights with an Entra token (local auth is off).'
  }
}

resource secretsRoleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Key Vault Secrets User: the platform resolves the app\'s Key Vault references (the notification sinks\' URLs) as the managed identity.'
  }
}
