"""Telemetry without I/O: what a span and a metric carry, what they never carry, where they go.

Spans and metrics are kept in memory by the `recorded` fixture (tests/telemetry_fixture.py);
the Azure Monitor exporter is never configured here.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from shared import telemetry
from shared.claims import RejectedMessage
from shared.errors import TenantNotOnboarded, TransientError
from shared.messages import TenantJobMessage
from shared.results import Mode, Status
from shared.settings import Settings, SettingsError, TelemetryMode
from shared.telemetry._instruments import http_attributes
from tests.telemetry_fixture import Recorded

TENANT = "33333333-3333-3333-3333-333333333333"
USER = "44444444-4444-4444-4444-444444444444"
ROW = TenantJobMessage("run-1", TENANT, "guest-cleanup", Mode.APPLY)


class HandedBack(Exception):
    """Stands for the worker's RetryLater: the message goes back to the queue."""


# --- URLs: ids, never names, never a query ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "safe"),
    [
        (f"/v1.0/users/{USER}", f"/v1.0/users/{USER}"),
        ("/v1.0/users/ada@contoso.com", "/v1.0/users/{redacted}"),
        ("/v1.0/users/ada%40contoso.com/memberOf", "/v1.0/users/{redacted}/memberOf"),
        ("/v1.0/users('ada@contoso.com')", "/v1.0/{redacted}"),
        ("/v1.0/groups/Sales%20Team", "/v1.0/groups/{redacted}"),
        ("/v1.0/$batch", "/v1.0/$batch"),
    ],
)
def test_a_path_keeps_names_of_resources_and_ids_and_redacts_the_rest(path: str, safe: str) -> None:
    assert telemetry.safe_path(path) == safe


def test_a_route_names_ids_as_placeholders() -> None:
    path = f"/v1.0/groups/{USER}/members/{USER}/$ref"

    assert telemetry.route(path) == "/v1.0/groups/{id}/members/{id}/$ref"
    assert telemetry.route(f"/{TENANT}/oauth2/v2.0/token") == "/{id}/oauth2/v2.0/token"


def test_a_request_url_becomes_attributes_without_its_query() -> None:
    url = (
        "https://graph.microsoft.com/v1.0/users?$filter=userPrincipalName%20eq%20"
        "'ada@contoso.com'&$select=displayName"
    )

    attributes = http_attributes("get", url)

    assert attributes == {
        "http.request.method": "GET",
        "server.address": "graph.microsoft.com",
        "url.path": "/v1.0/users",
        "url.template": "/v1.0/users",
        "url.full": "https://graph.microsoft.com/v1.0/users",
    }


# --- where telemetry goes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, TelemetryMode.AUTO),
        ("console", TelemetryMode.CONSOLE),
        (" OFF ", TelemetryMode.OFF),
        ("everything", TelemetryMode.OFF),
    ],
)
def test_xtenant_telemetry_chooses_auto_unless_told_and_off_when_unreadable(
    value: str | None, expected: TelemetryMode
) -> None:
    env = {} if value is None else {"XTENANT_TELEMETRY": value}

    assert telemetry.mode(env) is expected


def test_an_unreadable_xtenant_telemetry_is_reported_with_the_other_settings() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"XTENANT_TELEMETRY": "everything"})

    assert "XTENANT_TELEMETRY must be one of auto, off, console, got 'everything'" in str(
        refused.value
    )


CONNECTION = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:1/"
)


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({}, "off"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION}, "azure_monitor"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION, "XTENANT_TELEMETRY": "off"}, "off"),
        ({"XTENANT_TELEMETRY": "console"}, "console"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": " "}, "off"),
    ],
)
def test_telemetry_goes_to_application_insights_when_its_connection_string_is_set(
    env: dict[str, str], where: str
) -> None:
    assert telemetry.destination(env) == where


def test_only_xtenants_tracer_records_spans() -> None:
    provider = TracerProvider(shutdown_on_exit=False)
    telemetry.only_xtenant(provider)

    kiota = provider.get_tracer("com.microsoft.com:microsoft-kiota-http-httpx")
    ours = provider.get_tracer(telemetry.SCOPE)

    with kiota.start_as_current_span("get_http_response_message") as theirs:
        assert not theirs.is_recording()
    with ours.start_as_current_span("tenant_job") as mine:
        assert mine.is_recording()


# --- the tenant_job span -------------------------------------------------------------------------


def test_a_tenant_job_span_carries_the_row_and_the_status_it_ended_with(
    recorded: Recorded,
) -> None:
    with telemetry.tenant_job(ROW, retry_later=HandedBack) as span:
        telemetry.row_ended(ROW.job, Status.CHANGED.value)
        span.returned(Status.CHANGED.value)

    [job] = recorded.named("tenant_job")
    assert job.kind is SpanKind.CONSUMER
    assert dict(job.attributes or {}) == {
        "xtenant.run_id": "run-1",
        "xtenant.tenant_id": TENANT,
        "xtenant.job": "guest-cleanup",
        "xtenant.mode": "apply",
        "xtenant.status": "changed",
    }
    assert job.status.status_code is StatusCode.UNSET
    assert recorded.points("xtenant.rows") == [({"status": "changed", "job": "guest-cleanup"}, 1)]


def test_a_failed_row_makes_its_span_an_error_named_by_its_error_class(
    recorded: Recorded,
) -> None:
    error = TenantNotOnboarded("not consented", tenant_id=TENANT)

    with telemetry.tenant_job(ROW, retry_later=HandedBack) as span:
        telemetry.row_ended(ROW.job, Status.FAILED.value, error)
        span.returned(Status.FAILED.value)

    [job] = recorded.named("tenant_job")
    assert job.status.status_code is StatusCode.ERROR
    assert job.status.description == "tenant_not_onboarded"
    assert (job.attributes or {})["xtenant.error_class"] == "tenant_not_onboarded"


