"""infra/ against the code it deploys: settings, names, permissions, roles, the consent route.

The Bicep cannot be deployed here (no Azure, no Bicep CLI); these tests read it with
pycep-parser and compare what it declares with what the app's code requires, so a renamed
setting, queue, table, job permission or route fails here rather than at `azd up`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from devtools import infracheck
from shared import ledger, messages, tenants
from shared.jobs import JOBS
from shared.settings import CLOUDS, AuthMode, Cloud, Settings, SettingsError
from shared.storage import storage_config

INFRA = infracheck.INFRA
#: Set by the Functions platform on Azure, never by the template.
PLATFORM_SETTINGS = {"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}
ROLE_IDS = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
}
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bicep(name: str) -> dict[str, Any]:
    return infracheck.parse_bicep(INFRA / name)


def unquoted(mapping: dict[str, Any]) -> dict[str, Any]:
    """pycep keeps the quotes of quoted object keys ('guest-cleanup')."""
    return {key.strip("'"): value for key, value in mapping.items()}


def main_variable(name: str) -> Any:
    return bicep("main.bicep")["variables"][name]["value"]


def app_settings() -> dict[str, Any]:
    resource = bicep("modules/appsettings.bicep")["resources"]["appSettings"]
    return dict(resource["config"]["properties"])


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

    assert {"APP_CLIENT_ID", "AZURE_CLIENT_ID"} <= required  # the derivation works
    assert required - PLATFORM_SETTINGS <= declared
    assert {"AZURE_CLOUD", "XTENANT_AUTH_MODE", "SCHEDULE"} <= declared
    assert app_settings()["XTENANT_AUTH_MODE"] == AuthMode.MANAGED_IDENTITY.value


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
    assert main_variable("queueNames") == [messages.QUEUE, messages.POISON_QUEUE]
    assert main_variable("tableNames") == [tenants.TABLE, ledger.TABLE]


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
    assert scopes == {"storageRoleAssignments": "account", "telemetryRoleAssignment": "appInsights"}
    assert elsewhere == []


def test_the_app_registration_is_multi_tenant_with_the_managed_identity_as_its_credential() -> None:
    resources = bicep("modules/appregistration.bicep")["resources"]
    app = resources["app"]["config"]
    credential = resources["app__managedIdentityCredential"]["config"]

    assert app["signInAudience"] == "AzureADMultipleOrgs"
    assert app["web"]["redirectUris"] == ["redirectUri"]
    assert app["requiredResourceAccess"][0]["resourceAppId"] == "microsoftGraphAppId"
    assert (
        credential["issuer"]
        == "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0"
    )
    assert credential["subject"] == "managedIdentityPrincipalId"
    assert credential["audiences"] == ["tokenExchangeAudience"]
    assert resources["servicePrincipal"]["type"] == "Microsoft.Graph/servicePrincipals"


def test_the_redirect_uri_is_the_apps_consent_callback_route() -> None:
    routes = {m.group(1) for b in function_json() if (m := re.search(r'"route": "([^"]+)"', b))}

    assert main_variable("redirectUri").endswith("/api/consent/callback")
    assert "consent/callback" in routes


def test_the_checkov_baseline_gives_a_reason_for_every_skipped_check() -> None:
    skips, problems = infracheck.baseline_skips(INFRA / infracheck.BASELINE)

    assert problems == []
    assert skips
    assert all(len(reason) >= 20 for reason in skips.values())


def test_the_fake_cloud_grants_what_the_app_registration_requests() -> None:
    from devtools.fakecloud.scenario import APP_REQUIRED_ROLES

    assert list(APP_REQUIRED_ROLES) == main_variable("permissionOrder")
