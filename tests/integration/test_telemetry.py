"""What an operator follows in Application Insights, through the local host on Azurite and the
fake cloud: a run's fan-out, each (tenant, job)'s span with its Graph and token requests under
it, throttling waits, failures, and the metrics. Spans and metrics are kept in memory
(tests/telemetry_fixture.py); nothing is exported.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from azure.core.exceptions import ResourceExistsError
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from devtools.fakecloud import FakeCloud, Fault
from tests.integration.stack_fixture import Stack, new_tenant
from tests.telemetry_fixture import Recorded

pytestmark = pytest.mark.integration

TOKEN_REQUEST = "POST /{id}/oauth2/v2.0/token"


def graph_spans(recorded: Recorded, job: ReadableSpan) -> list[ReadableSpan]:
    return [
        s
        for s in recorded.under(job)
        if str((s.attributes or {}).get("url.template", "")).startswith("/v1.0/")
    ]


async def run_one(stack: Stack, tenant: str, mode: str) -> str:
    await stack.register(tenant)
    run_id = await stack.run("guest-cleanup", [tenant], mode=mode)
    await stack.host.drain(timeout_s=60)
    return run_id


async def test_a_tenant_job_is_one_span_with_its_graph_and_token_requests_under_it(
    cloud: FakeCloud, stack: Stack, recorded: Recorded
) -> None:
    # given a tenant with stale guests, when an apply run disables them
    tenant = new_tenant(cloud)
    run_id = await run_one(stack, tenant, "apply")

    # then the run's fan-out and the tenant's job are spans of that run
    [fanout] = recorded.named("run_fanout", xtenant_run_id=run_id)
    [job] = recorded.named("tenant_job", xtenant_run_id=run_id)
    assert {k: v for k, v in (fanout.attributes or {}).items() if k != "xtenant.run_id"} == {
        "xtenant.rows": 1,
        "xtenant.origin": "manual",
        "xtenant.messages": 1,
        "xtenant.not_queued": 0,
    }
    attributes = dict(job.attributes or {})
    assert job.kind is SpanKind.CONSUMER
    assert job.status.status_code is StatusCode.UNSET
    assert {k: attributes[k] for k in ("xtenant.tenant_id", "xtenant.mode", "xtenant.status")} == {
        "xtenant.tenant_id": tenant,
        "xtenant.mode": "apply",
        "xtenant.status": "changed",
    }
    # and each Graph request is a dependency under it, the tenant's token request under one
    graph = graph_spans(recorded, job)
    assert {"GET /v1.0/users", "POST /v1.0/$batch"} <= {s.name for s in graph}
    assert attributes["xtenant.graph_requests"] == len(graph)
    assert {(s.kind, s.attributes["xtenant.tenant_id"]) for s in graph if s.attributes} == {
        (SpanKind.CLIENT, tenant)
    }
    assert {(s.attributes or {})["http.response.status_code"] for s in graph} == {200}
    [token] = [s for s in recorded.under(job) if s.name == TOKEN_REQUEST]
    assert (token.attributes or {})["xtenant.tenant_id"] == tenant
    assert token.parent is not None
    assert token.parent.span_id in {s.context.span_id for s in graph}
    # and the metrics count the row and the token request
    assert ({"status": "changed", "job": "guest-cleanup"}, 1) in recorded.points("xtenant.rows")
    assert ({"kind": "tenant", "outcome": "issued"}, 1) in recorded.points("xtenant.token_requests")


async def test_no_exported_value_holds_a_token_or_a_user_principal_name(
    cloud: FakeCloud, stack: Stack, recorded: Recorded
) -> None:
    # given a job whose findings name guests by their UPN
    tenant = new_tenant(cloud)
    run_id = await run_one(stack, tenant, "apply")
    [row] = (await stack.status(run_id))["rows"]
    assert "@" in json.dumps(row["findings"])

    # then no span name, attribute or event carries an @ or a JWT
    values = recorded.values()
    assert len(values) > 20
    assert [v for v in values if "@" in v or "eyJ" in v] == []


async def test_a_throttled_graph_request_shows_its_429_the_wait_and_the_resend(
    cloud: FakeCloud, stack: Stack, recorded: Recorded
) -> None:
    # given Graph throttles the tenant's first user listing for half a second
    tenant = new_tenant(cloud)
    throttled = Fault(
        service="graph",
        kind="status",
        status=429,
        retry_after="0.5",
        count=1,
        tenant_id=tenant,
        path_contains="/users",
        batch_items=False,
    )
    cloud.add_fault(throttled)

    # when a plan run reads the tenant
    run_id = await run_one(stack, tenant, "plan")

    # then the 429 and the resend are dependencies, and the wait is an event between them
    [job] = recorded.named("tenant_job", xtenant_run_id=run_id)
    listings = [s for s in graph_spans(recorded, job) if s.name == "GET /v1.0/users"]
    assert [
        (a["http.response.status_code"], a.get("http.request.resend_count", 0))
        for a in (dict(s.attributes or {}) for s in listings)
    ] == [(429, 0), (200, 1)]
    assert listings[0].status.status_code is StatusCode.ERROR
    assert (listings[0].attributes or {})["xtenant.retry_after_s"] == 0.5
    [wait] = [e for e in job.events if e.name == "throttle_wait"]
    assert (wait.attributes or {})["xtenant.wait_reason"] == "retry_after"
    assert (wait.attributes or {})["xtenant.retry_after_s"] == 0.5
    assert float(str((wait.attributes or {})["xtenant.wait_s"])) >= 0.5
    assert (job.attributes or {})["xtenant.retries"] == 1
    [(reason, waits)] = recorded.points("xtenant.throttle_wait")
    assert reason == {"reason": "retry_after"}
    assert waits.count == 1
    assert waits.sum >= 0.5


async def test_a_failed_tenants_span_is_an_error_with_its_error_class(
    cloud: FakeCloud, stack: Stack, recorded: Recorded
) -> None:
    # given a tenant whose administrator never consented
    tenant = new_tenant(cloud, state="consent_missing")

    # when a run reaches it
    run_id = await run_one(stack, tenant, "plan")

    # then its span is an error with the row's error class, and the refused token is under it
    [row] = (await stack.status(run_id))["rows"]
    [job] = recorded.named("tenant_job", xtenant_run_id=run_id)
    assert row["status"] == "failed"
    assert job.status.status_code is StatusCode.ERROR
    assert (job.attributes or {})["xtenant.status"] == "failed"
    assert (job.attributes or {})["xtenant.error_class"] == row["error_class"]
    refused = [s for s in recorded.under(job) if s.name == TOKEN_REQUEST]
    assert refused
    assert {(s.attributes or {})["http.response.status_code"] for s in refused} == {400}
    assert {s.status.status_code for s in refused} == {StatusCode.ERROR}
    assert ({"kind": "tenant", "outcome": "refused"}, len(refused)) in recorded.points(
        "xtenant.token_requests"
    )
    assert ({"status": "failed", "job": "guest-cleanup"}, 1) in recorded.points("xtenant.rows")


async def test_a_poison_message_is_counted(stack: Stack, recorded: Recorded) -> None:
    async with stack.queue("tenant-jobs-poison") as poison:
        with contextlib.suppress(ResourceExistsError):  # the host makes it at the first poison
            await poison.create_queue()
        await poison.send_message("not a message the app wrote")

    await stack.host.drain(timeout_s=60)

    assert recorded.points("xtenant.poison_messages") == [({}, 1)]
