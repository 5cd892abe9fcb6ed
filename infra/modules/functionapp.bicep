// The Flex Consumption plan and the Function App (Python, Linux), running as the user-assigned
// managed identity. App settings are applied by appsettings.bicep once the app registration
// exists: the registration needs this app's host name (its redirect URI), and the settings
// need the registration's client id.
// https://learn.microsoft.com/azure/azure-functions/flex-consumption-how-to

param planName string
param name string
param location string
param tags object

@description('The azd service this app hosts (azure.yaml services.<name>).')
param serviceName string

@description('Resource id of the user-assigned managed identity.')
param identityId string

@description('Blob container URL the deployment package is uploaded to.')
param deploymentContainerUrl string

param pythonVersion string

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    // Key Vault references in app settings are resolved as this identity (it has no
    // system-assigned one): https://learn.microsoft.com/azure/app-service/app-service-key-vault-references
    keyVaultReferenceIdentity: identityId
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      // No ftpsState here: Flex Consumption refuses it (ARM error 51021); FTP is off through
      // the publishing-credentials policy below. What else Flex does not take:
      // https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
      minTlsVersion: '1.2'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No FTP and no basic-auth deployments: azd deploys with the operator's Entra token.
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
