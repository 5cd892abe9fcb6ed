"""Where the spans and metrics go: Application Insights, the console, or nowhere.

`configure()` runs once, as function_app is imported. With APPLICATIONINSIGHTS_CONNECTION_STRING
set it configures the Azure Monitor distro with the managed identity as credential (the
component refuses instrumentation keys: infra/modules/monitoring.bicep), otherwise nothing
unless XTENANT_TELEMETRY=console. The distro is imported only then: with telemetry off,
`import function_app` pays nothing for it (docs/decisions.md#telemetry).

What the distro would do by default and this does not, and why:
- logs: the Functions host already sends the worker's log lines to Application Insights; the
  distro's log handler would send each again (azure-functions-python-worker issue #1342);
- its instrumentations of httpx, requests, urllib3 and azure-core: our own Graph and token spans
  cover those requests once, with ids and no query; theirs would count them twice and carry the
  full URL (a `$filter` may hold a UPN);
- live metrics and performance counters: the host reports them;
- sampling: every tenant job is kept (the distro's default keeps 5 traces a second).
Every tracer but xtenant's is switched off: kiota opens about eight spans of its own per Graph
request (its middleware), with the full URL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace

from shared.settings import AuthMode, TelemetryMode
from shared.telemetry._instruments import SCOPE

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from opentelemetry.sdk.trace import _TracerConfig
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

log = logging.getLogger(__name__)

CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SETTING = "XTENANT_TELEMETRY"
#: The distro's instrumentations, all left off (see the module docstring).
_NOT_INSTRUMENTED = (
    "azure_sdk",
    "django",
    "fastapi",
    "flask",
    "httpx",
    "httpx2",
    "psycopg2",
    "requests",
    "urllib",
    "urllib3",
)
#: Defaults for the exporter's own switches (an app setting of the same name wins):
#: - its usage statistics go to a Microsoft-owned Application Insights resource, not ours;
#: - its control plane polls a Microsoft endpoint hourly for settings that change how it works;
#: - resource detection: the app runs on Functions; the VM detector would ask the instance
#:   metadata address (169.254.169.254) at start and wait 0.2 s where it does not answer.
QUIET = {
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_functions",
}

_configured: str | None = None


def configure(env: Mapping[str, str] | None = None) -> str:
    """Set up telemetry once per process; returns where it goes: `azure_monitor`, `console`
    or `off`. Never raises: telemetry that cannot start stays off and says why in the log."""
    global _configured
    if _configured is None:
        env = os.environ if env is None else env
        try:
            _configured = _start(env)
        except Exception:
            log.exception("telemetry could not start: it stays off")
            _configured = "off"
    return _configured


def mode(env: Mapping[str, str]) -> TelemetryMode:
    """XTENANT_TELEMETRY (an invalid value means off here; Settings reports it)."""
    raw = env.get(SETTING, "").strip().lower() or TelemetryMode.AUTO.value
    try:
        return TelemetryMode(raw)
    except ValueError:
        return TelemetryMode.OFF


def destination(env: Mapping[str, str]) -> str:
    """Where telemetry goes with these settings: `azure_monitor`, `console` or `off`."""
    wanted = mode(env)
    if wanted is TelemetryMode.CONSOLE:
        return "console"
    if wanted is TelemetryMode.AUTO and env.get(CONNECTION_STRING, "").strip():
        return "azure_monitor"
    return "off"


def _start(env: Mapping[str, str]) -> str:
    where = destination(env)
    if where == "console":
        _console()
    elif where == "azure_monitor":
        _azure_monitor(env)
    return where


def _azure_monitor(env: Mapping[str, str]) -> None:
    from azure.monitor.opentelemetry import configure_azure_monitor

    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    options: dict[str, Any] = {
        "connection_string": env[CONNECTION_STRING].strip(),
        "disable_logging": True,
        "enable_live_metrics": False,
        "enable_performance_counters": False,
        "sampling_ratio": 1.0,
        "instrumentation_options": {name: {"enabled": False} for name in _NOT_INSTRUMENTED},
    }
    credential = _credential(env)
    if credential is not None:  # else the exporter reads APPLICATIONINSIGHTS_AUTHENTICATION_STRING
        options["credential"] = credential
    configure_azure_monitor(**options)
    only_xtenant(trace.get_tracer_provider())


def _credential(env: Mapping[str, str]) -> TokenCredential | None:
    """The managed identity (AZURE_CLIENT_ID): Entra authentication, one token cache for the
    exporters. https://learn.microsoft.com/azure/azure-monitor/app/azure-ad-authentication"""
    auth_mode = env.get("XTENANT_AUTH_MODE", "").strip().lower() or AuthMode.MANAGED_IDENTITY
    client_id = env.get("AZURE_CLIENT_ID", "").strip()
    if auth_mode != AuthMode.MANAGED_IDENTITY or not client_id:
        return None
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id)


def _console() -> None:
    """Spans printed as they end, metrics every minute: to look at them locally."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    only_xtenant(tracer_provider)
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))


def only_xtenant(provider: object) -> None:
    """Switch off every tracer of `provider` but xtenant's (the SDK's tracer configurator,
    experimental in OpenTelemetry: a tracer switched off makes non-recording spans)."""
    configure_tracers = getattr(provider, "_set_tracer_configurator", None)
    if configure_tracers is None:
        log.warning("this OpenTelemetry SDK cannot switch tracers off: kiota's spans go too")
        return
    configure_tracers(tracer_configurator=_xtenant_only)


def _xtenant_only(scope: InstrumentationScope) -> _TracerConfig:
    from opentelemetry.sdk.trace import _TracerConfig

    return _TracerConfig(is_enabled=scope.name == SCOPE)
