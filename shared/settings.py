"""Typed settings, loaded from the environment and validated once, every problem reported together.

The same names point the app at Azure or at the local fake cloud: the platform sets
IDENTITY_ENDPOINT / IDENTITY_HEADER; AZURE_CLIENT_ID names the user-assigned managed identity;
APP_CLIENT_ID the multi-tenant app registration whose federated credential that identity is
(docs/decisions.md#secretless-token-chain). AZURE_AUTHORITY_HOST and GRAPH_ENDPOINT move the
endpoints, which is how the tests and `make demo` reach the fake cloud (docs/decisions.md#clouds).
AZURE_TENANT_ID is the home tenant: operators' access tokens for the app's own API come from it
(docs/security.md). XTENANT_PUBLIC_URL is the app's address as a browser reaches it: the consent
redirect URI and status URLs are built from it, never from a request's Host header.
XTENANT_WEBHOOK_URL and XTENANT_TEAMS_WEBHOOK_URL (optional) are where events go
(docs/notifications.md): each embeds the token that lets anyone post, so each is a Secret, read
from a Key Vault reference on Azure, and never named in a problem, a log line or an answer.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode, urlsplit

_E = TypeVar("_E", bound=enum.StrEnum)


class SettingsError(ValueError):
    """One or more settings are missing or invalid; `problems` lists each, in one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings: " + "; ".join(problems))


class Cloud(enum.StrEnum):
    PUBLIC = "public"
    USGOV = "usgov"
    CHINA = "china"


class AuthMode(enum.StrEnum):
    """How the app proves it is the app registration.

    managed_identity is the product: no secret exists. certificate and secret exist only for hosts
    without a managed identity (a laptop, another cloud's VM).
    """

    MANAGED_IDENTITY = "managed_identity"
    CERTIFICATE = "certificate"
    SECRET = "secret"


class TelemetryMode(enum.StrEnum):
    """XTENANT_TELEMETRY: where spans and metrics go (shared/telemetry).

    auto (default) sends them to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING
    is set, and nowhere otherwise; off never sends them; console prints them (a local look).
    """

    AUTO = "auto"
    OFF = "off"
    CONSOLE = "console"


@dataclass(frozen=True)
class CloudEndpoints:
    authority_host: str
    graph_endpoint: str
    token_exchange_audience: str


# Entra docs, "Configure an app to trust a managed identity": the audience per cloud; Graph's
# national cloud deployments: https://learn.microsoft.com/graph/deployments
CLOUDS: Mapping[Cloud, CloudEndpoints] = {
    Cloud.PUBLIC: CloudEndpoints(
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
        "api://AzureADTokenExchange",
    ),
    Cloud.USGOV: CloudEndpoints(
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "api://AzureADTokenExchangeUSGov",
    ),
    Cloud.CHINA: CloudEndpoints(
        "https://login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "api://AzureADTokenExchangeChina",
    ),
}


