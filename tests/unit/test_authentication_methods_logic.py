"""authentication-methods' pure logic: params, findings without false drift, PATCH bodies, the
cloud it applies in."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import InvalidParams, get_job
from shared.jobs.applicability import TenantFacts, unmet
from shared.jobs.authentication_methods import (
    MIGRATION_SETTING,
    AuthenticationMethods,
    AuthenticationMethodsParams,
    Wanted,
    method_finding,
    migration_finding,
    wanted_methods,
)

GROUP = "6f1c1a55-7a4e-4d2b-9c55-0a1fa6ec0d11"
OTHER = "0b3e3f5c-1d2e-4f60-8a7b-9c0d1e2f3a4b"
FIDO2_TYPE = "#microsoft.graph.fido2AuthenticationMethodConfiguration"


def configuration(state: str, *targets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "@odata.type": FIDO2_TYPE,
        "id": "Fido2",
        "state": state,
        "includeTargets": list(targets),
        "excludeTargets": [],
        **extra,
    }


def target(target_id: str, **extra: Any) -> dict[str, Any]:
    return {"targetType": "group", "id": target_id, "isRegistrationRequired": False, **extra}


ON_FOR_TWO = Wanted("fido2", True, (GROUP, OTHER))


def test_the_defaults_turn_authenticator_and_fido2_on_for_all_users_and_sms_and_voice_off() -> None:
    params = get_job("authentication-methods").parse_params({})

    assert [(w.method, w.enabled, w.targets) for w in wanted_methods(params)] == [
        ("microsoftAuthenticator", True, ("all_users",)),
        ("fido2", True, ("all_users",)),
        ("sms", False, ()),
        ("voice", False, ()),
    ]
    assert params.complete_migration is False


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"enable": ["sms"], "disable": ["sms"]}, "enable and disable both name sms"),
        ({"enable": ["carrierPigeon"]}, "enable items: must be one of"),
        ({"include_targets": ["everyone"]}, "include_targets items must be group ids"),
        ({"include_targets": []}, "include_targets must name all_users or a group"),
        ({"complete_migration": "yes"}, "complete_migration must be true or false"),
    ],
)
def test_bad_params_are_refused_naming_the_field(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        get_job("authentication-methods").parse_params(raw)

    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    "observed",
    [
        # reordered targets, server-added properties on them and on the configuration
        configuration(
            "enabled",
            target(OTHER, isUsableForSignIn=True),
            target(GROUP),
            isAttestationEnforced=True,
            lastModifiedDateTime="2026-01-01T00:00:00Z",
        ),
        # enum and GUID case
        configuration("Enabled", target(OTHER.upper()), target(GROUP)),
        # an absent targetType is Graph's default, group
        configuration("enabled", {"id": GROUP}, {"id": OTHER}),
        # repeats mean nothing to a set
        configuration("enabled", target(GROUP), target(OTHER), target(GROUP)),
    ],
)
def test_the_same_meaning_written_differently_is_compliant(observed: dict[str, Any]) -> None:
    found = method_finding(ON_FOR_TWO, observed)

    assert found.compliant, found.observed
    assert found.changes == ()


def test_a_method_to_turn_off_is_judged_by_its_state_alone() -> None:
    off = Wanted("sms", False)

    assert method_finding(off, configuration("disabled", target("all_users"))).compliant
    assert not method_finding(off, configuration("enabled")).compliant


def test_absent_targets_are_no_targets() -> None:
    found = method_finding(
        Wanted("fido2", True, ("all_users",)), {"id": "Fido2", "state": "enabled"}
    )

    assert not found.compliant
    assert found.observed == {"state": "enabled", "includeTargets": []}


def test_the_patch_names_the_type_and_only_what_differs() -> None:
    found = method_finding(
        Wanted("fido2", True, ("all_users",)), configuration("disabled", target("ALL_USERS"))
    )

    [change] = found.changes
    assert change.action == "enable"
    assert change.data["path"].endswith("/authenticationMethodConfigurations/Fido2")
    assert change.data["body"] == {"@odata.type": FIDO2_TYPE, "state": "enabled"}


def test_new_targets_replace_the_list_but_targets_kept_keep_their_own_settings() -> None:
    kept = target(GROUP, isRegistrationRequired=True)
    found = method_finding(ON_FOR_TWO, configuration("enabled", kept, target("all_users")))

    [change] = found.changes
    assert change.data["body"] == {
        "@odata.type": FIDO2_TYPE,
        "includeTargets": [kept, {"targetType": "group", "id": OTHER}],
    }


def test_a_method_missing_from_the_policy_is_reported_without_a_change() -> None:
    found = method_finding(Wanted("sms", False), None)

    assert (found.compliant, found.observed, found.changes) == (False, None, ())


@pytest.mark.parametrize("complete", [False, True])
def test_the_migration_state_is_reported_and_changed_only_when_asked(complete: bool) -> None:
    found = migration_finding({"policyMigrationState": "preMigration"}, complete)

    assert (found.setting, found.compliant) == (MIGRATION_SETTING, False)
    assert len(found.changes) == (1 if complete else 0)
    done = migration_finding({"policyMigrationState": "MigrationComplete"}, complete)
    assert done.compliant


@pytest.mark.parametrize(
    ("cloud", "applies"), [("public", True), ("usgov", True), ("china", False)]
)
def test_it_applies_where_graph_has_the_api(cloud: str, applies: bool) -> None:
    reason = unmet(AuthenticationMethods.prerequisites, TenantFacts(cloud=cloud))

    assert (reason is None) is applies
    if not applies:
        assert reason == "The authentication methods policy API is not available in the china cloud"


def test_it_reads_no_licences() -> None:
    job = AuthenticationMethods()

    assert not any(p.needs_licences for p in job.prerequisites)
    assert job.permissions == ("Policy.ReadWrite.AuthenticationMethod",)
    assert AuthenticationMethodsParams().enable == ("microsoftAuthenticator", "fido2")
