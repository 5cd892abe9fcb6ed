"""The console's pure pieces: the cookie, where a sign-in may lead, the Origin check, routing,
forms, and templates that the Content Security Policy lets run as they are."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from shared.console.app import ROUTES
from shared.console.auth import safe_next
from shared.console.render import STATIC, TEMPLATES
from shared.console.routes import parse_form
from shared.console.web import CSP, read_cookie, same_origin, set_cookie
from shared.settings import AuthMode, Cloud, Settings

LOCAL = Settings(
    app_client_id="11111111-1111-1111-1111-111111111111",
    home_tenant_id="22222222-2222-2222-2222-222222222222",
    public_url="http://127.0.0.1:7071",
    cloud=Cloud.PUBLIC,
    authority_host="https://login.microsoftonline.com",
    graph_endpoint="https://graph.microsoft.com",
    token_exchange_audience="api://AzureADTokenExchange",
    auth_mode=AuthMode.MANAGED_IDENTITY,
)
DEPLOYED = dataclasses.replace(LOCAL, public_url="https://xtenant.azurewebsites.net")


def test_the_deployed_cookie_is_secure_host_only_http_only_and_same_site_lax() -> None:
    header = set_cookie(DEPLOYED, "abc", max_age_s=28800)["Set-Cookie"]

    assert header == (
        "__Host-xtenant-console=abc; Path=/; Max-Age=28800; HttpOnly; SameSite=Lax; Secure"
    )


def test_the_local_cookie_is_not_secure_because_the_dev_host_serves_http() -> None:
    header = set_cookie(LOCAL, "abc", max_age_s=0)["Set-Cookie"]

    assert header == "xtenant-console=abc; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"


def test_a_malformed_cookie_header_is_no_session() -> None:
    assert read_cookie(DEPLOYED, {"Cookie": '__Host-xtenant-console="unterminated'}) is None
    assert read_cookie(DEPLOYED, {"cookie": "__Host-xtenant-console=abc; other=1"}) == "abc"
    assert read_cookie(DEPLOYED, {"Cookie": "xtenant-console=abc"}) is None  # not over https


@pytest.mark.parametrize(
    "asked",
    ["https://evil.example/api/console", "//evil.example/api/console", "/api/consolex", "/\\evil"],
)
def test_a_sign_in_never_leads_to_another_site(asked: str) -> None:
    assert safe_next(asked) == "/api/console/runs"


def test_a_sign_in_leads_back_to_the_console_page_asked_for() -> None:
    assert safe_next("/api/console/tenants?cursor=50") == "/api/console/tenants?cursor=50"


def test_a_form_must_come_from_the_apps_own_origin_when_the_browser_names_one() -> None:
    assert same_origin(DEPLOYED, {"Origin": "https://xtenant.azurewebsites.net"})
    assert not same_origin(DEPLOYED, {"origin": "https://evil.example"})
    assert not same_origin(DEPLOYED, {"Origin": "http://xtenant.azurewebsites.net"})
    assert same_origin(DEPLOYED, {})  # no Origin: the CSRF token alone decides


def test_a_literal_path_wins_over_a_run_id() -> None:
    found = ROUTES.find("GET", "runs/new")

    assert found is not None
    assert found[0].handler.__name__ == "new_run"


def test_every_action_is_a_post_and_audited_and_every_page_needs_a_role() -> None:
    posts = [p for p in ROUTES.pages if p.method == "POST"]
    unaudited = sorted(p.template for p in posts if not p.audited)

    assert unaudited == ["runs/new"]  # fills the form in; starts nothing
    assert all(p.method in ("GET", "POST") for p in ROUTES.pages)
    assert not [p for p in ROUTES.pages if p.method == "GET" and p.audited]


def test_a_form_keeps_repeated_fields_and_refuses_a_huge_body() -> None:
    assert parse_form(b"tenant=a&tenant=b&csrf=x") == {"tenant": ["a", "b"], "csrf": ["x"]}
    with pytest.raises(ValueError, match="larger than"):
        parse_form(b"x" * 300_000)


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    assert "'unsafe-inline'" not in CSP
    assert "'unsafe-eval'" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert "form-action 'self'" in CSP


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_no_template_has_inline_script_style_or_handlers(template: str) -> None:
    text = (TEMPLATES / template).read_text()

    assert re.findall(r"<script(?![^>]*\bsrc=)", text) == []
    assert "<style" not in text
    assert re.findall(r"\sstyle=", text) == []
    assert re.findall(r"\son[a-z]+=", text) == []
    assert "|safe" not in text.replace(" ", "")


def test_the_static_files_load_nothing_from_elsewhere() -> None:
    texts = [path.read_text() for path in Path(STATIC).iterdir()]

    assert not [t for t in texts if re.search(r"https?://", t)]