def test_a_message_handed_back_for_later_is_a_retry_not_an_error(recorded: Recorded) -> None:
    with (
        pytest.raises(HandedBack),
        telemetry.tenant_job(ROW, retry_later=HandedBack),
    ):
        raise HandedBack("another delivery holds the row")

    [job] = recorded.named("tenant_job")
    assert (job.attributes or {})["xtenant.status"] == "retry"
    assert job.status.status_code is StatusCode.UNSET
    assert recorded.points("xtenant.rows") == []


def test_an_unexpected_failure_is_named_by_its_class_and_never_by_its_text(
    recorded: Recorded,
) -> None:
    with (
        pytest.raises(RuntimeError),
        telemetry.tenant_job(ROW, retry_later=HandedBack),
    ):
        raise RuntimeError("entity ada@contoso.com already exists")

    [job] = recorded.named("tenant_job")
    assert job.status.status_code is StatusCode.ERROR
    assert (job.attributes or {})["error.type"] == "RuntimeError"
    assert job.events == ()
    assert [v for v in recorded.values() if "@" in v] == []


def test_a_redelivery_of_a_finished_row_says_its_status_and_counts_no_row(
    recorded: Recorded,
) -> None:
    with telemetry.tenant_job(ROW, retry_later=HandedBack) as span:
        span.returned(Status.NO_CHANGES.value)

    [job] = recorded.named("tenant_job")
    assert (job.attributes or {})["xtenant.status"] == "no_changes"
    assert recorded.points("xtenant.rows") == []


# --- Graph requests and waits --------------------------------------------------------------------


def test_a_throttled_graph_request_is_a_failed_dependency_with_its_retry_after(
    recorded: Recorded,
) -> None:
    url = f"https://graph.microsoft.com/v1.0/users/{USER}"

    with (
        telemetry.tenant_job(ROW, retry_later=HandedBack),
        telemetry.graph_request("PATCH", url, tenant_id=TENANT, resend=1) as call,
    ):
        call.failed(429, 2.5, TransientError("throttled"))

    [request] = recorded.named("PATCH /v1.0/users/{id}")
    assert request.kind is SpanKind.CLIENT
    assert request.status.status_code is StatusCode.ERROR
    attributes = dict(request.attributes or {})
    assert attributes["http.response.status_code"] == 429
    assert attributes["error.type"] == "429"
    assert attributes["xtenant.retry_after_s"] == 2.5
    assert attributes["http.request.resend_count"] == 1
    assert attributes["url.path"] == f"/v1.0/users/{USER}"


def test_the_transport_writes_the_answers_status_on_the_running_graph_request_only(
    recorded: Recorded,
) -> None:
    telemetry.http_status(204)  # no Graph request running: nowhere
    with telemetry.graph_request(
        "GET", "https://graph.microsoft.com/v1.0/users", tenant_id=TENANT, resend=0
    ):
        telemetry.http_status(200)

    [request] = recorded.spans()
    assert (request.attributes or {})["http.response.status_code"] == 200


def test_a_wait_is_an_event_of_the_running_span_and_a_histogram_point(
    recorded: Recorded,
) -> None:
    with telemetry.tenant_job(ROW, retry_later=HandedBack):
        telemetry.waited(2.01, "retry_after", retry_after=2.0)

    [job] = recorded.named("tenant_job")
    [event] = job.events
    assert event.name == "throttle_wait"
    assert dict(event.attributes or {}) == {
        "xtenant.wait_s": 2.01,
        "xtenant.wait_reason": "retry_after",
        "xtenant.retry_after_s": 2.0,
    }
    [(attributes, point)] = recorded.points("xtenant.throttle_wait")
    assert attributes == {"reason": "retry_after"}
    assert (point.count, point.sum) == (1, 2.01)


def test_a_managed_identity_token_request_is_counted_by_its_outcome(recorded: Recorded) -> None:
    with telemetry.managed_identity_token():
        pass
    with pytest.raises(ConnectionRefusedError), telemetry.managed_identity_token():
        raise ConnectionRefusedError("the identity endpoint did not answer")

    issued, failed = recorded.named("managed identity token")
    assert issued.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR
    assert sorted(recorded.points("xtenant.token_requests"), key=str) == [
        ({"kind": "managed_identity", "outcome": "failed"}, 1),
        ({"kind": "managed_identity", "outcome": "issued"}, 1),
    ]


def test_a_run_fanout_says_how_many_rows_and_messages_and_fails_when_some_were_not_sent(
    recorded: Recorded,
) -> None:
    with telemetry.run_fanout("run-1", rows=3, origin="manual") as fanout:
        fanout.sent(2, 1)

    [span] = recorded.named("run_fanout")
    assert dict(span.attributes or {}) == {
        "xtenant.run_id": "run-1",
        "xtenant.rows": 3,
        "xtenant.origin": "manual",
        "xtenant.messages": 2,
        "xtenant.not_queued": 1,
    }
    assert span.status.status_code is StatusCode.ERROR


def test_a_rejected_message_says_so_with_its_error_class(recorded: Recorded) -> None:
    rejected = RejectedMessage("its run recorded no such row", tenant_id=TENANT)

    with telemetry.tenant_job(ROW, retry_later=HandedBack) as span:
        telemetry.message_rejected(rejected)
        span.returned(Status.FAILED.value)

    [job] = recorded.named("tenant_job")
    assert (job.attributes or {})["xtenant.status"] == "rejected"
    assert (job.attributes or {})["xtenant.error_class"] == "rejected_message"
    assert job.status.status_code is StatusCode.UNSET
