// Writes the Function App's settings as the ones it has now, merged with xtenant's (xtenant's
// value wins on a shared name). Called by appsettings.bicep, which reads the current ones: see
// there, and docs/decisions.md#appsettings-merge.

param functionAppName string

@description('The settings the app has now (list() of sites/config appsettings); may hold values an operator added, so kept out of the deployment history.')
@secure()
param currentAppSettings object

@description('The settings xtenant needs (appsettings.bicep).')
param appSettings object

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource appSettingsConfig 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(currentAppSettings, appSettings)
}
