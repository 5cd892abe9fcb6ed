"""The identity standards' pure logic: policy comparison, matching, params, which protection
governs a tenant, and how Graph's licence answers are classified."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.errors import GraphRequestError, NotLicensed
from shared.graph import error_from_graph_answer
from shared.jobs import InvalidParams, get_job
from shared.jobs.ca_policies import (
    ADMIN_ROLES,
    BLOCK_LEGACY,
    MFA_ADMINS,
    MFA_ALL_USERS,
    complies,
    find,
    governed,
)
from shared.jobs.security_defaults import SecurityDefaultsParams, TenantProtection, desired

BREAK_GLASS = "0b1c2d3e-0000-4000-8000-000000000001"
REPORT_ONLY = "enabledForReportingButNotEnforced"


def as_graph_returns(template_desired: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A policy as Graph returns it: the governed part plus server-added and default members."""
    policy = copy.deepcopy(template_desired)
    policy["conditions"]["users"] |= {"includeGuestsOrExternalUsers": None}
    policy["conditions"] |= {"signInRiskLevels": [], "platforms": None, "locations": None}
    policy["grantControls"] |= {"customAuthenticationFactors": [], "termsOfUse": []}
    server = {"id": "3f0b", "templateId": None, "createdDateTime": "2026-11-01T00:00:00Z"}
    return server | {"displayName": "xtenant: x", "sessionControls": None} | policy | extra


# --- no false drift ----------------------------------------------------------------------------


def test_a_policy_as_graph_returns_it_complies_with_what_was_written() -> None:
    wanted = MFA_ADMINS.governed(REPORT_ONLY, [BREAK_GLASS])

    assert complies(wanted, as_graph_returns(wanted))


def test_reordered_lists_and_recased_ids_and_keywords_are_no_drift() -> None:
    wanted = MFA_ADMINS.governed(REPORT_ONLY, [BREAK_GLASS])
    policy = as_graph_returns(wanted)
    users = policy["conditions"]["users"]
    users["includeRoles"] = [r.upper() for r in reversed(users["includeRoles"])]
    users["excludeUsers"] = [BREAK_GLASS.upper()]
    policy["conditions"]["applications"]["includeApplications"] = ["all"]

    assert complies(wanted, policy)


def test_absent_lists_are_empty_and_absent_client_app_types_are_all() -> None:
    wanted = MFA_ALL_USERS.governed(REPORT_ONLY, [BREAK_GLASS])
    policy = {
        "state": REPORT_ONLY,
        "conditions": {
            "users": {"includeUsers": ["All"], "excludeUsers": [BREAK_GLASS]},
            "applications": {"includeApplications": ["All"]},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["mfa"]},
    }

    assert complies(wanted, policy)


def test_and_or_over_a_single_control_is_no_drift() -> None:
    wanted = BLOCK_LEGACY.governed(REPORT_ONLY, [BREAK_GLASS])
    policy = as_graph_returns(wanted)
    policy["grantControls"]["operator"] = "AND"

    assert complies(wanted, policy)
    assert governed(policy)["grantControls"]["operator"] == "OR"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("state",), "disabled"),
        (("conditions", "users", "excludeUsers"), []),
        (
            ("conditions", "users", "excludeUsers"),
            [BREAK_GLASS, "9f0b1c2d-0000-4000-8000-00000000000a"],
        ),
        (("conditions", "users", "excludeGroups"), ["9f0b1c2d-0000-4000-8000-00000000000b"]),
        (("conditions", "users", "includeRoles"), list(ADMIN_ROLES)[:3]),
        (("conditions", "clientAppTypes"), ["browser"]),
        (("grantControls", "builtInControls"), ["compliantDevice"]),
    ],
)
def test_a_weaker_or_different_policy_is_drift(path: tuple[str, ...], value: Any) -> None:
    wanted = MFA_ADMINS.governed(REPORT_ONLY, [BREAK_GLASS])
    policy = as_graph_returns(wanted)
    node = policy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value

    assert not complies(wanted, policy)


def test_a_missing_policy_does_not_comply() -> None:
    assert not complies(BLOCK_LEGACY.governed(REPORT_ONLY, [BREAK_GLASS]), None)


# --- finding xtenant's policies --------------------------------------------------------------


def policy(policy_id: str, name: str, created: str = "2026-11-01T00:00:00Z") -> dict[str, Any]:
    return {"id": policy_id, "displayName": name, "createdDateTime": created}


