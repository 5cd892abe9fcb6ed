"""Onboarding's pure parts: the consent URL, the token's roles, the choice of the check's Graph
read, and the callback's pages."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.jobs import JOBS
from shared.onboarding_check import choose_probe, missing_per_job, token_roles
from shared.onboarding_pages import HtmlPage, done_page, not_completed_page
from shared.settings import Settings

APP = "11111111-1111-1111-1111-111111111111"
ALL = tuple(sorted({p for job in JOBS.values() for p in job.permissions}))


def jwt_with(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256'})}.{part(claims)}.signature"


def settings(cloud: str = "public") -> Settings:
    env = {
        "APP_CLIENT_ID": APP,
        "AZURE_TENANT_ID": "33333333-3333-3333-3333-333333333333",
        "XTENANT_PUBLIC_URL": "https://func-x.azurewebsites.net",
        "AZURE_CLIENT_ID": "22222222-2222-2222-2222-222222222222",
        "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token",
        "IDENTITY_HEADER": "x",
        "AZURE_CLOUD": cloud,
    }
    return Settings.from_env(env)


@pytest.mark.parametrize(
    ("cloud", "authority", "scope"),
    [
        ("public", "https://login.microsoftonline.com", "https://graph.microsoft.com/.default"),
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us/.default"),
    ],
)
def test_the_consent_url_is_the_v2_admin_consent_endpoint_of_the_cloud(
    cloud: str, authority: str, scope: str
) -> None:
    url = urlsplit(
        settings(cloud).admin_consent_url("organizations", redirect_uri="https://h/cb", state="s")
    )

    assert (
        f"{url.scheme}://{url.netloc}{url.path}" == f"{authority}/organizations/v2.0/adminconsent"
    )
    assert parse_qs(url.query) == {
        "client_id": [APP],
        "scope": [scope],
        "redirect_uri": ["https://h/cb"],
        "state": ["s"],
    }


def test_token_roles_are_read_from_the_payload_and_unreadable_tokens_give_none() -> None:
    assert token_roles(jwt_with({"roles": ["User.Read.All"]})) == ("User.Read.All",)
    assert token_roles(jwt_with({"tid": "x"})) == ()
    assert token_roles("opaque-token") is None
    assert token_roles("a.!!!.c") is None


@pytest.mark.parametrize(
    ("roles", "read"),
    [
        (ALL, "GET /users?$top=1&$select=id"),
        (None, "GET /users?$top=1&$select=id"),
        (("Policy.ReadWrite.Authorization",), "GET /policies/authorizationPolicy"),
        (("GroupMember.ReadWrite.All",), "GET /groups?$top=1&$select=id"),
        (("Policy.ReadWrite.AuthenticationMethod",), "GET /policies/authenticationMethodsPolicy"),
        (
            ("SharePointTenantSettings.ReadWrite.All", "LicenseAssignment.Read.All"),
            "GET /subscribedSkus",
        ),
    ],
)
def test_the_check_reads_what_the_granted_permissions_allow(
    roles: tuple[str, ...] | None, read: str
) -> None:
    probe = choose_probe(roles)

    assert probe is not None
    assert probe.describe == read


def test_a_token_with_no_graph_permission_gets_no_read() -> None:
    assert choose_probe(()) is None
    assert choose_probe(("Mail.Send",)) is None


def test_missing_permissions_are_listed_per_job() -> None:
    assert missing_per_job(ALL) == {}
    assert missing_per_job(None) == {}
    # User.ReadWrite.All granted covers the User.Read.All that ensure-group declares
    assert missing_per_job(("User.ReadWrite.All", "AuditLog.Read.All")) == {
        "guest-cleanup": ["LicenseAssignment.Read.All"],
        "ensure-group": ["Group.ReadWrite.All", "GroupMember.ReadWrite.All"],
        "tenant-baseline": ["Policy.ReadWrite.Authorization"],
        "conditional-access-baseline": [
            "Policy.Read.All",
            "Policy.ReadWrite.ConditionalAccess",
            "LicenseAssignment.Read.All",
        ],
        "security-defaults": [
            "Policy.Read.All",
            "Policy.ReadWrite.SecurityDefaults",
            "LicenseAssignment.Read.All",
        ],
        "authentication-methods": ["Policy.ReadWrite.AuthenticationMethod"],
        "sharepoint-sharing": [
            "SharePointTenantSettings.ReadWrite.All",
            "LicenseAssignment.Read.All",
        ],
        "emergency-access-check": [
            "GroupMember.Read.All",
            "RoleManagement.Read.Directory",
            "Policy.Read.All",
            "LicenseAssignment.Read.All",
        ],
    }


def test_the_callback_has_two_fixed_pages_that_name_nothing() -> None:
    done, not_done = done_page(), not_completed_page()

    assert (done.status, not_done.status) == (200, 400)
    assert done.details == not_done.details == ()
    assert "contact your provider" in not_done.html()
    assert done.headers["Referrer-Policy"] == "no-referrer"
    assert done.headers["Cache-Control"] == "no-store"


def test_pages_escape_everything_they_show() -> None:
    page = HtmlPage(
        400, "<b>title</b>", ("AADSTS65004: <script>alert(1)</script>",), (("k", "<a href=x>"),)
    )

    assert "<script>" not in page.html()
    assert "<b>" not in page.html()
    assert "<a href" not in page.html()
    assert "&lt;script&gt;" in page.html()
