"""Telemetry an operator follows in Application Insights: one span per (tenant, job).

    tenant_job     CONSUMER, one per delivery of a row's message (`requests`): run id, tenant
      │            id, job, mode, status, error class, Graph requests, retries, seconds waited
      ├─ GET /v1.0/users             CLIENT, one per Graph HTTP request (`dependencies`)
      │    └─ POST /{id}/oauth2/v2.0/token    a tenant token request sent for it
      ├─ managed identity token      the assertion, when it was fetched for this job
      └─ event throttle_wait         seconds waited before a request, why, the Retry-After
    run_fanout     a run started: its rows and messages (`dependencies`)

    metrics: xtenant.rows (status, job), xtenant.throttle_wait (s; reason),
             xtenant.token_requests (kind, outcome), xtenant.poison_messages

Off unless APPLICATIONINSIGHTS_CONNECTION_STRING is set (or XTENANT_TELEMETRY=console): every
call here is then OpenTelemetry's no-op. Attributes hold run, tenant and object ids, never a
token, a user name, a UPN or a display name, nor a URL's query (docs/decisions.md#telemetry).
The queries an operator runs: docs/operations.md.
"""

from __future__ import annotations

from shared.telemetry._http import (
    GraphCall,
    graph_request,
    http_status,
    managed_identity_token,
    token_trace_config,
    waited,
)
from shared.telemetry._instruments import SCOPE, route, safe_path, use
from shared.telemetry._jobs import (
    Fanout,
    JobSpan,
    job_result,
    message_rejected,
    poison_message,
    row_ended,
    run_fanout,
    tenant_job,
)
from shared.telemetry._setup import QUIET, configure, destination, mode, only_xtenant

__all__ = [
    "QUIET",
    "SCOPE",
    "Fanout",
    "GraphCall",
    "JobSpan",
    "configure",
    "destination",
    "graph_request",
    "http_status",
    "job_result",
    "managed_identity_token",
    "message_rejected",
    "mode",
    "only_xtenant",
    "poison_message",
    "route",
    "row_ended",
    "run_fanout",
    "safe_path",
    "tenant_job",
    "token_trace_config",
    "use",
    "waited",
]