def test_the_stored_ref_wins_over_the_name() -> None:
    found = find(
        [policy("a", "xtenant: Block legacy authentication"), policy("b", "Renamed")],
        "xtenant: Block legacy authentication",
        ref="B",
        claimed=set(),
    )

    assert (found.policy, found.by) == (policy("b", "Renamed"), "ref")


def test_a_stale_ref_falls_back_to_the_name_prefix_without_case() -> None:
    found = find(
        [policy("a", "XTENANT: block legacy authentication (v2)")],
        "xtenant: Block legacy authentication",
        ref="gone",
        claimed=set(),
    )

    assert (found.policy, found.by) == (
        policy("a", "XTENANT: block legacy authentication (v2)"),
        "name",
    )


def test_several_named_alike_the_oldest_is_governed_and_the_others_reported() -> None:
    name = "xtenant: Require MFA for all users"
    found = find(
        [policy("new", name, "2026-11-02T00:00:00Z"), policy("old", name, "2026-11-01T00:00:00Z")],
        name,
        ref=None,
        claimed=set(),
    )

    assert found.policy is not None
    assert found.policy["id"] == "old"
    assert found.duplicates == ("new",)


def test_a_policy_claimed_by_another_setting_is_not_matched_again() -> None:
    found = find([policy("a", "xtenant: x")], "xtenant: x", ref="a", claimed={"a"})

    assert found.policy is None


# --- params ------------------------------------------------------------------------------------


def test_params_default_to_report_only_all_three_policies_and_no_accounts() -> None:
    params = get_job("conditional-access-baseline").parse_params({})

    assert params.state == REPORT_ONLY
    assert params.emergency_accounts == ()
    assert params.name_prefix == "xtenant: "


def test_bad_params_name_every_problem() -> None:
    with pytest.raises(InvalidParams) as refused:
        get_job("conditional-access-baseline").parse_params(
            {"state": "on", "emergency_accounts": ["breakglass"], "name_prefix": " "}
        )

    problems = " ".join(refused.value.problems)
    assert "state" in problems
    assert "emergency_accounts" in problems
    assert "name_prefix" in problems


def test_governing_no_policy_at_all_is_refused() -> None:
    off = {k: False for k in ("block_legacy_authentication", "require_mfa_for_admins")}

    with pytest.raises(InvalidParams, match="at least one policy"):
        get_job("conditional-access-baseline").parse_params(
            off | {"require_mfa_for_all_users": False}
        )


# --- security defaults -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("has_p1", "enabled_policies", "mode", "wanted"),
    [
        (False, (), "conditional_access", (True, "security_defaults")),
        (False, (), "off", (True, "security_defaults")),
        (True, (), "conditional_access", (True, "security_defaults")),
        (True, ("MFA",), "conditional_access", (False, "conditional_access")),
        (True, ("MFA",), "security_defaults", (True, "security_defaults")),
        (True, (), "off", (False, "none")),
        (True, ("MFA",), "off", (False, "conditional_access")),
    ],
)
def test_which_protection_governs(
    has_p1: bool, enabled_policies: tuple[str, ...], mode: Any, wanted: tuple[bool, str]
) -> None:
    protection = TenantProtection(has_p1, False, enabled_policies)

    result = desired(protection, SecurityDefaultsParams(with_entra_id_p1=mode))

    assert (result["isEnabled"], result["governs"]) == wanted


def test_security_defaults_are_never_planned_on_beside_an_enabled_policy() -> None:
    for mode in ("conditional_access", "off"):
        protection = TenantProtection(True, True, ("MFA",))
        assert (
            desired(protection, SecurityDefaultsParams(with_entra_id_p1=mode))["isEnabled"] is False
        )


# --- Graph's licence answers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
        (400, "AadPremiumLicenseRequired"),
        (403, "AadPremiumLicenseRequired"),
    ],
)
def test_graphs_licence_refusals_are_not_licensed(status: int, code: str) -> None:
    error = error_from_graph_answer(status, code, "no premium licence", tenant_id="t")

    assert isinstance(error, NotLicensed)
    assert error.error_class == "not_licensed"


def test_a_400_without_a_licence_code_stays_a_graph_error() -> None:
    error = error_from_graph_answer(400, "BadRequest", "1039: premium P2 features", tenant_id="t")

    assert type(error) is GraphRequestError
