"""Every body the HTTP API accepts, fuzzed: any malformed body is a 4xx naming the problem, never
a 500 (POST /api/runs, PUT and PATCH /api/tenants/{id}, PUT /api/groups/{name}).

The explicit examples are the inputs that broke the API before: JSON nested deeper than Python's
recursion limit, a wrong JSON type in every field, huge strings.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.strategies import (
    FUZZ,
    FUZZ_TENANT,
    HUGE,
    Body,
    deep_json,
    group_bodies,
    guids,
    odd_ids,
    run_requests,
    tenant_bodies,
)
from tests.integration.stack_fixture import Stack

pytestmark = pytest.mark.integration

WRONG_TYPES = Body.of(json.dumps({"job": ["x"], "mode": {"a": 1}}))
GROUP = {"mail_nickname": "fuzz-big", "display_name": "Big"}
THOUSANDS_OF_MEMBERS = [f"user{n}@contoso.example" for n in range(3000)]
DEEP_ARRAY = Body.of(deep_json(opener="["))
DEEP_OBJECT = Body.of(deep_json(opener="{"))


def answered_without_a_server_error(response: httpx.Response) -> None:
    """Below 500; an error answer says what is wrong in {"error": {"code", "message"}}."""
    assert response.status_code < 500, f"{response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.status_code != 404:
        error = response.json()["error"]
        assert error["code"]
        assert error["message"]


def run_body(job: str, params: object, tenants: object = None) -> Body:
    """A plan run of `job` for the fuzz tenant (or `tenants`), as POST /api/runs takes it."""
    chosen = [FUZZ_TENANT] if tenants is None else tenants
    return Body.of(json.dumps({"job": job, "mode": "plan", "tenants": chosen, "params": params}))


def enrolled(job: str, params: object) -> Body:
    """A PATCH body enrolling the tenant in `job` with `params`."""
    return Body.of(json.dumps({"enrolments": {job: {"mode": "plan", "params": params}}}))


async def send(stack: Stack, method: str, path: str, body: Body) -> httpx.Response:
    headers = {"content-type": "application/json"}
    return await stack.http.request(method, path, content=body.data, headers=headers, timeout=60)


@FUZZ
@given(body=run_requests())
@example(body=WRONG_TYPES)
@example(body=DEEP_ARRAY)
@example(body=DEEP_OBJECT)
@example(body=run_body("guest-cleanup", {"days": 90}, tenants=[FUZZ_TENANT + "\n"]))
@example(body=run_body("guest-cleanup", []))
@example(body=run_body("guest-cleanup", {"days": 90}, tenants={"group": "x" * HUGE}))
@example(body=run_body("guest-cleanup", {"days": 90}, tenants={"group": ["pilot"]}))
@example(body=run_body("ensure-group", GROUP | {"description": "x" * HUGE}))
@example(body=run_body("ensure-group", GROUP | {"members": THOUSANDS_OF_MEMBERS}))
@pytest.mark.usefixtures("fuzz_tenant")
async def test_a_run_request_never_gets_a_server_error(stack: Stack, body: Body) -> None:
    response = await send(stack, "POST", "/api/runs", body)

    answered_without_a_server_error(response)


@FUZZ
@given(tenant_id=guids | odd_ids, body=tenant_bodies())
@example(tenant_id="7c5a4c1e-6b4f-4f7e-9d39-5f1b2f9a0c11", body=WRONG_TYPES)
@example(tenant_id="7c5a4c1e-6b4f-4f7e-9d39-5f1b2f9a0c11", body=DEEP_OBJECT)
@example(tenant_id="7c5a4c1e-6b4f-4f7e-9d39-5f1b2f9a0c11\n", body=Body(b'{"name": "x"}'))
@example(
    tenant_id="7c5a4c1e-6b4f-4f7e-9d39-5f1b2f9a0c11",
    body=Body.of(
        json.dumps(
            {
                "name": "x",
                "enabled": True,
                "enrolments": {
                    "ensure-group": {
                        "mode": "apply",
                        "params": {
                            "mail_nickname": "x",
                            "display_name": "x",
                            "members": [f"u{i}@x.example" for i in range(3000)],
                        },
                    }
                },
            }
        )
    ),
)
async def test_a_tenant_put_never_gets_a_server_error(
    stack: Stack, tenant_id: str, body: Body
) -> None:
    path = f"/api/tenants/{quote(tenant_id, safe='')}"

    response = await send(stack, "PUT", path, body)

    answered_without_a_server_error(response)
    if response.status_code in (200, 201):
        await stack.call("DELETE", path)


@FUZZ
@given(body=tenant_bodies())
@example(body=WRONG_TYPES)
@example(body=DEEP_ARRAY)
@example(body=Body.of(json.dumps({"name": "x" * HUGE})))
@example(body=enrolled("guest-cleanup", {"days": "90"}))
async def test_a_tenant_patch_never_gets_a_server_error(
    stack: Stack, fuzz_tenant: str, body: Body
) -> None:
    response = await send(stack, "PATCH", f"/api/tenants/{fuzz_tenant}", body)

    answered_without_a_server_error(response)


@FUZZ
@given(name=st.one_of(st.just("fuzz-group"), odd_ids), body=group_bodies())
@example(name="fuzz-group", body=WRONG_TYPES)
@example(name="fuzz-group", body=DEEP_OBJECT)
@example(name="fuzz-group", body=Body.of(json.dumps({"tenants": [FUZZ_TENANT] * 6000})))
@example(name="fuzz-group", body=Body.of(json.dumps({"rule": {"tags_any": ["x" * HUGE]}})))
@pytest.mark.usefixtures("fuzz_tenant")
async def test_a_group_put_never_gets_a_server_error(stack: Stack, name: str, body: Body) -> None:
    path = f"/api/groups/{quote(name, safe='')}"

    response = await send(stack, "PUT", path, body)

    answered_without_a_server_error(response)
    if response.status_code in (200, 201) and name == "all":  # it always exists: clear it
        await stack.call("PUT", path, {"enrolments": {}})
    elif response.status_code in (200, 201):
        await stack.call("DELETE", path)
