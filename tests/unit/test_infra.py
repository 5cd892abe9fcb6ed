"""infra/ against the code it deploys: settings, names, permissions, roles, the consent route.

The Bicep cannot be deployed here (no Azure, no Bicep CLI); these tests read it with
pycep-parser and compare what it declares with what the app's code requires, so a renamed
setting, queue, table, job permission or route fails here rather than at `azd up`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools import infracheck
from shared import ledger, messages, notify, tenants
from shared.auth import audit
from shared.auth.roles import Role
from shared.console.signin import CALLBACK_PATH
from shared.jobs import JOBS
from shared.settings import CLOUDS, AuthMode, Cloud, Settings, SettingsError
from shared.storage import storage_config

INFRA = infracheck.INFRA
ROOT = infracheck.ROOT
NATIONAL_CLOUD_SCRIPT = INFRA / "scripts" / "register-app-national-cloud.sh"
#: Set by the Functions platform on Azure, never by the template.
PLATFORM_SETTINGS = {"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}
ROLE_IDS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
}
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bicep(name: str) -> dict[str, Any]:
    return infracheck.parse_bicep(INFRA / name)


def unquoted(mapping: dict[str, Any]) -> dict[str, Any]:
    """pycep keeps the quotes of quoted object keys ('guest-cleanup')."""
    return {key.strip("'"): value for key, value in mapping.items()}


def main_variable(name: str) -> Any:
    return bicep("main.bicep")["variables"][name]["value"]


def app_settings() -> dict[str, Any]:
    """The settings xtenant writes (merged with the app's current ones by appsettings-merge)."""
    return dict(bicep("modules/appsettings.bicep")["variables"]["settings"]["value"])


def config_writers() -> list[str]:
    """Every `file:resource` that writes a Microsoft.Web/sites/config (existing ones only read)."""
    return [
        f"{path.relative_to(INFRA)}:{name}"
        for path in infracheck.bicep_files(INFRA)
        for name, r in infracheck.parse_bicep(path).get("resources", {}).items()
        if r["type"] == "Microsoft.Web/sites/config" and not r["existing"]
    ]


def required_settings() -> set[str]:
    """What Settings.from_env reports missing in an empty environment (managed identity)."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({})
    return {m.group(1) for p in refused.value.problems if (m := re.match(r"missing (\w+)", p))}


def function_json() -> list[str]:
    """Each function's bindings as the host indexes them (function.json)."""
    import function_app

    # get_functions() rejects names it has seen before (azure-functions 1.26): forget them, as
    # devtools/devhost does, since other tests index the same imported app.
    function_app.app.functions_bindings = None
    return [function.get_function_json() for function in function_app.app.get_functions()]


def test_every_bicep_file_parses() -> None:
    files = infracheck.bicep_files(INFRA)

    assert len(files) >= 8
    assert infracheck.parse_problems(files) == []


def test_a_file_that_does_not_parse_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text("param name string\nresource r 'A/b@1' = {\n  name: \n}\n")

    problems = infracheck.parse_problems([broken], relative_to=tmp_path)

    assert len(problems) == 1
    assert problems[0].startswith("broken.bicep:4:1: ")


def test_every_setting_the_app_requires_is_set_by_the_template() -> None:
    required = required_settings()
    declared = set(app_settings())

    assert {"APP_CLIENT_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "XTENANT_PUBLIC_URL"} <= required
    assert required - PLATFORM_SETTINGS <= declared
    assert {"AZURE_CLOUD", "XTENANT_AUTH_MODE", "SCHEDULE"} <= declared
    assert app_settings()["XTENANT_AUTH_MODE"] == AuthMode.MANAGED_IDENTITY.value


def test_the_local_settings_sample_names_every_setting_the_app_requires() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]

    assert required_settings() <= set(sample)


def test_every_app_setting_a_trigger_binds_is_set_by_the_template() -> None:
    bound = {name for bindings in function_json() for name in re.findall(r"%(\w+)%", bindings)}

    assert bound
    assert bound <= set(app_settings())


def test_host_storage_is_identity_based_with_the_managed_identity() -> None:
    settings = app_settings()
    storage = {k: "https://stand-in/" for k in settings if k.startswith("AzureWebJobsStorage__")}
    storage["AzureWebJobsStorage__credential"] = settings["AzureWebJobsStorage__credential"]

    config = storage_config(storage)

    assert "AzureWebJobsStorage" not in settings  # no connection string, no account key
    assert {"blobServiceUri", "queueServiceUri", "tableServiceUri", "clientId"} <= {
        k.split("__")[1] for k in storage
    }
    assert config.connection_string is None
    assert settings["AzureWebJobsStorage__clientId"] == settings["AZURE_CLIENT_ID"]
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${managedIdentityClientId};Authorization=AAD"
    )


