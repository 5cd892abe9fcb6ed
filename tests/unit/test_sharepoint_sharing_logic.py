"""sharepoint-sharing's pure logic: params, findings without false drift, the PATCH body, and
where it applies (clouds, the SharePoint Online plan)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.jobs import InvalidParams, get_job
from shared.jobs.applicability import LICENCE_PERMISSION, TenantFacts, unmet
from shared.jobs.sharepoint_sharing import (
    SharePointSharing,
    SharePointSharingParams,
    desired_settings,
    finding,
)

DOMAINS = "sharepoint.sharingDomainRestriction"


def findings(params: SharePointSharingParams, settings: dict[str, Any]) -> dict[str, Any]:
    return {f.setting: f for f in (finding(s, settings) for s in desired_settings(params))}


def test_the_defaults_share_with_existing_guests_only_without_resharing_or_legacy_auth() -> None:
    params = get_job("sharepoint-sharing").parse_params({})

    assert params == SharePointSharingParams(
        sharing_capability="existingExternalUserSharingOnly",
        resharing_by_external_users=False,
        legacy_auth_protocols=False,
        domain_restriction="none",
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"sharing_capability": "anyone"}, "sharing_capability must be one of"),
        ({"domain_restriction": "allowList"}, "allowList needs allowed_domains"),
        ({"domain_restriction": "blockList"}, "blockList needs blocked_domains"),
        ({"allowed_domains": ["fabrikam.com"]}, "allowed_domains needs domain_restriction"),
        (
            {"allowed_domains": ["a@fabrikam.com"], "domain_restriction": "allowList"},
            "allowed_domains items",
        ),
        ({"legacy_auth_protocols": 0}, "legacy_auth_protocols must be true or false"),
    ],
)
def test_bad_params_are_refused_naming_the_field(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        get_job("sharepoint-sharing").parse_params(raw)

    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_new_tenant_drifts_on_every_setting_but_the_domain_restriction() -> None:
    found = findings(SharePointSharingParams(), {})  # absent: a new tenant's defaults

    assert {s: f.compliant for s, f in found.items()} == {
        "sharepoint.sharingCapability": False,
        "sharepoint.isResharingByExternalUsersEnabled": False,
        "sharepoint.isLegacyAuthProtocolsEnabled": False,
        DOMAINS: True,
    }


def test_the_same_meaning_written_differently_is_compliant() -> None:
    params = SharePointSharingParams(
        domain_restriction="allowList", allowed_domains=("fabrikam.com", "contoso.com")
    )
    settings = {
        "sharingCapability": "ExistingExternalUserSharingOnly",
        "isResharingByExternalUsersEnabled": False,
        "isLegacyAuthProtocolsEnabled": False,
        "sharingDomainRestrictionMode": "allowList",
        "sharingAllowedDomainList": ["Contoso.com", "fabrikam.com", "contoso.com"],
        "sharingBlockedDomainList": ["northwind.com"],  # not the mode's list: not compared
        "tenantDefaultTimezone": "(UTC) Coordinated Universal Time",  # not managed
        "@odata.type": "#microsoft.graph.sharepointSettings",
    }

    assert all(f.compliant for f in findings(params, settings).values())


def test_an_absent_restriction_mode_and_lists_are_none_and_empty() -> None:
    found = findings(SharePointSharingParams(), {"sharingDomainRestrictionMode": None})[DOMAINS]

    assert found.compliant
    assert found.observed == {
        "sharingDomainRestrictionMode": "none",
        "sharingAllowedDomainList": [],
        "sharingBlockedDomainList": [],
    }


def test_a_drifted_setting_patches_only_its_properties() -> None:
    params = SharePointSharingParams(
        domain_restriction="blockList", blocked_domains=("evil.example",)
    )

    found = findings(
        params, {"sharingCapability": "disabled", "isLegacyAuthProtocolsEnabled": False}
    )

    assert found["sharepoint.sharingCapability"].changes[0].data["body"] == {
        "sharingCapability": "existingExternalUserSharingOnly"
    }
    assert found[DOMAINS].changes[0].data["body"] == {
        "sharingDomainRestrictionMode": "blockList",
        "sharingBlockedDomainList": ["evil.example"],
    }
    assert found["sharepoint.isLegacyAuthProtocolsEnabled"].changes == ()


@pytest.mark.parametrize(
    ("cloud", "plans", "reason"),
    [
        ("public", {"SHAREPOINTSTANDARD"}, None),
        ("usgov", {"SHAREPOINTENTERPRISE_GOV"}, None),
        ("public", {"SHAREPOINTDESKLESS"}, None),
        (
            "china",
            {"SHAREPOINTSTANDARD"},
            "The SharePoint settings API is not available in the china cloud",
        ),
        ("public", {"EXCHANGE_S_STANDARD", "AAD_PREMIUM"}, "needs SharePoint Online"),
        ("public", set(), "needs SharePoint Online"),
    ],
)
def test_it_applies_in_the_global_and_us_government_clouds_with_a_sharepoint_plan(
    cloud: str, plans: set[str], reason: str | None
) -> None:
    facts = TenantFacts(cloud=cloud, service_plans=frozenset(plans))

    found = unmet(SharePointSharing.prerequisites, facts)

    assert (found is None) is (reason is None)
    assert (found or "").startswith(reason or "")


def test_it_reads_licences_with_the_licence_permission() -> None:
    assert LICENCE_PERMISSION in SharePointSharing.permissions
    assert any(p.needs_licences for p in SharePointSharing.prerequisites)
