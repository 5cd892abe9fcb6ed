"""The jobs' pure logic: parameters, staleness, exclusions, baseline diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.jobs import JOBS, InvalidParams, UnknownJob, get_job
from shared.jobs.guest_cleanup import Guest, GuestCleanupParams, is_excluded, is_stale
from shared.jobs.tenant_baseline import (
    TenantBaselineParams,
    current_value,
    desired_settings,
    wanted_value,
)

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def guest(*, last: int | None, created: int = 400, mail: str | None = None, upn: str = "") -> Guest:
    return Guest(
        id="1",
        upn=upn or "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        mail=mail,
        enabled=True,
        created=NOW - timedelta(days=created),
        last_sign_in=None if last is None else NOW - timedelta(days=last),
    )


def test_every_job_declares_name_description_and_permissions() -> None:
    assert set(JOBS) == {
        "guest-cleanup",
        "ensure-group",
        "tenant-baseline",
        "conditional-access-baseline",
        "security-defaults",
        "authentication-methods",
        "sharepoint-sharing",
        "emergency-access-check",
    }
    for job in JOBS.values():
        assert job.description
        assert job.permissions


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(UnknownJob) as caught:
        get_job("wipe-tenant")
    assert "guest-cleanup" in caught.value.remediation


def test_guest_cleanup_defaults_to_ninety_days() -> None:
    params = get_job("guest-cleanup").parse_params({})

    assert params == GuestCleanupParams(days=90, exclude_upns=(), exclude_domains=())


def test_bad_params_name_every_bad_field_in_one_error() -> None:
    with pytest.raises(InvalidParams) as caught:
        get_job("guest-cleanup").parse_params(
            {"days": "ninety", "exclude_domains": "fabrikam.com", "colour": "red"}
        )

    message = str(caught.value)
    assert "days must be an integer" in message
    assert "exclude_domains must be a list" in message
    assert "unknown field 'colour'" in message


def test_range_rules_apply_after_types() -> None:
    with pytest.raises(InvalidParams, match="days must be between 1 and 3650"):
        get_job("guest-cleanup").parse_params({"days": 0})


def test_ensure_group_requires_nickname_and_name_and_checks_formats() -> None:
    job = get_job("ensure-group")
    with pytest.raises(InvalidParams) as caught:
        job.parse_params({"members": ["bob"]})
    message = str(caught.value)
    assert "mail_nickname is required" in message
    assert "display_name is required" in message

    with pytest.raises(InvalidParams, match="mail_nickname must be"):
        job.parse_params({"mail_nickname": "has space", "display_name": "X"})
    with pytest.raises(InvalidParams, match="members must be user principal names"):
        job.parse_params({"mail_nickname": "ok", "display_name": "X", "members": ["bob"]})


def test_baseline_literal_choices_are_enforced() -> None:
    with pytest.raises(InvalidParams, match="allow_invites_from must be one of"):
        get_job("tenant-baseline").parse_params({"allow_invites_from": "anyone"})


@pytest.mark.parametrize(
    ("last", "created", "stale"),
    [(10, 400, False), (91, 400, True), (None, 400, True), (None, 30, False), (89, 400, False)],
)
def test_staleness_uses_last_sign_in_or_creation_when_never_signed_in(
    last: int | None, created: int, stale: bool
) -> None:
    assert is_stale(guest(last=last, created=created), days=90, now=NOW) is stale


def test_exclusions_by_upn_and_by_domain_including_subdomains() -> None:
    by_upn = GuestCleanupParams(exclude_upns=("ALICE_fabrikam.com#EXT#@contoso.onmicrosoft.com",))
    by_domain = GuestCleanupParams(exclude_domains=("fabrikam.com",))
    sub = guest(last=None, mail="carol@eu.fabrikam.com")

    assert is_excluded(guest(last=None), by_upn)
    assert is_excluded(guest(last=None), by_domain)
    assert is_excluded(sub, by_domain)
    assert not is_excluded(guest(last=None, mail="eve@notfabrikam.com"), by_domain)


def test_guest_record_takes_the_latest_of_all_sign_in_kinds() -> None:
    record = Guest.from_graph(
        {
            "id": "u1",
            "userPrincipalName": "a_b.com#EXT#@t.onmicrosoft.com",
            "accountEnabled": True,
            "createdDateTime": "2020-01-01T00:00:00Z",
            "signInActivity": {
                "lastSignInDateTime": "2026-01-01T00:00:00Z",
                "lastNonInteractiveSignInDateTime": "2026-11-01T00:00:00Z",
                "lastSuccessfulSignInDateTime": None,
            },
        }
    )

    assert record.last_sign_in == datetime(2026, 11, 1, tzinfo=UTC)
    assert record.home_domain == "b.com"


def test_baseline_manages_only_settings_that_are_not_null() -> None:
    params = TenantBaselineParams(allow_invites_from=None, user_consent=None)

    names = [s.name for s in desired_settings(params)]

    assert names == [
        "allowedToCreateApps",
        "allowedToCreateSecurityGroups",
        "allowedToCreateTenants",
    ]


def test_nested_policy_values_are_read_by_path() -> None:
    policy = {"defaultUserRolePermissions": {"allowedToCreateApps": True}}

    assert current_value(policy, ("defaultUserRolePermissions", "allowedToCreateApps")) is True
    assert current_value(policy, ("defaultUserRolePermissions", "absent")) is None


def test_user_consent_replaces_only_the_self_consent_entries() -> None:
    [consent] = [
        s
        for s in desired_settings(TenantBaselineParams(user_consent="none"))
        if s.name == "permissionGrantPoliciesAssigned"
    ]
    team = (
        "ManagePermissionGrantsForOwnedResource.microsoft-dynamically-managed-permissions-for-team"
    )
    current = ["managePermissionGrantsForSelf.microsoft-user-default-legacy", team]

    assert wanted_value(consent, current) == [team]
    assert wanted_value(consent, None) == []


def test_the_demo_tenants_grant_every_permission_a_job_declares() -> None:
    from devtools.fakecloud.scenario import DEMO_ROLES
    from shared.permissions import missing

    assert {name: missing(job.permissions, DEMO_ROLES) for name, job in JOBS.items()} == {
        name: [] for name in JOBS
    }