def test_the_storage_account_refuses_keys_and_old_tls() -> None:
    account = bicep("modules/storage.bicep")["resources"]["account"]["config"]["properties"]

    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"


def test_queues_and_tables_are_the_ones_the_code_uses() -> None:
    assert main_variable("queueNames") == [
        messages.QUEUE,
        messages.POISON_QUEUE,
        notify.EVENTS_QUEUE,
        notify.EVENTS_POISON_QUEUE,
    ]
    assert main_variable("tableNames") == [tenants.TABLE, ledger.TABLE, audit.TABLE]


def test_each_jobs_graph_permissions_match_the_job_in_code() -> None:
    declared = unquoted(main_variable("jobPermissions"))
    allowed = bicep("main.bicep")["parameters"]["jobs"]["decorators"]

    assert declared == {name: list(job.permissions) for name, job in JOBS.items()}
    assert {"type": "allowed", "argument": sorted(JOBS, key=list(declared).index)} in allowed


def test_every_permission_has_a_graph_app_role_id_and_one_place_in_the_order() -> None:
    roles = unquoted(main_variable("graphAppRoles"))
    permissions = {p for job in JOBS.values() for p in job.permissions}

    assert set(roles) == permissions
    assert all(_GUID.match(role_id) for role_id in roles.values())
    assert len(set(roles.values())) == len(roles)
    assert sorted(main_variable("permissionOrder")) == sorted(permissions)
    # https://learn.microsoft.com/graph/permissions-reference (application permissions)
    assert roles["User.ReadWrite.All"] == "741f803b-c850-494e-b5df-cde7c675a1ca"


def test_clouds_match_the_settings_cloud_table() -> None:
    clouds = main_variable("clouds")

    assert {c["name"] for c in clouds.values()} == {c.value for c in Cloud}
    for spec in clouds.values():
        endpoints = CLOUDS[Cloud(spec["name"])]
        assert spec["graph"] == endpoints.graph_endpoint
        assert spec["tokenExchangeAudience"] == endpoints.token_exchange_audience


def test_role_assignments_are_the_data_roles_and_metrics_publisher_only() -> None:
    roles = bicep("modules/roles.bicep")
    storage_roles = {r["id"] for r in roles["variables"]["storageRoles"]["value"]}
    assignments = {
        name: r["config"]
        for name, r in roles["resources"].items()
        if r["type"] == "Microsoft.Authorization/roleAssignments"
    }
    scopes = {
        name: (c.get("config") or c)["scope"]  # a loop nests its body one level down
        for name, c in assignments.items()
    }
    elsewhere = [
        path.name
        for path in infracheck.bicep_files(INFRA)
        if path.name != "roles.bicep"
        and "Microsoft.Authorization/roleAssignments" in path.read_text()
    ]

    assert storage_roles == set(ROLE_IDS)
    assert roles["variables"]["monitoringMetricsPublisher"]["value"] == MONITORING_METRICS_PUBLISHER
    assert roles["variables"]["keyVaultSecretsUser"]["value"] == KEY_VAULT_SECRETS_USER
    assert scopes == {
        "storageRoleAssignments": "account",
        "telemetryRoleAssignment": "appInsights",
        "secretsRoleAssignment": "vault",
    }
    assert elsewhere == []


