"""The fake cloud's Entra ID and managed identity endpoints, seen by real clients over HTTPS.

Clients: httpx (trusting the fake's CA bundle), azure-identity's aio credentials and MSAL. Every
assertion is on what a client sees: HTTP status, `error_codes`, token claims.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import (
    CertificateCredential,
    ClientAssertionCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
)

from devtools.fakecloud.ca import make_self_signed_certificate
from devtools.fakecloud.faults import Fault
from devtools.fakecloud.scenario import (
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)
from devtools.fakecloud.server import FakeCloud

pytestmark = pytest.mark.integration

EXCHANGE = "api://AzureADTokenExchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEMO = Path(__file__).parents[2] / "devtools" / "fakecloud" / "scenarios" / "demo.json"


@pytest.fixture
async def http(cloud: FakeCloud) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=str(cloud.ca_bundle))
    async with httpx.AsyncClient(verify=context, timeout=10) as client:
        yield client


def healthy_tenant(cloud: FakeCloud) -> str:
    return cloud.scenario.tenants[0].tenant_id


def new_tenant(cloud: FakeCloud, **changes: Any) -> str:
    tenant_id = str(uuid.uuid4())
    cloud.set_tenant(tenant_id, **changes)
    return tenant_id


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


async def post_token(
    http: httpx.AsyncClient, cloud: FakeCloud, tenant: str, **form: str
) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": cloud.app_client_id,
        "scope": f"{cloud.graph_url}/.default",
        **form,
    }
    return await http.post(cloud.token_endpoint(tenant), data=body)


async def exchange(
    http: httpx.AsyncClient, cloud: FakeCloud, tenant: str, assertion: str
) -> httpx.Response:
    return await post_token(
        http, cloud, tenant, client_assertion=assertion, client_assertion_type=JWT_BEARER
    )


def assert_entra_error(response: httpx.Response, status: int, code: int) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in body["error_description"]
    assert "Correlation ID: " in body["error_description"]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= body.keys()


async def get_mi_token(
    http: httpx.AsyncClient, cloud: FakeCloud, *, header: str | None = None, **query: str
) -> httpx.Response:
    params = {"api-version": "2019-08-01", "resource": EXCHANGE, **query}
    headers = {"X-IDENTITY-HEADER": cloud.identity_header if header is None else header}
    return await http.get(cloud.identity_endpoint, params=params, headers=headers)


# -- managed identity endpoint ----------------------------------------------------------------


async def test_msi_endpoint_issues_a_signed_token_for_the_managed_identity(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await get_mi_token(http, cloud, client_id=cloud.mi_client_id)

    body = response.json()
    assert response.status_code == 200
    assert body["resource"] == EXCHANGE
    assert body["token_type"] == "Bearer"
    assert body["client_id"] == cloud.mi_client_id
    claims = cloud.signing_key.verify(body["access_token"], audience=EXCHANGE)
    assert claims["iss"] == f"{cloud.authority_url}/{cloud.home_tenant_id}/v2.0"
    assert claims["sub"] == claims["oid"] == cloud.mi_principal_id
    assert claims["tid"] == cloud.home_tenant_id
    assert claims["azp"] == cloud.mi_client_id
    assert int(body["expires_on"]) == claims["exp"]
    assert claims["exp"] - time.time() > 23 * 3600


async def test_msi_endpoint_token_lifetime_follows_the_state(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    cloud.state.mi_token_lifetime_s = 120

    body = (await get_mi_token(http, cloud)).json()

    assert 100 < int(body["expires_on"]) - time.time() <= 120


async def test_msi_endpoint_refuses_a_wrong_identity_header(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await get_mi_token(http, cloud, header="not-the-header")

    assert response.status_code == 401
    assert response.json()["statusCode"] == 401


async def test_msi_endpoint_refuses_another_client_id(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await get_mi_token(http, cloud, client_id=str(uuid.uuid4()))

    assert response.status_code == 400
    assert response.json()["message"].startswith("No User Assigned or Delegated Managed Identity")


@pytest.mark.parametrize(
    ("query", "missing"),
    [({"api-version": "2017-09-01"}, "api-version"), ({"resource": ""}, "resource")],
)
async def test_msi_endpoint_refuses_a_bad_api_version_or_resource(
    http: httpx.AsyncClient, cloud: FakeCloud, query: dict[str, str], missing: str
) -> None:
    response = await get_mi_token(http, cloud, **query)

    assert response.status_code == 400
    assert missing in response.json()["message"]


async def test_azure_identity_managed_identity_credential_gets_an_exchange_token(
    cloud: FakeCloud,
) -> None:
    async with ManagedIdentityCredential(client_id=cloud.mi_client_id) as credential:
        token = await credential.get_token(f"{EXCHANGE}/.default")

    assert claims_of(token.token)["aud"] == EXCHANGE
    assert cloud.counters()["msi.status.200"] == 1


async def test_msi_fault_answers_the_status_with_retry_after(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    cloud.add_fault(Fault(service="msi", kind="status", status=503, retry_after="7", count=1))

    first, second = await get_mi_token(http, cloud), await get_mi_token(http, cloud)

    assert (first.status_code, first.headers["Retry-After"]) == (503, "7")
    assert second.status_code == 200


# -- discovery ----------------------------------------------------------------------------------


async def test_discovery_keys_verify_a_token_issued_for_the_tenant(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant = healthy_tenant(cloud)
    config_url = f"{cloud.authority_url}/{tenant}/v2.0/.well-known/openid-configuration"
    config = (await http.get(config_url)).json()
    keys = jwt.PyJWKSet.from_dict((await http.get(config["jwks_uri"])).json())

    response = await exchange(http, cloud, tenant, cloud.mint_assertion())
    token = response.json()["access_token"]
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=cloud.graph_url)

    assert config["issuer"] == claims["iss"] == f"{cloud.authority_url}/{tenant}/v2.0"
    assert config["token_endpoint"] == cloud.token_endpoint(tenant)


async def test_common_keys_and_instance_discovery_describe_the_fake_authority(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant = healthy_tenant(cloud)
    keys = (await http.get(f"{cloud.authority_url}/common/discovery/v2.0/keys")).json()
    instance = await http.get(
        f"{cloud.authority_url}/common/discovery/instance",
        params={
            "api-version": "1.1",
            "authorization_endpoint": f"{cloud.authority_url}/{tenant}/oauth2/v2.0/authorize",
        },
    )

    assert keys["keys"][0]["kid"] == cloud.signing_key.kid
    assert instance.json()["tenant_discovery_endpoint"] == (
        f"{cloud.authority_url}/{tenant}/v2.0/.well-known/openid-configuration"
    )


# -- token endpoint: federated credential (the managed identity's token) -------------------------


async def test_client_assertion_credential_gets_a_token_with_the_tenants_roles(
    cloud: FakeCloud,
) -> None:
    tenant = new_tenant(cloud, state="consented", roles=["User.Read.All", "Group.ReadWrite.All"])
    credential = ClientAssertionCredential(
        tenant, cloud.app_client_id, cloud.mint_assertion, authority=cloud.authority_url
    )
    async with credential:
        token = await credential.get_token(f"{cloud.graph_url}/.default")

    claims = cloud.signing_key.verify(token.token, audience=cloud.graph_url)
    assert claims["tid"] == tenant
    assert claims["roles"] == ["User.Read.All", "Group.ReadWrite.All"]
    assert claims["azp"] == claims["appid"] == cloud.app_client_id
    assert claims["idtyp"] == "app"
    assert claims["iss"] == f"{cloud.authority_url}/{tenant}/v2.0"


async def test_token_for_public_graph_scope_is_issued_for_the_fake_graph(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await post_token(
        http,
        cloud,
        healthy_tenant(cloud),
        client_assertion=cloud.mint_assertion(),
        client_assertion_type=JWT_BEARER,
        scope="https://graph.microsoft.com/.default",
    )

    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 3599)
    assert claims_of(body["access_token"])["aud"] == cloud.graph_url


async def test_service_principal_id_is_stable_per_tenant(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant, other = healthy_tenant(cloud), cloud.scenario.tenants[1].tenant_id

    first = await exchange(http, cloud, tenant, cloud.mint_assertion())
    again = await exchange(http, cloud, tenant, cloud.mint_assertion())
    elsewhere = await exchange(http, cloud, other, cloud.mint_assertion())

    oids = [claims_of(r.json()["access_token"])["oid"] for r in (first, again, elsewhere)]
    assert oids[0] == oids[1] != oids[2]


async def test_token_endpoint_rejects_forged_signature(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await exchange(http, cloud, healthy_tenant(cloud), cloud.forge_assertion())

    assert_entra_error(response, 401, 700027)


async def test_token_endpoint_rejects_an_expired_assertion(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    an_hour_ago = int(time.time()) - 3600
    expired = cloud.mint_assertion(iat=an_hour_ago, nbf=an_hour_ago, exp=an_hour_ago + 600)

    response = await exchange(http, cloud, healthy_tenant(cloud), expired)

    assert_entra_error(response, 401, 700024)


async def test_token_endpoint_rejects_a_wrong_audience(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    assertion = cloud.mint_assertion(aud="api://AzureADTokenExchangeUSGov")

    response = await exchange(http, cloud, healthy_tenant(cloud), assertion)

    assert_entra_error(response, 401, 700212)


async def test_token_endpoint_rejects_a_wrong_issuer(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    assertion = cloud.mint_assertion(iss=f"{cloud.authority_url}/{uuid.uuid4()}/v2.0")

    response = await exchange(http, cloud, healthy_tenant(cloud), assertion)

    assert_entra_error(response, 401, 700211)


@pytest.mark.parametrize("case", ["another identity", "same id, other case"])
async def test_token_endpoint_rejects_a_wrong_subject(
    http: httpx.AsyncClient, cloud: FakeCloud, case: str
) -> None:
    subject = str(uuid.uuid4()) if case == "another identity" else cloud.mi_principal_id.upper()

    response = await exchange(http, cloud, healthy_tenant(cloud), cloud.mint_assertion(sub=subject))

    assert_entra_error(response, 401, 700213)


async def test_token_endpoint_answers_70021_when_the_app_has_no_federated_credential(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    cloud.set_federated_credentials([])

    response = await exchange(http, cloud, healthy_tenant(cloud), cloud.mint_assertion())

    assert_entra_error(response, 401, 70021)


async def test_federated_credentials_can_be_replaced_with_placeholders(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    other_principal = str(uuid.uuid4())
    cloud.set_federated_credentials(
        [
            {
                "name": "other-mi",
                "issuer": "{authority}/{home_tenant_id}/v2.0",
                "subject": other_principal,
                "audience": EXCHANGE,
            }
        ]
    )

    ours = await exchange(http, cloud, healthy_tenant(cloud), cloud.mint_assertion())
    theirs = await exchange(
        http, cloud, healthy_tenant(cloud), cloud.mint_assertion(sub=other_principal)
    )

    assert_entra_error(ours, 401, 700213)
    assert theirs.status_code == 200


@pytest.mark.parametrize(
    ("state", "status", "code"),
    [
        ("consent_missing", 400, 65001),
        ("not_installed", 400, 700016),
        ("app_disabled", 400, 7000112),
        ("blocked_by_policy", 400, 53003),
        ("deleted", 400, 90002),
    ],
)
async def test_client_assertion_credential_sees_the_tenants_state_as_an_entra_error(
    cloud: FakeCloud, state: str, status: int, code: int
) -> None:
    tenant = new_tenant(cloud, state=state)
    credential = ClientAssertionCredential(
        tenant, cloud.app_client_id, cloud.mint_assertion, authority=cloud.authority_url
    )

    async with credential:
        with pytest.raises(ClientAuthenticationError) as caught:
            await credential.get_token(f"{cloud.graph_url}/.default")

    response = caught.value.response
    assert response is not None
    assert response.status_code == status
    assert json.loads(response.text())["error_codes"] == [code]


@pytest.mark.parametrize("tenant", ["contoso.onmicrosoft.com", "not-a-guid", str(uuid.uuid4())])
async def test_token_endpoint_answers_90002_for_an_unknown_or_non_guid_tenant(
    http: httpx.AsyncClient, cloud: FakeCloud, tenant: str
) -> None:
    response = await exchange(http, cloud, tenant, cloud.mint_assertion())

    assert_entra_error(response, 400, 90002)


async def test_token_endpoint_rejects_another_client_id(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await post_token(
        http,
        cloud,
        healthy_tenant(cloud),
        client_id=str(uuid.uuid4()),
        client_assertion=cloud.mint_assertion(),
        client_assertion_type=JWT_BEARER,
    )

    assert_entra_error(response, 400, 700016)


async def test_token_endpoint_rejects_a_scope_for_another_resource(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    response = await post_token(
        http,
        cloud,
        healthy_tenant(cloud),
        client_assertion=cloud.mint_assertion(),
        client_assertion_type=JWT_BEARER,
        scope="https://management.azure.com/.default",
    )

    assert_entra_error(response, 400, 500011)


# -- token endpoint: faults ---------------------------------------------------------------------


async def test_throttled_token_request_is_retried_after_retry_after_and_recovers(
    cloud: FakeCloud,
) -> None:
    tenant = healthy_tenant(cloud)
    throttle = Fault(
        service="token", kind="status", status=429, retry_after="0.2", count=2, tenant_id=tenant
    )
    cloud.add_fault(throttle)
    credential = ClientAssertionCredential(
        tenant, cloud.app_client_id, cloud.mint_assertion, authority=cloud.authority_url
    )

    async with credential:
        token = await credential.get_token(f"{cloud.graph_url}/.default")

    counters = cloud.counters()
    assert claims_of(token.token)["tid"] == tenant
    assert (counters["token.status.429"], counters["token.status.200"]) == (2, 1)
    assert counters.get("token.early_retries", 0) == 0


async def test_throttled_answer_has_entras_shape_and_retry_after(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant = healthy_tenant(cloud)
    cloud.add_fault(
        Fault(
            service="token", kind="status", status=429, retry_after="1", count=1, tenant_id=tenant
        )
    )

    response = await exchange(http, cloud, tenant, cloud.mint_assertion())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"] == "temporarily_unavailable"


async def test_retry_before_retry_after_elapsed_is_counted_as_early(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant = healthy_tenant(cloud)
    cloud.add_fault(
        Fault(
            service="token", kind="status", status=503, retry_after="30", count=1, tenant_id=tenant
        )
    )

    throttled = await exchange(http, cloud, tenant, cloud.mint_assertion())
    too_soon = await exchange(http, cloud, tenant, cloud.mint_assertion())

    assert (throttled.status_code, too_soon.status_code) == (503, 200)
    assert cloud.counters()["token.early_retries"] == 1
    assert [r.early_retry for r in cloud.requests("token", tenant)] == [False, True]


async def test_dropped_connection_is_a_connection_error_for_the_client(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant = healthy_tenant(cloud)
    cloud.add_fault(Fault(service="token", kind="drop", count=1, tenant_id=tenant))

    with pytest.raises(httpx.TransportError):
        await exchange(http, cloud, tenant, cloud.mint_assertion())
    after = await exchange(http, cloud, tenant, cloud.mint_assertion())

    assert after.status_code == 200
    assert [r.status for r in cloud.requests("token", tenant)] == [0, 200]


async def test_aadsts_fault_answers_that_code_for_the_tenant_only(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    tenant, other = healthy_tenant(cloud), cloud.scenario.tenants[1].tenant_id
    cloud.add_fault(Fault(service="token", kind="aadsts", code=70021, tenant_id=tenant))

    mismatched = await exchange(http, cloud, tenant, cloud.mint_assertion())
    fine = await exchange(http, cloud, other, cloud.mint_assertion())

    assert_entra_error(mismatched, 401, 70021)
    assert cloud.mi_principal_id in mismatched.json()["error_description"]
    assert fine.status_code == 200


async def test_latency_fault_delays_the_answer(http: httpx.AsyncClient, cloud: FakeCloud) -> None:
    cloud.add_fault(Fault(service="token", kind="latency", latency_ms=150, count=1))

    started = time.monotonic()
    response = await exchange(http, cloud, healthy_tenant(cloud), cloud.mint_assertion())

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15


# -- token endpoint: secrets and certificates (the non-MI auth modes) ----------------------------


async def test_client_secret_credential_gets_a_token_and_a_wrong_secret_gets_7000215(
    cloud: FakeCloud,
) -> None:
    tenant = healthy_tenant(cloud)
    cloud.add_app_secret("correct-horse-battery")
    right = ClientSecretCredential(
        tenant, cloud.app_client_id, "correct-horse-battery", authority=cloud.authority_url
    )
    wrong = ClientSecretCredential(
        tenant, cloud.app_client_id, "wrong-secret", authority=cloud.authority_url
    )

    async with right, wrong:
        token = await right.get_token(f"{cloud.graph_url}/.default")
        with pytest.raises(ClientAuthenticationError) as caught:
            await wrong.get_token(f"{cloud.graph_url}/.default")

    assert claims_of(token.token)["azpacr"] == "1"
    assert caught.value.response is not None
    assert caught.value.response.status_code == 401
    assert json.loads(caught.value.response.text())["error_codes"] == [7000215]


async def test_certificate_credential_gets_a_token(cloud: FakeCloud) -> None:
    certificate = make_self_signed_certificate()
    cloud.add_app_certificate(certificate.cert_pem)
    credential = CertificateCredential(
        healthy_tenant(cloud),
        cloud.app_client_id,
        certificate_data=certificate.combined_pem.encode(),
        authority=cloud.authority_url,
    )

    async with credential:
        token = await credential.get_token(f"{cloud.graph_url}/.default")

    assert claims_of(token.token)["azpacr"] == "2"


async def test_unregistered_certificate_is_rejected(cloud: FakeCloud) -> None:
    credential = CertificateCredential(
        healthy_tenant(cloud),
        cloud.app_client_id,
        certificate_data=make_self_signed_certificate().combined_pem.encode(),
        authority=cloud.authority_url,
    )

    async with credential:
        with pytest.raises(ClientAuthenticationError) as caught:
            await credential.get_token(f"{cloud.graph_url}/.default")

    assert caught.value.response is not None
    assert json.loads(caught.value.response.text())["error_codes"] == [700027]


async def test_msal_discovers_the_fake_authority_and_authenticates_with_a_certificate(
    cloud: FakeCloud,
) -> None:
    """MSAL (under the sync credentials) uses instance discovery, OIDC metadata, RS256 + x5t."""
    certificate = make_self_signed_certificate()
    cloud.add_app_certificate(certificate.cert_pem)
    app = msal.ConfidentialClientApplication(
        cloud.app_client_id,
        client_credential={
            "private_key": certificate.key_pem,
            "public_certificate": certificate.cert_pem,
        },
        authority=f"{cloud.authority_url}/{healthy_tenant(cloud)}",
        instance_discovery=f"{cloud.authority_url}/common/discovery/instance",
    )

    result = await asyncio.to_thread(app.acquire_token_for_client, [f"{cloud.graph_url}/.default"])

    assert "access_token" in result, result
    assert cloud.counters()["discovery.requests"] >= 2


# -- control API, scenario file and CLI ---------------------------------------------------------


async def test_control_api_over_http_changes_tenants_and_reports_counters(
    http: httpx.AsyncClient, cloud: FakeCloud
) -> None:
    control = f"{cloud.authority_url}/_fake"
    tenant = str(uuid.uuid4())

    created = await http.patch(f"{control}/tenants/{tenant}", json={"state": "consent_missing"})
    refused = await exchange(http, cloud, tenant, cloud.mint_assertion())
    await http.patch(f"{control}/tenants/{tenant}", json={"state": "consented", "roles": ["X"]})
    added = await http.post(
        f"{control}/faults",
        json={"service": "token", "kind": "status", "status": 503, "count": 1, "tenant_id": tenant},
    )
    faulted = await exchange(http, cloud, tenant, cloud.mint_assertion())
    granted = await exchange(http, cloud, tenant, cloud.mint_assertion())
    counters = (await http.get(f"{control}/counters")).json()
    bad_fault = await http.post(f"{control}/faults", json={"service": "dns", "kind": "status"})

    assert created.json()["state"] == "consent_missing"
    assert_entra_error(refused, 400, 65001)
    assert (added.status_code, faulted.status_code) == (200, 503)
    assert claims_of(granted.json()["access_token"])["roles"] == ["X"]
    assert counters["token.requests"] == 3
    assert bad_fault.status_code == 400
    assert "fault.service" in bad_fault.json()["error"]


def test_demo_scenario_loads_with_seven_tenants_and_their_expectations() -> None:
    scenario = load_scenario(DEMO)

    expectations = sorted(t.expect for t in scenario.tenants)
    assert len(scenario.tenants) == 7
    assert expectations.count("ok") == 3
    assert set(expectations) == {
        "ok",
        "tenant_not_onboarded",
        "consent_missing",
        "tenant_not_found",
        "blocked_by_policy",
    }


def test_invalid_scenario_names_every_bad_field() -> None:
    document = json.loads(DEMO.read_text())
    document["tenants"][0]["state"] = "happy"
    document["tenants"][1]["faults"] = [{"service": "token", "kind": "aadsts"}]
    del document["managed_identity"]["principal_id"]

    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(document)

    message = str(caught.value)
    assert "tenants[0].state" in message
    assert "tenants[1].faults[0].code" in message
    assert "managed_identity.principal_id" in message


def test_cli_prints_the_environment_then_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "devtools.fakecloud", "--scenario", str(DEMO)]
    command += ["--workdir", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=env, cwd=DEMO.parents[3]
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line == "fakecloud ready\n":
                break
        process.terminate()
        rest = process.stdout.read()
        code = process.wait(timeout=10)

    printed = dict(line.split("=", 1) for line in lines if "=" in line)
    assert printed["AZURE_AUTHORITY_HOST"].startswith("https://127.0.0.1:")
    assert printed["SSL_CERT_FILE"] == str(tmp_path / "ca-bundle.pem")
    assert printed["IDENTITY_ENDPOINT"].startswith("http://127.0.0.1:")
    assert "fakecloud stopped" in rest
    assert code == 0
