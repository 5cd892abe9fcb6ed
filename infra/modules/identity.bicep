// The one user-assigned managed identity: the app's identity for Storage and Application
// Insights, and the federated credential of the multi-tenant app registration. It must be
// user-assigned: a system-assigned identity cannot be an app's federated credential.
// https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