def test_the_app_registration_is_multi_tenant_with_the_managed_identity_as_its_credential() -> None:
    resources = bicep("modules/appregistration.bicep")["resources"]
    app = resources["app"]["config"]
    credential = resources["app__managedIdentityCredential"]["config"]

    assert app["signInAudience"] == "AzureADMultipleOrgs"
    assert app["web"]["redirectUris"] == ["redirectUri", "consoleRedirectUri"]
    assert app["requiredResourceAccess"][0]["resourceAppId"] == "microsoftGraphAppId"
    assert (
        credential["issuer"]
        == "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0"
    )
    assert credential["subject"] == "managedIdentityPrincipalId"
    assert credential["audiences"] == ["tokenExchangeAudience"]
    assert resources["servicePrincipal"]["type"] == "Microsoft.Graph/servicePrincipals"


def test_the_home_tenant_and_the_public_url_come_from_the_deployment() -> None:
    settings = bicep("main.bicep")["modules"]["appSettings"]["config"]["params"]

    assert app_settings()["AZURE_TENANT_ID"] == "homeTenantId"
    assert app_settings()["XTENANT_PUBLIC_URL"] == "publicUrl"
    assert settings["homeTenantId"]["operator"]["operands"] == {
        "operand_1": {"function": {"type": "tenant"}},
        "operand_2": "tenantId",
    }
    assert settings["publicUrl"] == "publicUrl"
    assert main_variable("publicUrl") == "https://${functionApp.outputs.defaultHostName}"


def app_registration() -> dict[str, Any]:
    return bicep("modules/appregistration.bicep")


def test_the_app_roles_are_the_roles_the_code_checks_for_users_and_applications() -> None:
    registration = app_registration()
    roles = registration["variables"]["operatorRoles"]["value"]
    each = registration["variables"]["appRoles"]["value"]["config"]["function"]["parameters"]
    app = registration["resources"]["app"]["config"]

    assert [r["value"] for r in roles] == [role.value for role in Role]
    assert all(_GUID.match(r["id"]) for r in roles)
    assert len({r["id"] for r in roles}) == len(roles)
    assert each["arg_2"] == {"allowedMemberTypes": ["User", "Application"], "isEnabled": True}
    assert app["appRoles"] == "appRoles"


