"""Pure logic of the pipeline: message schema, run status, the tenant breaker, storage settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from shared import api, errors
from shared.ledger import overall_status
from shared.messages import BadMessage, TenantJobMessage
from shared.results import Mode, Status
from shared.services import Services
from shared.settings import SettingsError
from shared.storage import storage_config
from shared.tenant_requests import InvalidTenant, merge_patch, tenant_from_patch, tenant_from_put
from shared.tenants import Breaker, Enrolment, Health, HealthStatus, Tenant

TENANT = "33333333-3333-3333-3333-333333333333"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def message(**overrides: object) -> str:
    body: dict[str, object] = {
        "v": 2,
        "run_id": "20261128T120000Z-abcd1234",
        "tenant_id": TENANT,
        "job": "guest-cleanup",
        "mode": "apply",
        "params": {"days": 30},
        "requested_at": NOW.isoformat(),
        "origin": "schedule",
        "requested_by": "schedule",
    }
    body.update(overrides)
    return json.dumps(body)


def test_a_valid_message_round_trips() -> None:
    parsed = TenantJobMessage.parse(message())

    assert parsed.mode is Mode.APPLY
    assert parsed.scheduled
    assert TenantJobMessage.parse(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (message(v=1), "unsupported version v=1"),
        (message(run_id="20261128T120000Z-abcd1234\n"), "run_id must be"),
        (message(tenant_id=TENANT + "\n"), "tenant_id must be a GUID"),
        (message(origin="cron"), "origin must be schedule or manual"),
        (message(tenant_id="../x"), "tenant_id must be a GUID"),
        (message(job="wipe"), "unknown job 'wipe'"),
        (message(mode="yolo"), "mode must be plan or apply"),
        (message(params=[1]), "params must be an object"),
        (message(run_id="a/b"), "run_id must be"),
        (message(requested_by=""), "requested_by must be a non-empty string"),
    ],
)
def test_a_bad_message_is_refused_with_the_reason(body: str, problem: str) -> None:
    with pytest.raises(BadMessage) as caught:
        TenantJobMessage.parse(body)

    assert problem in caught.value.message
    assert caught.value.retryable is False


def test_a_bad_message_keeps_the_ids_it_could_read() -> None:
    with pytest.raises(BadMessage) as caught:
        TenantJobMessage.parse(message(job="wipe"))

    assert caught.value.known["tenant_id"] == TENANT


@pytest.mark.parametrize(
    ("statuses", "overall"),
    [
        ([], "empty"),
        ([Status.CHANGED, Status.QUEUED], "running"),
        ([Status.FAILED, Status.RUNNING], "running"),
        ([Status.CHANGED, Status.NO_CHANGES, Status.NOT_APPLICABLE], "succeeded"),
        ([Status.CHANGED, Status.FAILED], "partially_failed"),
        ([Status.CHANGED, Status.SKIPPED], "partially_failed"),
        ([Status.FAILED, Status.SKIPPED], "failed"),
        ([Status.CHANGED, Status.CANCELLED], "cancelled"),
        ([Status.CANCELLED], "cancelled"),
        ([Status.FAILED, Status.CANCELLED], "failed"),
    ],
)
def test_run_status_is_derived_from_its_rows(statuses: list[Status], overall: str) -> None:
    assert overall_status(statuses) == overall


def transient() -> errors.XtenantError:
    return errors.TransientError("HTTP 503")


def test_permanent_auth_failure_stops_scheduled_work_but_not_manual_runs() -> None:
    health = Health().after_failure(
        errors.ConsentMissing("AADSTS65001", remediation="consent"), now=NOW, breaker=Breaker()
    )

    assert health.status is HealthStatus.NEEDS_CONSENT
    assert health.last_error is not None
    assert health.last_error["remediation"] == "consent"
    assert not health.admits(scheduled=True, now=NOW)
    assert health.admits(scheduled=False, now=NOW)
    assert health.after_success().status is HealthStatus.HEALTHY


def test_repeated_transient_failures_quarantine_then_one_trial_decides() -> None:
    breaker = Breaker(quarantine_after=3, cooldown=timedelta(minutes=30))
    health = Health()
    for _ in range(2):
        health = health.after_failure(transient(), now=NOW, breaker=breaker)
    assert health.status is HealthStatus.HEALTHY

    health = health.after_failure(transient(), now=NOW, breaker=breaker)
    assert health.status is HealthStatus.QUARANTINED
    assert not health.admits(scheduled=False, now=NOW + timedelta(minutes=29))
    assert health.admits(scheduled=True, now=NOW + timedelta(minutes=30))  # half-open

    reopened = health.after_failure(transient(), now=NOW + timedelta(minutes=31), breaker=breaker)
    assert reopened.status is HealthStatus.QUARANTINED
    assert reopened.quarantined_until == NOW + timedelta(minutes=61)


def test_a_job_level_refusal_leaves_tenant_health_alone() -> None:
    health = Health().after_failure(
        errors.GraphRequestError("HTTP 400", status=400), now=NOW, breaker=Breaker()
    )

    assert health == Health()


def test_tenant_body_is_validated_with_every_problem_listed() -> None:
    with pytest.raises(InvalidTenant) as caught:
        tenant_from_put(
            TENANT,
            {
                "name": 7,
                "enabled": "yes",
                "colour": "red",
                "enrolments": {
                    "guest-cleanup": {"mode": "apply", "params": {"days": -1}},
                    "wipe": {"mode": "apply"},
                },
            },
            existing=None,
            check_params=api.check_params,
        )

    message_text = caught.value.message
    for expected in (
        "unknown field 'colour'",
        "name must be",
        "enabled must be",
        "enrolments.guest-cleanup",
        "days must be between",
        "enrolments.wipe",
    ):
        assert expected in message_text


def test_storage_connection_string_or_identity_based_settings() -> None:
    assert storage_config({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}).connection_string
    config = storage_config(
        {
            "AzureWebJobsStorage__accountName": "xtenantst",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "22222222-2222-2222-2222-222222222222",
        }
    )
    assert config.queue_url == "https://xtenantst.queue.core.windows.net"
    assert config.table_url == "https://xtenantst.table.core.windows.net"
    assert config.managed_identity_client_id == "22222222-2222-2222-2222-222222222222"
    assert "AccountKey" not in repr(storage_config({"AzureWebJobsStorage": "AccountKey=abc"}))


def test_missing_storage_settings_say_what_to_set() -> None:
    with pytest.raises(SettingsError, match="AzureWebJobsStorage__queueServiceUri"):
        storage_config({})


async def test_a_run_id_ending_in_a_newline_is_refused_before_storage_is_asked() -> None:
    no_services = cast(Services, None)  # validation comes first: nothing is looked up

    response = await api.get_run(no_services, "20261128T120000Z-abcd1234\n")

    assert response.status == 400
    assert response.body == {
        "error": {
            "code": "invalid_run_id",
            "message": "run id must be 1-64 letters, digits or dashes, got "
            "'20261128T120000Z-abcd1234\\n'",
        }
    }


def test_merge_patch_changes_only_what_is_sent_and_null_removes() -> None:
    target = {"name": "a", "enrolments": {"x": {"mode": "plan"}, "y": {"mode": "apply"}}}

    merged = merge_patch(target, {"enrolments": {"x": None, "y": {"mode": "plan"}}})

    assert merged == {"name": "a", "enrolments": {"y": {"mode": "plan"}}}


def stored_tenant() -> Tenant:
    return Tenant(
        TENANT,
        "Contoso",
        True,
        {"guest-cleanup": Enrolment(Mode.PLAN, {"days": 365, "exclude_domains": ["x.com"]})},
    )


def test_a_patch_that_only_disables_keeps_name_and_enrolments() -> None:
    patched = tenant_from_patch(stored_tenant(), {"enabled": False}, check_params=api.check_params)

    assert patched.enabled is False
    assert patched.name == "Contoso"
    assert patched.enrolments == stored_tenant().enrolments


def test_put_accepts_what_get_returns() -> None:
    record = stored_tenant().as_record()

    again = tenant_from_put(TENANT, record, existing=stored_tenant(), check_params=api.check_params)

    assert again.as_record() == record


def test_put_of_a_partial_body_over_an_existing_tenant_is_refused() -> None:
    with pytest.raises(InvalidTenant) as caught:
        tenant_from_put(
            TENANT, {"enabled": False}, existing=stored_tenant(), check_params=api.check_params
        )

    assert caught.value.problems == [
        "name is required to replace a tenant (PATCH changes only what it sends)",
        "enrolments is required to replace a tenant (PATCH changes only what it sends)",
    ]


def test_put_refuses_another_tenants_id_and_patch_refuses_read_only_fields() -> None:
    other = {**stored_tenant().as_record(), "tenant_id": "44444444-4444-4444-4444-444444444444"}
    with pytest.raises(InvalidTenant, match="is not the tenant in the URL"):
        tenant_from_put(TENANT, other, existing=None, check_params=api.check_params)
    with pytest.raises(InvalidTenant, match="health is read-only"):
        tenant_from_patch(stored_tenant(), {"health": {}}, check_params=api.check_params)


def test_a_row_skipped_by_a_quarantine_says_what_happens_next_not_the_retry_text() -> None:
    from shared.worker import QUARANTINED, skip_reason

    transient = errors.TransientError("HTTP 503", remediation=errors.RETRIED)
    health = Health(HealthStatus.QUARANTINED, 3, transient.as_record(), NOW)

    skipped = skip_reason(health)

    assert skipped.error_class == "quarantined"
    assert skipped.remediation == QUARANTINED
    assert "last error: HTTP 503" in skipped.message
