"""Who may make xtenant act, through the local host: operators' Entra ID tokens, app roles, who
acted, and the audit trail. Tokens come from the fake cloud's home tenant, as Entra issues them.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from typing import Any

import httpx
import pytest

from devtools.fakecloud import FakeCloud
from devtools.fakecloud.operators import FLAWS, operator_app_id, operator_object_id
from shared.auth.tokens import InvalidToken, OperatorTokens, SigningKeys
from shared.settings import Settings
from tests.integration.stack_fixture import OPERATOR, Stack, new_tenant

pytestmark = pytest.mark.integration

READ, PLAN, APPLY, ADMIN = "xtenant.read", "xtenant.plan", "xtenant.apply", "xtenant.admin"
REASONS = {
    "expired": "token expired",
    "not_yet_valid": "token not yet valid",
    "wrong_audience": "token is for another audience",
    "wrong_issuer": "token issuer is not the home tenant",
    "other_tenant": "token issuer is not the home tenant",
    "alg_none": "algorithm none is not accepted",
    "hs256": "algorithm HS256 is not accepted",
    "unknown_kid": "unknown signing key",
    "bad_signature": "signature does not verify",
}


def plan_body(tenant_id: str, mode: str = "plan") -> dict[str, Any]:
    return {"job": "tenant-baseline", "mode": mode, "tenants": [tenant_id], "params": {}}


async def audit(stack: Stack, **filters: str) -> list[dict[str, Any]]:
    response = await stack.call("GET", "/api/audit", params=filters)
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


# -- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flaw", FLAWS)
async def test_a_bad_token_is_refused_with_a_bearer_challenge(
    cloud: FakeCloud, stack: Stack, flaw: str
) -> None:
    token = cloud.operator_token("mallory@contoso.example", [ADMIN, APPLY], flaw=flaw)

    response = await stack.call("GET", "/api/tenants", token=token)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == (
        f'Bearer error="invalid_token", error_description="{REASONS[flaw]}"'
    )


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic YWRhOnB3", "Bearer", "Bearer not.a.jwt", "Bearer ....", "Bearer a.b"],
)
async def test_no_token_or_garbage_is_a_401_never_a_500(stack: Stack, authorization: str) -> None:
    async with httpx.AsyncClient(base_url=stack.host.http_base_url) as client:
        headers = {"Authorization": authorization} if authorization else {}
        response = await client.post("/api/runs", headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "error" in response.json()


async def test_a_header_crafted_to_break_the_challenge_is_refused_plainly(stack: Stack) -> None:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = {"alg": 'x"\r\nSet-Cookie: a=b', "kid": "k"}
    crafted = f"{part(header)}.{part({})}.c2ln"

    response = await stack.call("GET", "/api/jobs", token=crafted)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].endswith('error_description="algorithm refused"')
    assert "set-cookie" not in response.headers


async def test_a_token_without_claims_the_app_needs_is_refused(
    cloud: FakeCloud, stack: Stack
) -> None:
    without_oid = cloud.operator_token("ada@contoso.example", [READ], oid=None)
    api_uri = cloud.operator_token(
        "ada@contoso.example", [READ], aud=f"api://{cloud.app_client_id}"
    )

    refused = await stack.call("GET", "/api/jobs", token=without_oid)
    accepted = await stack.call("GET", "/api/jobs", token=api_uri)

    assert refused.status_code == 401
    assert "token lacks the oid claim" in refused.headers["www-authenticate"]
    assert accepted.status_code == 200


async def test_after_the_keys_roll_a_token_signed_with_the_new_key_is_accepted(
    cloud: FakeCloud,
) -> None:
    # given the app's verifier, with a clock the test moves, having seen the current key
    now = [1000.0]
    settings = Settings.from_env()
    keys = SigningKeys(
        settings.openid_configuration_url,
        ssl_context=ssl.create_default_context(cafile=str(cloud.ca_bundle)),
        clock=lambda: now[0],
    )
    verifier = OperatorTokens(settings, keys)
    old = cloud.operator_token("ada@contoso.example", [READ])
    await verifier.verify(old)

    # when Entra rolls its keys
    cloud.rotate_operator_keys()
    new = cloud.operator_token("ada@contoso.example", [READ])
    discovery = len(cloud.requests(service="discovery"))

    # then a new kid waits a minute after the last fetch (no storm of fetches), then fetches once
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(new)
    now[0] += 61
    claims = await verifier.verify(new)
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(old)  # the old key is no longer published
    await verifier.close()

    assert claims["preferred_username"] == "ada@contoso.example"
    assert len(cloud.requests(service="discovery")) == discovery + 1


async def test_liveness_is_anonymous_and_says_nothing_else(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.host.http_base_url) as anonymous:
        live = await anonymous.get("/api/health/live")
        detailed = await anonymous.get("/api/health")

    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert detailed.status_code == 401


# -- roles -----------------------------------------------------------------------------------


async def test_each_role_stops_at_its_boundary(cloud: FakeCloud, stack: Stack) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    reader = cloud.operator_token("rita@contoso.example", [READ])
    planner = cloud.operator_token("pat@contoso.example", [PLAN])
    applier = cloud.operator_token("ada@contoso.example", [APPLY])
    admin = cloud.operator_token("adam@contoso.example", [ADMIN])
    tenant = {"name": "x", "enabled": True, "enrolments": {}}
    refused = {
        "read cannot plan": await stack.call(
            "POST", "/api/runs", plan_body(tenant_id), token=reader
        ),
        "read cannot check": await stack.call(
            "POST", f"/api/tenants/{tenant_id}/check", token=reader
        ),
        "plan cannot apply": await stack.call(
            "POST", "/api/runs", plan_body(tenant_id, "apply"), token=planner
        ),
        "apply cannot change the registry": await stack.call(
            "PUT", f"/api/tenants/{tenant_id}", tenant, token=applier
        ),
        "apply cannot delete": await stack.call(
            "DELETE", f"/api/tenants/{tenant_id}", token=applier
        ),
        "apply cannot onboard": await stack.call(
            "GET", "/api/onboard", params={"tenant": tenant_id}, token=applier
        ),
        "admin cannot apply": await stack.call(
            "POST", "/api/runs", plan_body(tenant_id, "apply"), token=admin
        ),
        "plan cannot read the audit": await stack.call("GET", "/api/audit", token=planner),
    }
    needed = {name: r.json()["error"]["required_role"] for name, r in refused.items()}

    assert {r.status_code for r in refused.values()} == {403}
    assert needed == {
        "read cannot plan": PLAN,
        "read cannot check": PLAN,
        "plan cannot apply": APPLY,
        "apply cannot change the registry": ADMIN,
        "apply cannot delete": ADMIN,
        "apply cannot onboard": ADMIN,
        "admin cannot apply": PLAN,  # the route needs plan first; apply runs need apply too
        "plan cannot read the audit": ADMIN,
    }
    assert (await stack.call("GET", f"/api/tenants/{tenant_id}")).json()["name"] != "x"


async def test_each_role_can_do_what_it_permits(cloud: FakeCloud, stack: Stack) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    reader = cloud.operator_token("rita@contoso.example", [READ])
    planner = cloud.operator_token("pat@contoso.example", [PLAN])
    applier = cloud.operator_token("ada@contoso.example", [APPLY])
    admin = cloud.operator_token("adam@contoso.example", [ADMIN])
    plan_only = {"tenant-baseline": {"mode": "plan", "params": {}}}

    allowed = [
        *[await stack.call("GET", p, token=reader) for p in ("/api/runs", "/api/tenants")],
        await stack.call("GET", "/api/health", token=reader),
        await stack.call("POST", "/api/runs", plan_body(tenant_id), token=planner),
        await stack.call("GET", "/api/jobs", token=planner),
        await stack.call("POST", "/api/runs", plan_body(tenant_id, "apply"), token=applier),
        await stack.call(
            "PATCH", f"/api/tenants/{tenant_id}", {"enrolments": plan_only}, token=admin
        ),
        await stack.call("GET", "/api/audit", token=admin),
    ]
    await stack.host.drain(timeout_s=60)

    assert [r.status_code for r in allowed] == [200, 200, 200, 202, 200, 202, 200, 200]


async def test_an_admin_without_apply_cannot_enrol_a_tenant_in_apply_mode(
    cloud: FakeCloud, stack: Stack
) -> None:
    # the schedule would apply it: an enrolment in apply mode is an apply decision
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id, {"guest-cleanup": {"mode": "plan", "params": {"days": 90}}})
    admin = cloud.operator_token("adam@contoso.example", [ADMIN])
    apply = {"guest-cleanup": {"mode": "apply", "params": {"days": 90}}}

    patched = await stack.call(
        "PATCH", f"/api/tenants/{tenant_id}", {"enrolments": apply}, token=admin
    )
    put = await stack.call(
        "PUT",
        f"/api/tenants/{uuid.uuid4()}",
        {"name": "n", "enabled": True, "enrolments": apply},
        token=admin,
    )
    renamed = await stack.call("PATCH", f"/api/tenants/{tenant_id}", {"name": "N"}, token=admin)

    assert patched.status_code == 403
    assert patched.json()["error"]["required_role"] == APPLY
    assert put.status_code == 403
    assert renamed.status_code == 200
    assert renamed.json()["enrolments"]["guest-cleanup"]["mode"] == "plan"


# -- who acted -------------------------------------------------------------------------------


async def test_a_run_names_the_user_or_application_that_started_it(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    await stack.register(tenant_id)
    user = cloud.operator_token("ada@contoso.example", [PLAN])
    app = cloud.operator_token("nightly-automation", [PLAN], kind="app")

    by_user = await stack.call("POST", "/api/runs", plan_body(tenant_id), token=user)
    by_app = await stack.call("POST", "/api/runs", plan_body(tenant_id), token=app)
    await stack.host.drain(timeout_s=60)
    user_run = await stack.status(by_user.json()["run_id"])
    app_run = await stack.status(by_app.json()["run_id"])

    assert user_run["requested_by"] == "ada@contoso.example"
    assert user_run["requested_by_id"] == operator_object_id("user", "ada@contoso.example")
    assert app_run["requested_by"] == operator_app_id("nightly-automation")
    assert app_run["requested_by_id"] == operator_object_id("app", "nightly-automation")
    assert by_user.json()["status_url"].startswith(stack.host.http_base_url)


# -- the audit trail -------------------------------------------------------------------------


async def test_every_call_that_changes_something_leaves_one_audit_record(
    cloud: FakeCloud, stack: Stack
) -> None:
    # given a tenant, and an operator who has done nothing yet
    tenant_id = new_tenant(cloud)
    name = f"auditor-{uuid.uuid4().hex[:6]}@contoso.example"
    token = cloud.operator_token(name, [ADMIN, APPLY])
    body = {"name": "Audited", "enabled": True, "enrolments": {}}

    # when they call every route that changes something, and some that do not
    calls = [
        ("PUT", f"/api/tenants/{tenant_id}", body, 201),
        ("PATCH", f"/api/tenants/{tenant_id}", {"name": "Audited 2"}, 200),
        ("POST", "/api/runs", plan_body(tenant_id), 202),
        ("POST", f"/api/tenants/{tenant_id}/check", None, 200),
        ("GET", f"/api/onboard?tenant={tenant_id}", None, 200),
        ("DELETE", f"/api/tenants/{tenant_id}", None, 200),
    ]
    for method, path, sent, status in calls:
        assert (await stack.call(method, path, sent, token=token)).status_code == status
    await stack.call("GET", "/api/tenants", token=token)
    await stack.host.drain(timeout_s=60)

    # then the trail has one record per change, newest first, naming who, what and the answer
    records = await audit(stack, principal=operator_object_id("user", name))
    assert [(r["method"], r["status"]) for r in records] == [
        (m, s) for m, _, _, s in reversed(calls)
    ]
    assert {r["principal"]["name"] for r in records} == {name}
    assert all(r["tenant_ids"] == [tenant_id] for r in records)
    run = next(r for r in records if r["path"] == "/api/runs")
    assert run["run_id"]
    assert '"mode":"plan"' in run["summary"]
    assert "Authorization" not in str(records)


async def test_the_audit_trail_pages_and_filters_by_tenant_and_principal(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = new_tenant(cloud)
    name = f"pager-{uuid.uuid4().hex[:6]}@contoso.example"
    token = cloud.operator_token(name, [ADMIN])
    for n in range(3):
        await stack.call("PATCH", f"/api/tenants/{tenant_id}", {"name": f"n{n}"}, token=token)
    await stack.register(tenant_id)  # by the stack's operator

    first = (
        await stack.call("GET", "/api/audit", params={"tenant": tenant_id, "limit": "2"})
    ).json()
    query = {"tenant": tenant_id, "limit": "2", "cursor": first["next"]}
    rest = (await stack.call("GET", "/api/audit", params=query)).json()
    mine = await audit(stack, tenant=tenant_id, principal=operator_object_id("user", name))
    bad = await stack.call("GET", "/api/audit", params={"principal": "ada"})

    assert len(first["records"]) == 2
    assert first["records"][0]["principal"]["name"] == OPERATOR
    assert [r["summary"] for r in first["records"][1:] + rest["records"]] == [
        'body {"name":"n2"}',
        'body {"name":"n1"}',
        'body {"name":"n0"}',
    ]
    assert [r["status"] for r in mine] == [404, 404, 404]  # PATCH of an unregistered tenant
    assert bad.status_code == 400


async def test_a_refused_attempt_is_audited_and_an_anonymous_one_is_not(
    cloud: FakeCloud, stack: Stack
) -> None:
    tenant_id = str(uuid.uuid4())
    name = f"intruder-{uuid.uuid4().hex[:6]}@contoso.example"
    reader = cloud.operator_token(name, [READ])

    await stack.call("DELETE", f"/api/tenants/{tenant_id}", token=reader)
    await stack.call("DELETE", f"/api/tenants/{tenant_id}", token="")

    records = await audit(stack, tenant=tenant_id)
    # (a tenant filter also finds calls over "all" tenants, which other tests make: only the
    # records that name this tenant are about these two calls)
    naming = [r for r in records if tenant_id in r["tenant_ids"]]
    assert [(r["principal"]["name"], r["status"]) for r in naming] == [(name, 403)]


async def test_operator_tokens_and_key_rotation_are_steerable_over_http(
    cloud: FakeCloud, stack: Stack
) -> None:
    trust = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    keys_url = f"/{cloud.home_tenant_id}/discovery/v2.0/keys"
    async with httpx.AsyncClient(base_url=cloud.authority_url, verify=trust) as control:
        issued = await control.post(
            "/_fake/operator-tokens", json={"name": "ci-pipeline", "roles": [READ], "kind": "app"}
        )
        before = {k["kid"] for k in (await control.get(keys_url)).json()["keys"]}
        rotated = (await control.post("/_fake/operator-keys/rotate")).json()["kid"]
        after = {k["kid"] for k in (await control.get(keys_url)).json()["keys"]}
        bad = await control.post("/_fake/operator-tokens", json={"name": "x", "flaw": "nope"})

    listed = await stack.call("GET", "/api/jobs", token=issued.json()["access_token"])
    _let_the_app_see_the_new_keys()

    assert listed.status_code == 200
    assert rotated in after
    assert rotated not in before
    assert len(before - after) == 1  # the old operator key is gone; the main key stays
    assert bad.status_code == 400


def _let_the_app_see_the_new_keys() -> None:
    """This test rolled the shared fake cloud's keys. The app refetches them on an unknown kid
    at most once a minute; a refetch another test caused within that minute must not make the
    next tests' new-key tokens fail, so the app may fetch at once again."""
    import function_app

    services = function_app._services
    assert services is not None
    services.operator_tokens.keys._next_fetch_at = 0.0
