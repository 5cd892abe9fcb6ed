"""Settings: loaded once from the environment, every problem reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import DEFAULT_SCHEDULE, AuthMode, Cloud, Settings, SettingsError

APP = "11111111-1111-1111-1111-111111111111"
MI = "22222222-2222-2222-2222-222222222222"
TENANT = "33333333-3333-3333-3333-333333333333"
#: What every auth mode needs besides its credential.
COMMON = {
    "APP_CLIENT_ID": APP,
    "AZURE_TENANT_ID": TENANT,
    "XTENANT_PUBLIC_URL": "https://func-x.azurewebsites.net",
}


def mi_env(**overrides: str) -> dict[str, str]:
    env = COMMON | {
        "AZURE_CLIENT_ID": MI,
        "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token",
        "IDENTITY_HEADER": "per-run-value",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v != ""}


def test_public_cloud_is_the_default_with_its_endpoints() -> None:
    settings = Settings.from_env(mi_env())

    assert settings.cloud is Cloud.PUBLIC
    assert settings.auth_mode is AuthMode.MANAGED_IDENTITY
    assert settings.authority_host == "https://login.microsoftonline.com"
    assert settings.graph_endpoint == "https://graph.microsoft.com"
    assert settings.token_exchange_audience == "api://AzureADTokenExchange"
    assert settings.graph_scope == "https://graph.microsoft.com/.default"
    assert settings.managed_identity_client_id == MI


@pytest.mark.parametrize(
    ("cloud", "authority", "graph", "audience"),
    [
        (
            "usgov",
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
            "api://AzureADTokenExchangeUSGov",
        ),
        (
            "china",
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
            "api://AzureADTokenExchangeChina",
        ),
    ],
)
def test_national_cloud_sets_authority_graph_and_exchange_audience(
    cloud: str, authority: str, graph: str, audience: str
) -> None:
    settings = Settings.from_env(mi_env(AZURE_CLOUD=cloud.upper()))

    assert (settings.authority_host, settings.graph_endpoint) == (authority, graph)
    assert settings.token_exchange_audience == audience


def test_overrides_replace_the_cloud_endpoints_without_trailing_slash() -> None:
    settings = Settings.from_env(
        mi_env(
            AZURE_AUTHORITY_HOST="https://127.0.0.1:8443/", GRAPH_ENDPOINT="https://127.0.0.1:9443"
        )
    )

    assert settings.authority_host == "https://127.0.0.1:8443"
    assert settings.graph_scope == "https://127.0.0.1:9443/.default"


def test_every_missing_and_invalid_setting_is_reported_in_one_error() -> None:
    env = {
        "APP_CLIENT_ID": "not-a-guid",
        "AZURE_CLOUD": "mars",
        "AZURE_AUTHORITY_HOST": "http://login.example",
        "GRAPH_ENDPOINT": "graph",
    }

    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)

    message = str(caught.value)
    assert "APP_CLIENT_ID must be a GUID" in message
    assert "AZURE_CLOUD must be one of public, usgov, china" in message
    assert "missing AZURE_CLIENT_ID" in message
    assert "missing IDENTITY_ENDPOINT" in message
    assert "missing IDENTITY_HEADER" in message
    assert "AZURE_AUTHORITY_HOST must be an https:// URL" in message
    assert "GRAPH_ENDPOINT must be an https:// URL" in message
    assert "missing AZURE_TENANT_ID" in message
    assert "missing XTENANT_PUBLIC_URL" in message
    assert len(caught.value.problems) == 9


def test_unknown_auth_mode_is_reported_with_the_choices() -> None:
    with pytest.raises(SettingsError, match="XTENANT_AUTH_MODE must be one of managed_identity"):
        Settings.from_env(mi_env(XTENANT_AUTH_MODE="password"))


def test_certificate_mode_needs_a_readable_certificate_file(tmp_path: Path) -> None:
    env = COMMON | {"XTENANT_AUTH_MODE": "certificate"}

    with pytest.raises(SettingsError, match="missing XTENANT_CERTIFICATE_PATH"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="is not a readable file"):
        Settings.from_env(env | {"XTENANT_CERTIFICATE_PATH": str(tmp_path / "absent.pem")})

    pem = tmp_path / "app.pem"
    pem.write_text("placeholder")
    settings = Settings.from_env(env | {"XTENANT_CERTIFICATE_PATH": str(pem)})
    assert settings.certificate_path == pem
    assert settings.managed_identity_client_id is None


def test_secret_mode_never_shows_the_secret_in_repr_or_errors() -> None:
    value = "do-not-print-" + "x" * 20
    settings = Settings.from_env(
        COMMON | {"XTENANT_AUTH_MODE": "secret", "XTENANT_CLIENT_SECRET": value}
    )

    assert settings.client_secret is not None
    assert settings.client_secret.value == value
    assert value not in repr(settings)
    assert value not in str(settings.client_secret)


def test_admin_consent_url_names_tenant_app_and_graph_scope() -> None:
    settings = Settings.from_env(mi_env())

    url = settings.admin_consent_url(TENANT, redirect_uri="https://app/cb", state="s")

    assert url == (
        f"https://login.microsoftonline.com/{TENANT}/v2.0/adminconsent"
        f"?client_id={APP}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        "&redirect_uri=https%3A%2F%2Fapp%2Fcb&state=s"
    )


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(mi_env())

    with pytest.raises(AttributeError):
        settings.app_client_id = "other"  # type: ignore[misc]


def test_schedule_defaults_to_daily_at_two_when_unset() -> None:
    settings = Settings.from_env(mi_env())

    assert settings.schedule == DEFAULT_SCHEDULE == "0 0 2 * * *"


@pytest.mark.parametrize(
    "schedule",
    ["0 */5 * * * *", "0 30 9 * * mon-fri", "0 0 0 1 jan,jul *", "5/15 10-40/10 * * * Sun"],
)
def test_a_six_field_ncrontab_schedule_is_accepted(schedule: str) -> None:
    settings = Settings.from_env(mi_env(SCHEDULE=schedule))

    assert settings.schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("0 2 * * *", "5 field(s) given, NCRONTAB has 6"),
        ("every night", "2 field(s) given"),
        ("0 0 25 * * *", "hour field '25' is not valid (0-23)"),
        ("0 0 2 * * 7", "day-of-week field '7' is not valid (0-6)"),
        ("0 0 2 ? * *", "day field '?' is not valid"),
        ("0 0 2 * * fri-mon", "day-of-week field 'fri-mon' is not valid"),
        ("*/0 * * * * *", "second field '*/0' is not valid"),
    ],
)
def test_a_schedule_that_is_not_six_field_ncrontab_is_reported(schedule: str, why: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(mi_env(SCHEDULE=schedule))

    [problem] = caught.value.problems
    assert problem.startswith(f"SCHEDULE must be a six-field NCRONTAB, got {schedule!r}: ")
    assert why in problem


def test_a_bad_schedule_is_reported_with_every_other_problem() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SCHEDULE": "0 2 * * *", "AZURE_CLOUD": "mars"})

    assert any(p.startswith("SCHEDULE must be a six-field NCRONTAB") for p in caught.value.problems)
    assert any(p.startswith("missing APP_CLIENT_ID") for p in caught.value.problems)


def test_operator_tokens_come_from_the_home_tenant_for_this_app() -> None:
    settings = Settings.from_env(mi_env(AZURE_TENANT_ID=TENANT.upper()))

    assert settings.home_tenant_id == TENANT
    assert settings.operator_token_issuer == f"https://login.microsoftonline.com/{TENANT}/v2.0"
    assert settings.operator_token_audiences == (APP, f"api://{APP}")
    assert settings.openid_configuration_url == (
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://func-x.azurewebsites.net/", "https://func-x.azurewebsites.net"),
        ("http://127.0.0.1:7071", "http://127.0.0.1:7071"),
        ("http://localhost:7071/", "http://localhost:7071"),
    ],
)
def test_the_public_url_is_https_or_loopback_http(url: str, kept: str) -> None:
    assert Settings.from_env(mi_env(XTENANT_PUBLIC_URL=url)).public_url == kept


@pytest.mark.parametrize(
    "url",
    [
        "http://func-x.azurewebsites.net",
        "https://func-x.azurewebsites.net/api",
        "https://func-x.azurewebsites.net?x=1",
        "func-x.azurewebsites.net",
    ],
)
def test_a_public_url_that_is_not_https_or_has_a_path_is_reported(url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(mi_env(XTENANT_PUBLIC_URL=url))

    [problem] = caught.value.problems
    assert problem.startswith("XTENANT_PUBLIC_URL must be https://<host>")


def test_the_home_tenant_must_be_a_guid() -> None:
    with pytest.raises(SettingsError, match="AZURE_TENANT_ID must be a GUID"):
        Settings.from_env(mi_env(AZURE_TENANT_ID="contoso.onmicrosoft.com"))


@pytest.mark.parametrize("raw", ["0", "91", "seven", "-1"])
def test_the_consent_link_lifetime_is_checked(raw: str) -> None:
    with pytest.raises(SettingsError, match="XTENANT_CONSENT_LINK_DAYS must be a whole number"):
        Settings.from_env(mi_env() | {"XTENANT_CONSENT_LINK_DAYS": raw})


def test_consent_links_last_seven_days_unless_told_otherwise() -> None:
    assert Settings.from_env(mi_env()).consent_link_days == 7
    assert Settings.from_env(mi_env() | {"XTENANT_CONSENT_LINK_DAYS": "30"}).consent_link_days == 30


# --- notification sinks (docs/notifications.md) ---------------------------------------------

WORKFLOW = (
    "https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3t-signature"
)


def test_notifications_are_off_unless_a_sink_url_is_set() -> None:
    settings = Settings.from_env(mi_env())

    assert settings.webhook_url is None
    assert settings.teams_webhook_url is None
    assert settings.webhook_timeout_seconds == 10


@pytest.mark.parametrize(
    "url", [WORKFLOW, "https://hooks.example.com/x", "http://127.0.0.1:8085/hooks/webhook"]
)
def test_a_sink_url_keeps_its_path_and_query_and_never_shows_in_repr(url: str) -> None:
    settings = Settings.from_env(mi_env(XTENANT_WEBHOOK_URL=url, XTENANT_TEAMS_WEBHOOK_URL=url))

    assert settings.webhook_url is not None
    assert settings.webhook_url.value == url
    assert settings.teams_webhook_url is not None
    assert settings.teams_webhook_url.value == url
    assert url not in repr(settings)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/s3cr3t",
        "ftp://hooks.example.com/s3cr3t",
        "https:///s3cr3t",
        "hooks.example.com/s3cr3t",
        "https://hooks.example.com/s3cr3t#frag",
        "http://[::1/s3cr3t",
    ],
)
def test_a_sink_url_that_is_not_https_is_reported_without_showing_it(url: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(mi_env(XTENANT_TEAMS_WEBHOOK_URL=url))

    [problem] = refused.value.problems
    assert problem.startswith("XTENANT_TEAMS_WEBHOOK_URL must be an https:// URL")
    assert "s3cr3t" not in str(refused.value)


def test_an_unresolved_key_vault_reference_is_named_as_such() -> None:
    reference = "@Microsoft.KeyVault(SecretUri=https://kv-x.vault.azure.net/secrets/webhook-url/)"

    with pytest.raises(SettingsError) as refused:
        Settings.from_env(
            mi_env(XTENANT_WEBHOOK_URL=reference, XTENANT_WEBHOOK_TIMEOUT_SECONDS="0")
        )

    assert refused.value.problems == [
        "XTENANT_WEBHOOK_URL is a Key Vault reference the platform could not resolve (the secret "
        "is missing, or the app's identity may not read it): docs/notifications.md",
        "XTENANT_WEBHOOK_TIMEOUT_SECONDS must be a whole number from 1 to 30, got '0'",
    ]