def test_operators_get_v2_tokens_through_the_azure_cli_for_api_client_id() -> None:
    registration = app_registration()
    variables = registration["variables"]
    api = variables["operatorApi"]["value"]
    access = registration["resources"]["operatorApiAccess"]["config"]
    extra = access["api"]["function"]["parameters"]

    assert api["requestedAccessTokenVersion"] == 2
    assert api["oauth2PermissionScopes"][0]["value"] == "user_impersonation"
    assert registration["resources"]["app"]["config"]["api"] == "operatorApi"
    assert access["uniqueName"]["operator"]["operands"] == {
        "operand_1": "app",
        "operand_2": "uniqueName",
    }
    assert access["identifierUris"] == ["api://${app.appId}"]
    assert extra["arg_1"] == "operatorApi"
    own_app_id = {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "app", "operand_2": "appId"},
        }
    }
    assert extra["arg_2"]["preAuthorizedApplications"] == [
        {"appId": "azureCliAppId", "delegatedPermissionIds": ["operatorScopeId"]},
        # the console signs operators in with the app itself (shared/console/signin.py)
        {"appId": own_app_id, "delegatedPermissionIds": ["operatorScopeId"]},
    ]
    assert variables["azureCliAppId"]["value"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


def test_only_callers_assigned_a_role_get_a_token_for_the_api() -> None:
    principal = app_registration()["resources"]["servicePrincipal"]["config"]

    assert principal["appRoleAssignmentRequired"] is True


def test_the_redirect_uri_is_the_apps_consent_callback_route() -> None:
    routes = {m.group(1) for b in function_json() if (m := re.search(r'"route": "([^"]+)"', b))}

    assert main_variable("redirectUri").endswith("/api/consent/callback")
    assert "consent/callback" in routes


def test_the_second_redirect_uri_is_the_consoles_sign_in_callback() -> None:
    routes = {m.group(1) for b in function_json() if (m := re.search(r'"route": "([^"]+)"', b))}

    assert main_variable("consoleRedirectUri") == f"${{publicUrl}}{CALLBACK_PATH}"
    assert CALLBACK_PATH == "/api/console/auth/callback"
    assert "console/{*path}" in routes


def test_the_checkov_baseline_gives_a_reason_for_every_skipped_check() -> None:
    skips, problems = infracheck.baseline_skips(INFRA / infracheck.BASELINE)

    assert problems == []
    assert skips
    assert all(len(reason) >= 20 for reason in skips.values())


def test_the_fake_cloud_grants_what_the_app_registration_requests() -> None:
    from devtools.fakecloud.scenario import APP_REQUIRED_ROLES

    assert list(APP_REQUIRED_ROLES) == main_variable("permissionOrder")


def test_the_function_app_sets_no_ftps_state_which_flex_consumption_refuses() -> None:
    site = bicep("modules/functionapp.bicep")["resources"]["site"]["config"]
    ftp_policy = bicep("modules/functionapp.bicep")["resources"]["ftp"]["config"]

    assert "ftpsState" not in site["properties"]["siteConfig"]
    assert ftp_policy["properties"] == {"allow": False}


def test_azd_must_be_recent_enough_to_bundle_the_bicep_the_graph_types_need() -> None:
    project = (ROOT / "azure.yaml").read_text()
    config = (INFRA / "bicepconfig.json").read_text()
    guide = (ROOT / "docs" / "deploying.md").read_text()

    assert re.search(r'^requiredVersions:\n  azd: ">= 1\.17\.0"$', project, re.MULTILINE)
    assert "microsoftgraph/v1.0:1.0.0" in config
    assert "1.17.0" in guide


def test_app_settings_are_merged_with_the_ones_the_app_already_has() -> None:
    writer = bicep("modules/appsettings.bicep")
    merge = bicep("modules/appsettings-merge.bicep")
    params = writer["modules"]["merged"]["config"]["params"]
    current = params["currentAppSettings"]["operator"]["operands"]
    written = merge["resources"]["appSettingsConfig"]["config"]

    assert writer["modules"]["merged"]["detail"]["path"] == "appsettings-merge.bicep"
    assert current["operand_1"]["function"]["type"] == "list"
    assert current["operand_1"]["function"]["parameters"]["arg_1"] == (
        "${site.id}/config/appsettings"
    )
    assert params["appSettings"]["function"] == {
        "type": "union",
        "parameters": {"arg_1": "settings", "arg_2": "sinkSettings"},
    }
    assert written["name"] == "appsettings"
    assert written["properties"]["function"] == {
        "type": "union",
        "parameters": {"arg_1": "currentAppSettings", "arg_2": "appSettings"},
    }
    assert {"type": "secure"} in merge["parameters"]["currentAppSettings"]["decorators"]
    assert config_writers() == ["modules/appsettings-merge.bicep:appSettingsConfig"]


def test_the_app_registration_is_deployed_by_bicep_in_the_public_cloud_only() -> None:
    main = bicep("main.bicep")
    text = (INFRA / "main.bicep").read_text()
    registration = main["modules"]["appRegistration"]["config"]
    settings = main["modules"]["appSettings"]["config"]["params"]
    outputs = main["outputs"]

    assert "var isPublicCloud = environment().name == 'AzureCloud'" in text
    assert registration["condition"] == "isPublicCloud"
    assert settings["appClientId"] == "registeredAppClientId"
    assert main["parameters"]["appClientId"]["default"] == ""
    assert {"MANAGED_IDENTITY_PRINCIPAL_ID", "FEDERATION_ISSUER", "FEDERATION_AUDIENCE"} <= set(
        outputs
    )
    assert "register-app-national-cloud.sh" in text


def test_the_national_cloud_client_id_is_an_azd_parameter() -> None:
    parameters = (INFRA / "main.parameters.json").read_text()

    assert '"appClientId": {\n      "value": "${XTENANT_APP_CLIENT_ID=}"' in parameters


def test_the_national_cloud_script_is_strict_bash_naming_both_audiences() -> None:
    script = NATIONAL_CLOUD_SCRIPT.read_text()

    assert os.access(NATIONAL_CLOUD_SCRIPT, os.X_OK)
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in script
    for audience in ("api://AzureADTokenExchangeUSGov", "api://AzureADTokenExchangeChina"):
        assert audience in script
        assert audience in {c.token_exchange_audience for c in CLOUDS.values()}
    assert subprocess.run(["bash", "-n", str(NATIONAL_CLOUD_SCRIPT)], check=False).returncode == 0


_FAKE_AZ = """#!/usr/bin/env bash
# Answers as az would for a first run against an empty tenant; logs each call, one per line.
printf '%s\\n' "$*" >> "$AZ_LOG"
case "$1 $2 $3 $4" in
  "cloud show "*) echo "$AZ_CLOUD" ;;
  "account show "*) echo "$AZ_TENANT" ;;
  "ad app list "*) echo "" ;;
  "ad app create "*) echo "44444444-4444-4444-4444-444444444444" ;;
  "ad sp show "*) exit 3 ;;
  "ad app federated-credential list") echo "" ;;
esac
exit 0
"""
MI_PRINCIPAL = "22222222-2222-2222-2222-222222222222"
HOME_TENANT = "33333333-3333-3333-3333-333333333333"


def run_national_cloud_script(tmp_path: Path, cloud: str, *args: str) -> tuple[int, list[str]]:
    """The script against a stand-in `az` signed in to `cloud`; its exit code and az calls."""
    fake = tmp_path / "bin" / "az"
    fake.parent.mkdir()
    fake.write_text(_FAKE_AZ)
    fake.chmod(0o755)
    log = tmp_path / "az.log"
    env = os.environ | {
        "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}",
        "AZ_LOG": str(log),
        "AZ_CLOUD": cloud,
        "AZ_TENANT": HOME_TENANT,
    }
    done = subprocess.run(
        [str(NATIONAL_CLOUD_SCRIPT), *args], env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize(
    ("cloud", "issuer_host", "audience"),
    [
        ("AzureUSGovernment", "login.microsoftonline.us", "api://AzureADTokenExchangeUSGov"),
        ("AzureChinaCloud", "login.chinacloudapi.cn", "api://AzureADTokenExchangeChina"),
    ],
)
def test_the_national_cloud_script_federates_the_identity_with_that_clouds_issuer(
    tmp_path: Path, cloud: str, issuer_host: str, audience: str
) -> None:
    code, calls = run_national_cloud_script(
        tmp_path,
        cloud,
        *("--cloud", cloud, "--app-name", "xtenant", "--mi-principal-id", MI_PRINCIPAL),
        *("--home-tenant", HOME_TENANT, "--graph-roles", "741f803b-c850-494e-b5df-cde7c675a1ca"),
    )
    app_id = "44444444-4444-4444-4444-444444444444"
    created = next(c for c in calls if c.startswith("ad app create "))
    credential = next(c for c in calls if c.startswith("ad app federated-credential create "))

    assert code == 0
    assert "--sign-in-audience AzureADMultipleOrgs" in created
    assert '{"id":"741f803b-c850-494e-b5df-cde7c675a1ca","type":"Role"}' in created
    assert f"ad sp create --id {app_id} --query id -o tsv" in calls
    assert f'"issuer":"https://{issuer_host}/{HOME_TENANT}/v2.0"' in credential
    assert f'"subject":"{MI_PRINCIPAL}"' in credential
    assert f'"audiences":["{audience}"]' in credential
    assert f"ad sp update --id {app_id} --set appRoleAssignmentRequired=true" in calls


def test_the_national_cloud_script_sets_up_the_operators_api_as_the_bicep_does(
    tmp_path: Path,
) -> None:
    code, calls = run_national_cloud_script(
        tmp_path,
        "AzureUSGovernment",
        *("--cloud", "usgov", "--app-name", "xtenant", "--mi-principal-id", MI_PRINCIPAL),
        *("--home-tenant", HOME_TENANT),
    )
    patches = [c for c in calls if c.startswith("rest --method PATCH ")]
    roles = app_registration()["variables"]["operatorRoles"]["value"]
    scope_id = app_registration()["variables"]["operatorScopeId"]["value"]

    assert code == 0
    assert len(patches) == 2
    assert "https://graph.microsoft.us/v1.0/applications(appId=" in patches[0]
    assert '"identifierUris":["api://44444444-4444-4444-4444-444444444444"]' in patches[0]
    assert '"requestedAccessTokenVersion":2' in patches[0]
    for role in roles:
        assert f'"id":"{role["id"]}","value":"{role["value"]}"' in patches[0]
    assert '"allowedMemberTypes":["User","Application"]' in patches[0]
    assert '"preAuthorizedApplications"' not in patches[0]
    assert (
        '"preAuthorizedApplications":[{"appId":"04b07795-8ddb-461a-bbee-02f9e1bf7b46",'
        f'"delegatedPermissionIds":["{scope_id}"]}},'
        '{"appId":"44444444-4444-4444-4444-444444444444",'
        f'"delegatedPermissionIds":["{scope_id}"]}}]' in patches[1]
    )


def test_the_national_cloud_script_stops_when_az_is_signed_in_to_another_cloud(
    tmp_path: Path,
) -> None:
    code, calls = run_national_cloud_script(
        tmp_path,
        "AzureCloud",
        *("--cloud", "usgov", "--app-name", "xtenant", "--mi-principal-id", MI_PRINCIPAL),
        *("--home-tenant", HOME_TENANT),
    )

    assert code == 1
    assert not [c for c in calls if c.startswith("ad ")]


def test_the_deployment_package_leaves_out_caches() -> None:
    ignored = set((ROOT / ".funcignore").read_text().splitlines())

    assert {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"} <= ignored


# --- notifications: the sinks' URLs are secrets, kept in a Key Vault -------------------------


def test_the_key_vault_uses_rbac_with_soft_delete_and_purge_protection() -> None:
    vault = bicep("modules/keyvault.bicep")["resources"]["vault"]["config"]["properties"]

    assert vault["enableRbacAuthorization"] is True
    assert vault["enableSoftDelete"] is True
    assert vault["enablePurgeProtection"] is True
    assert "accessPolicies" not in vault


def test_the_app_reads_key_vault_references_as_its_managed_identity() -> None:
    site = bicep("modules/functionapp.bicep")["resources"]["site"]["config"]["properties"]

    assert site["keyVaultReferenceIdentity"] == "identityId"


def test_a_sink_url_is_an_azd_secret_and_its_setting_a_key_vault_reference_only_when_given() -> (
    None
):
    main = bicep("main.bicep")
    parameters = (INFRA / "main.parameters.json").read_text()
    sinks = bicep("modules/appsettings.bicep")["variables"]["sinkSettings"]["value"]
    given = main["modules"]["appSettings"]["config"]["params"]

    for param, env, setting, uri in (
        ("webhookUrl", "XTENANT_WEBHOOK_URL", "XTENANT_WEBHOOK_URL", "webhookSecretUri"),
        (
            "teamsWebhookUrl",
            "XTENANT_TEAMS_WEBHOOK_URL",
            "XTENANT_TEAMS_WEBHOOK_URL",
            "teamsWebhookSecretUri",
        ),
    ):
        assert {"type": "secure"} in main["parameters"][param]["decorators"]
        assert f'"{param}": {{\n      "value": "${{{env}=}}"' in parameters
        assert given[uri]["operator"]["operands"]["condition"]["function"]["parameters"] == {
            "item_to_test": param
        }
        branch = next(
            arg["operator"]["operands"]
            for arg in sinks["function"]["parameters"].values()
            if setting in arg["operator"]["operands"]["false_value"]
        )
        assert branch["true_value"] == {}
        assert branch["false_value"][setting] == f"@Microsoft.KeyVault(SecretUri=${{{uri}}})"
    assert not {"XTENANT_WEBHOOK_URL", "XTENANT_TEAMS_WEBHOOK_URL"} & set(app_settings())


def test_the_settings_loader_reads_the_sink_settings_the_template_writes() -> None:
    sinks = bicep("modules/appsettings.bicep")["variables"]["sinkSettings"]["value"]
    names = [
        name
        for arg in sinks["function"]["parameters"].values()
        for name in arg["operator"]["operands"]["false_value"]
    ]
    env = {
        "APP_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        "AZURE_TENANT_ID": "33333333-3333-3333-3333-333333333333",
        "XTENANT_PUBLIC_URL": "https://func-x.azurewebsites.net",
        "XTENANT_AUTH_MODE": "secret",
        "XTENANT_CLIENT_SECRET": "stand-in",
    }

    settings = Settings.from_env(env | {name: "https://hooks.example.com/a" for name in names})

    assert len(names) == 2
    assert settings.webhook_url is not None
    assert settings.teams_webhook_url is not None
