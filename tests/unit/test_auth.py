"""Who may call the API, without I/O: roles and what they imply, the principal a token's claims
name, the bearer header, the role next to every route, and the audit trail's pure parts."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.auth.audit import CONSENT_CALLBACK, AuditRecord, AuditTrail, _row_key, summarize
from shared.auth.guard import is_audited, required_role
from shared.auth.principal import Principal, PrincipalKind
from shared.auth.roles import Role, granted
from shared.auth.tokens import MissingToken, bearer_token

OID = "6d3f2a90-1c8e-4b7a-9f05-2e4d8c1b7a36"
CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
#: Routes that take no token: the redirect URI customers' administrators land on, and liveness.
ANONYMOUS_ROUTES = {"consent/callback", "health/live"}
#: The console's one route has a guard of its own (session, CSRF token, the role of each page:
#: shared/console/app.py), each page's role and audit declared there (tests/unit/test_console.py).
CONSOLE_ROUTE = "console/{*path}"


def http_functions() -> list[tuple[str, list[str], dict[str, Any], Any]]:
    """(route, methods, trigger binding, user function) of every HTTP function of the app."""
    import function_app

    function_app.app.functions_bindings = None  # get_functions() refuses names it has seen
    found = []
    for function in function_app.app.get_functions():
        bindings = json.loads(function.get_function_json())["bindings"]
        trigger = next((b for b in bindings if b["type"] == "httpTrigger"), None)
        if trigger is not None:
            methods = [m.upper() for m in trigger.get("methods", [])]
            found.append((trigger["route"], methods, trigger, function.get_user_function()))
    return found


def test_each_role_grants_what_it_includes_and_admin_does_not_include_apply() -> None:
    assert granted(["xtenant.read"]) == {Role.READ}
    assert granted(["xtenant.plan"]) == {Role.PLAN, Role.READ}
    assert granted(["xtenant.apply"]) == {Role.APPLY, Role.PLAN, Role.READ}
    assert granted(["xtenant.admin"]) == {Role.ADMIN, Role.READ}
    assert granted(["xtenant.admin", "Directory.ReadWrite.All", "XTENANT.APPLY"]) == {
        Role.ADMIN,
        Role.READ,
    }


def test_a_user_is_named_by_upn_and_an_application_by_its_app_id() -> None:
    user = Principal.from_claims(
        {
            "oid": OID.upper(),
            "scp": "user_impersonation",
            "preferred_username": "ada@contoso.example",
            "azp": CLI,
            "roles": ["xtenant.plan"],
        }
    )
    app = Principal.from_claims(
        {"oid": OID, "idtyp": "app", "azp": "AB12", "roles": ["xtenant.read"], "name": "x"}
    )

    assert (user.kind, user.display, user.object_id, user.app_id) == (
        PrincipalKind.USER,
        "ada@contoso.example",
        OID,
        CLI,
    )
    assert user.may(Role.READ)
    assert not user.may(Role.APPLY)
    assert (app.kind, app.display, app.name) == (PrincipalKind.APP, "ab12", "")
    assert not app.may(Role.PLAN)


def test_a_principal_without_roles_may_do_nothing() -> None:
    nobody = Principal.from_claims({"oid": OID, "scp": "user_impersonation", "roles": "admin"})

    assert not any(nobody.may(role) for role in Role)
    assert nobody.display == OID


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc ", "abc"), ("BEARER x", "x")],
)
def test_the_token_is_read_from_a_bearer_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic abc", "abc"])
def test_anything_but_a_bearer_token_is_no_token(header: str | None) -> None:
    with pytest.raises(MissingToken):
        bearer_token(header)


def test_every_http_route_but_two_declares_the_role_it_needs() -> None:
    routes = http_functions()
    undeclared = sorted(route for route, _, _, fn in routes if required_role(fn) is None)

    assert len(routes) >= 15
    assert undeclared == sorted(ANONYMOUS_ROUTES | {CONSOLE_ROUTE})


def test_the_host_lets_every_call_in_because_the_app_checks_each_itself() -> None:
    levels = {trigger.get("authLevel") for _, _, trigger, _ in http_functions()}

    assert levels == {"ANONYMOUS"}


def test_every_route_that_changes_something_is_audited() -> None:
    changing = {"POST", "PUT", "PATCH", "DELETE"}
    missing = sorted(
        route
        for route, methods, _, fn in http_functions()
        if (changing & set(methods) or route == "onboard")
        and not is_audited(fn)
        and route not in ANONYMOUS_ROUTES | {CONSOLE_ROUTE}
    )
    roles = {
        route: required_role(fn)
        for route, m, _, fn in http_functions()
        if "GET" not in m and route != CONSOLE_ROUTE
    }

    assert missing == []
    assert roles == {
        "runs": Role.PLAN,
        "runs/{run_id}/rerun": Role.PLAN,  # and apply for apply rows (run_actions)
        "runs/{run_id}/cancel": Role.PLAN,
        "runs/{run_id}/approve": Role.ADMIN,  # never the requester
        "runs/{run_id}/reject": Role.ADMIN,
        "runs/{run_id}/resume": Role.APPLY,
        "runs/{run_id}/abort": Role.APPLY,
        "tenants/{tenant_id}": Role.ADMIN,
        "groups/{name}": Role.ADMIN,  # and apply when it lets the schedule apply (group_api)
        "tenants/{tenant_id}/check": Role.PLAN,
        "tenants/{tenant_id}/exceptions/{standard}/{setting}": Role.ADMIN,
    }


def test_a_summary_never_holds_a_function_key_and_is_cut_short() -> None:
    long = summarize({"tenant": "t", "code": "function-key"}, {"params": {"members": ["x"] * 900}})

    assert "function-key" not in long
    assert long.startswith('query {"tenant": "t"}; body {"params":')
    assert long.endswith(" (truncated)")
    assert len(long) == 1000


def test_newer_records_sort_first() -> None:
    earlier = _row_key(datetime(2026, 11, 1, tzinfo=UTC))
    later = _row_key(datetime(2026, 11, 2, tzinfo=UTC))

    assert later < earlier


class _BrokenTable:
    async def create_entity(self, entity: dict[str, Any]) -> None:
        raise ConnectionError("storage is down")


def test_an_audit_record_that_cannot_be_written_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trail = AuditTrail(_BrokenTable())  # type: ignore[arg-type]
    record = AuditRecord(CONSENT_CALLBACK, "GET", "/api/consent/callback", 200, "done")

    with caplog.at_level(logging.ERROR):
        asyncio.run(trail.write(record))

    assert "AUDIT RECORD NOT WRITTEN" in caplog.text
    assert '"summary": "done"' in caplog.text