@dataclass(frozen=True)
class Secret:
    """A value that must never be printed: repr and str show only that it is set."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    """True for the canonical 8-4-4-4-12 hex form Entra uses for tenant and client ids."""
    return _GUID.fullmatch(value) is not None


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


#: The scheduled run's default, as in local.settings.sample.json and infra/main.bicep: 02:00 UTC.
DEFAULT_SCHEDULE = "0 0 2 * * *"
DEFAULT_CONSENT_LINK_DAYS = 7
DEFAULT_LEASE_SECONDS = 60
DEFAULT_APP_PAUSE_SECONDS = 60
DEFAULT_APPROVAL_ABOVE = 1
DEFAULT_APPROVAL_HOURS = 24
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 10
#: How App Service shows a Key Vault reference it could not resolve: the setting keeps the
#: reference's own text. https://learn.microsoft.com/azure/app-service/app-service-key-vault-references
_KEY_VAULT_REFERENCE = "@microsoft.keyvault("


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


# NCRONTAB, as the timer trigger reads it: six fields, seconds first. Each field takes `*`,
# numbers, lists, ranges and steps; months and weekdays (0-6 from Sunday) also take names.
# https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS = (
    _CronField("second", 0, 59),
    _CronField("minute", 0, 59),
    _CronField("hour", 0, 23),
    _CronField("day", 1, 31),
    _CronField("month", 1, 12, _MONTHS, name_base=1),
    _CronField("day-of-week", 0, 6, _WEEKDAYS),
)
_CRON_ITEM = re.compile(r"^(?:\*|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/([0-9]+))?$")


def ncrontab_problem(expression: str) -> str | None:
    """Why `expression` is not a six-field NCRONTAB expression; None when it is one.

    A five-field (classic cron) expression is refused: the host would read its first field as
    seconds, and Flex Consumption takes no TimeSpan schedules.
    """
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        names = " ".join(spec.name for spec in _CRON_FIELDS)
        return f"{len(fields)} field(s) given, NCRONTAB has 6 ({names})"
    for text, spec in zip(fields, _CRON_FIELDS, strict=True):
        if not all(_cron_item_ok(item, spec) for item in text.split(",")):
            return f"its {spec.name} field {text!r} is not valid ({spec.low}-{spec.high})"
    return None


def _cron_item_ok(item: str, spec: _CronField) -> bool:
    """`*`, `n`, `n-m`, each optionally `/step`, with n and m inside the field's range."""
    match = _CRON_ITEM.match(item.lower())
    if match is None:
        return False
    first, last, step = match.groups()
    if step is not None and int(step) < 1:
        return False
    if first is None:
        return True
    low, high = _cron_value(first, spec), _cron_value(last or first, spec)
    return low is not None and high is not None and low <= high


def _cron_value(text: str, spec: _CronField) -> int | None:
    if text in spec.names:
        return spec.names.index(text) + spec.name_base
    if not text.isdigit() or not spec.low <= int(text) <= spec.high:
        return None
    return int(text)


@dataclass(frozen=True)
class Settings:
    app_client_id: str
    home_tenant_id: str
    public_url: str
    cloud: Cloud
    authority_host: str
    graph_endpoint: str
    token_exchange_audience: str
    auth_mode: AuthMode
    managed_identity_client_id: str | None = None
    certificate_path: Path | None = None
    certificate_password: Secret | None = None
    client_secret: Secret | None = None
    schedule: str = DEFAULT_SCHEDULE
    #: how long an admin-consent link works: customer admins answer over days, not minutes
    consent_link_days: int = DEFAULT_CONSENT_LINK_DAYS
    #: a worker's claim on a row (and its apply lock) lasts this long unless renewed; a worker
    #: that dies frees its row after at most this long
    lease_seconds: int = DEFAULT_LEASE_SECONDS
    #: after an app-wide failure (the app's own identity), how long every tenant's work waits
    app_pause_seconds: int = DEFAULT_APP_PAUSE_SECONDS
    #: an apply run over more tenants than this waits for a second operator's approval
    approval_above: int = DEFAULT_APPROVAL_ABOVE
    #: how long a run waits for approval before it expires
    approval_hours: int = DEFAULT_APPROVAL_HOURS
    telemetry: TelemetryMode = TelemetryMode.AUTO
    #: event sinks (docs/notifications.md): None when not configured
    webhook_url: Secret | None = None
    teams_webhook_url: Secret | None = None
    #: how long one webhook POST may take before it counts as failed (and is tried again)
    webhook_timeout_seconds: int = DEFAULT_WEBHOOK_TIMEOUT_SECONDS

    @property
    def operator_token_issuer(self) -> str:
        """The `iss` of a v2.0 access token from the home tenant: `{authority}/{tenant}/v2.0`."""
        return f"{self.authority_host}/{self.home_tenant_id}/v2.0"

    @property
    def operator_token_audiences(self) -> tuple[str, str]:
        """What an operator's token may name as `aud`: the client id (v2.0 tokens) or its
        Application ID URI `api://{client id}`."""
        return (self.app_client_id, f"api://{self.app_client_id}")

    @property
    def openid_configuration_url(self) -> str:
        """The home tenant's OpenID Provider metadata; its `jwks_uri` has the signing keys."""
        return f"{self.operator_token_issuer}/.well-known/openid-configuration"

    @property
    def graph_scope(self) -> str:
        """The one scope every tenant token is requested for (app-only: `/.default`)."""
        return f"{self.graph_endpoint}/.default"

    def admin_consent_url(self, tenant: str, *, redirect_uri: str, state: str) -> str:
        """Where a tenant's admin grants the app its permissions (v2 `adminconsent` endpoint).

        `tenant` is a tenant id or `organizations`. The only place this URL is built; it always
        carries the onboarding flow's redirect URI and single-use state, or the callback would
        refuse the answer. https://learn.microsoft.com/entra/identity-platform/v2-admin-consent
        """
        fields = {"client_id": self.app_client_id, "scope": self.graph_scope}
        fields |= {"redirect_uri": redirect_uri, "state": state}
        return f"{self.authority_host}/{tenant}/v2.0/adminconsent?{urlencode(fields)}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raise one SettingsError listing all problems."""
        return _Loader(os.environ if env is None else env).load()


class _Loader:
    """Collects problems instead of stopping at the first, so one run shows them all."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def get(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def require(self, name: str, why: str) -> str | None:
        value = self.get(name)
        if value is None:
            self.problems.append(f"missing {name} ({why})")
        return value

    def guid(self, name: str, why: str) -> str | None:
        value = self.require(name, why)
        if value is not None and not is_guid(value):
            self.problems.append(f"{name} must be a GUID, got {value!r}")
            return None
        return value

    def choice(self, name: str, kind: type[_E], default: _E) -> _E:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            return kind(raw.lower())
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            self.problems.append(f"{name} must be one of {allowed}, got {raw!r}")
            return default

    def url(self, name: str, default: str) -> str:
        raw = self.get(name)
        if raw is None:
            return default
        parts = urlsplit(raw)
        if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
            self.problems.append(
                f"{name} must be an https:// URL with no path or query, got {raw!r}"
            )
            return default
        return raw.rstrip("/")

    def load(self) -> Settings:
        cloud = self.choice("AZURE_CLOUD", Cloud, Cloud.PUBLIC)
        endpoints = CLOUDS[cloud]
        mode = self.choice("XTENANT_AUTH_MODE", AuthMode, AuthMode.MANAGED_IDENTITY)
        app_client_id = self.guid("APP_CLIENT_ID", "the multi-tenant app registration's client id")
        home_tenant_id = self.guid(
            "AZURE_TENANT_ID", "the home tenant of the app registration and managed identity"
        )
        public_url = self.public_url()
        mi_client_id = certificate_path = certificate_password = client_secret = None
        if mode is AuthMode.MANAGED_IDENTITY:
            mi_client_id = self.managed_identity()
        elif mode is AuthMode.CERTIFICATE:
            certificate_path, certificate_password = self.certificate()
        else:
            client_secret = self.secret()
        settings = Settings(
            app_client_id=app_client_id or "",
            home_tenant_id=(home_tenant_id or "").lower(),
            public_url=public_url,
            cloud=cloud,
            authority_host=self.url("AZURE_AUTHORITY_HOST", endpoints.authority_host),
            graph_endpoint=self.url("GRAPH_ENDPOINT", endpoints.graph_endpoint),
            token_exchange_audience=endpoints.token_exchange_audience,
            auth_mode=mode,
            managed_identity_client_id=mi_client_id,
            certificate_path=certificate_path,
            certificate_password=certificate_password,
            client_secret=client_secret,
            schedule=self.schedule(),
            consent_link_days=self.whole_number(
                "XTENANT_CONSENT_LINK_DAYS", DEFAULT_CONSENT_LINK_DAYS, low=1, high=90
            ),
            lease_seconds=self.whole_number(
                "XTENANT_LEASE_SECONDS", DEFAULT_LEASE_SECONDS, low=5, high=600
            ),
            app_pause_seconds=self.whole_number(
                "XTENANT_APP_PAUSE_SECONDS", DEFAULT_APP_PAUSE_SECONDS, low=1, high=600
            ),
            approval_above=self.whole_number(
                "XTENANT_APPROVAL_ABOVE", DEFAULT_APPROVAL_ABOVE, low=0, high=100_000
            ),
            approval_hours=self.whole_number(
                "XTENANT_APPROVAL_HOURS", DEFAULT_APPROVAL_HOURS, low=1, high=24 * 14
            ),
            telemetry=self.choice("XTENANT_TELEMETRY", TelemetryMode, TelemetryMode.AUTO),
            webhook_url=self.webhook("XTENANT_WEBHOOK_URL"),
            teams_webhook_url=self.webhook("XTENANT_TEAMS_WEBHOOK_URL"),
            webhook_timeout_seconds=self.whole_number(
                "XTENANT_WEBHOOK_TIMEOUT_SECONDS", DEFAULT_WEBHOOK_TIMEOUT_SECONDS, low=1, high=30
            ),
        )
        if self.problems:
            raise SettingsError(self.problems)
        return settings

    def public_url(self) -> str:
        """XTENANT_PUBLIC_URL: https, or http on a loopback address (the local host); no path."""
        raw = self.require("XTENANT_PUBLIC_URL", "the app's public base URL, https://<host>")
        if raw is None:
            return ""
        parts = urlsplit(raw)
        secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
        extra = parts.path not in ("", "/") or parts.query or parts.fragment
        if not secure or not parts.netloc or extra:
            self.problems.append(
                "XTENANT_PUBLIC_URL must be https://<host> (http only on a loopback address), "
                f"with no path or query, got {raw!r}"
            )
            return ""
        return raw.rstrip("/")

    def webhook(self, name: str) -> Secret | None:
        """An event sink's URL: https (http only on a loopback address), path and query kept.

        Its problems never quote it: the URL is the secret.
        """
        raw = self.get(name)
        if raw is None:
            return None
        if raw.lower().startswith(_KEY_VAULT_REFERENCE):
            self.problems.append(
                f"{name} is a Key Vault reference the platform could not resolve (the secret "
                "is missing, or the app's identity may not read it): docs/notifications.md"
            )
            return None
        try:
            parts = urlsplit(raw)
        except ValueError:  # an unbalanced [ in the host
            parts = urlsplit("")
        local = parts.scheme == "http" and parts.hostname in _LOOPBACK
        if not (parts.scheme == "https" or local) or not parts.hostname or parts.fragment:
            self.problems.append(
                f"{name} must be an https:// URL (http only on a loopback address), without a "
                "#fragment (the value is not shown: it is a secret)"
            )
            return None
        return Secret(raw)

    def whole_number(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            self.problems.append(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
            return default
        return int(raw)

    def schedule(self) -> str:
        """SCHEDULE, the timer's NCRONTAB (the trigger binds %SCHEDULE%); the default if unset."""
        raw = self.get("SCHEDULE")
        if raw is None:
            return DEFAULT_SCHEDULE
        problem = ncrontab_problem(raw)
        if problem is not None:
            self.problems.append(f"SCHEDULE must be a six-field NCRONTAB, got {raw!r}: {problem}")
            return DEFAULT_SCHEDULE
        return raw

    def managed_identity(self) -> str | None:
        client_id = self.guid("AZURE_CLIENT_ID", "the user-assigned managed identity's client id")
        platform = "set by the Functions platform; locally, the fake cloud prints it"
        self.require("IDENTITY_ENDPOINT", platform)
        self.require("IDENTITY_HEADER", platform)
        return client_id

    def certificate(self) -> tuple[Path | None, Secret | None]:
        raw = self.require("XTENANT_CERTIFICATE_PATH", "a PEM with the app's certificate and key")
        path = Path(raw) if raw else None
        if path is not None and not path.is_file():
            self.problems.append(f"XTENANT_CERTIFICATE_PATH {raw!r} is not a readable file")
        password = self.get("XTENANT_CERTIFICATE_PASSWORD")
        return path, Secret(password) if password else None

    def secret(self) -> Secret | None:
        value = self.require("XTENANT_CLIENT_SECRET", "the app registration's client secret")
        return Secret(value) if value else None
