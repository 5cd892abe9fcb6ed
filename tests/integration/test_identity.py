"""The token chain end to end: real azure-identity over HTTPS to the fake Entra ID and MI."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devtools.fakecloud import FakeCloud, Fault
from devtools.fakecloud.ca import make_self_signed_certificate
from shared import errors
from shared.identity import TenantCredentialCache
from shared.settings import Settings

pytestmark = pytest.mark.integration


def new_tenant(cloud: FakeCloud, state: str = "consented") -> str:
    tenant_id = str(uuid.uuid4())
    cloud.set_tenant(tenant_id, state=state, roles=["User.Read.All"])
    return tenant_id


@pytest.fixture
async def credentials(cloud: FakeCloud) -> AsyncIterator[TenantCredentialCache]:
    chain = TenantCredentialCache(Settings.from_env())
    yield chain
    await chain.close()


async def test_fifty_tenants_at_once_make_one_mi_request_and_one_token_request_each(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenants = [new_tenant(cloud) for _ in range(50)]

    first = await asyncio.gather(*(credentials.token(t) for t in tenants))
    after_first = cloud.counters()
    second = await asyncio.gather(*(credentials.token(t) for t in tenants))

    assert after_first.get("msi.requests") == 1
    assert after_first.get("token.requests") == 50
    assert cloud.counters() == after_first  # the second round is served from the caches
    assert [t.token for t in first] == [t.token for t in second]


async def test_concurrent_first_use_of_one_tenant_makes_one_token_request(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)

    tokens = await asyncio.gather(*(credentials.token(tenant) for _ in range(20)))

    assert len({t.token for t in tokens}) == 1
    assert len(cloud.requests(service="token", tenant_id=tenant)) == 1


async def test_one_credential_per_tenant_per_process(credentials: TenantCredentialCache) -> None:
    tenant = "0b5e6c34-5c0d-4b7a-9f5e-2f8c7d1e3a11"

    assert credentials.for_tenant(tenant) is credentials.for_tenant(tenant.upper())


@pytest.mark.parametrize(
    ("state", "kind", "code"),
    [
        ("not_installed", errors.TenantNotOnboarded, 700016),
        ("consent_missing", errors.ConsentMissing, 65001),
        ("deleted", errors.TenantNotFound, 90002),
        ("app_disabled", errors.AppDisabled, 7000112),
        ("blocked_by_policy", errors.BlockedByPolicy, 53003),
    ],
)
async def test_each_tenant_refusal_is_classified_end_to_end(
    cloud: FakeCloud,
    credentials: TenantCredentialCache,
    state: str,
    kind: type[errors.XtenantError],
    code: int,
) -> None:
    tenant = new_tenant(cloud, state)

    with pytest.raises(kind) as caught:
        await credentials.token(tenant)

    assert caught.value.code == code
    assert caught.value.tenant_id == tenant
    assert caught.value.retryable is False


async def test_consent_errors_point_the_operator_to_the_tenants_onboarding_link(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud, "not_installed")

    with pytest.raises(errors.TenantNotOnboarded) as caught:
        await credentials.token(tenant)

    assert f"GET /api/onboard?tenant={tenant}" in caught.value.remediation


async def test_unknown_tenant_is_tenant_not_found(credentials: TenantCredentialCache) -> None:
    with pytest.raises(errors.TenantNotFound):
        await credentials.token(str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"subject": "00000000-0000-0000-0000-000000000000"}, 700213),
        ({"issuer": "https://login.example/other/v2.0"}, 700211),
        ({"audience": "api://SomethingElse"}, 700212),
    ],
)
async def test_federated_credential_mismatch_is_federation_misconfigured(
    cloud: FakeCloud, credentials: TenantCredentialCache, change: dict[str, str], code: int
) -> None:
    tenant = new_tenant(cloud)
    good = {
        "name": "xtenant-mi",
        "issuer": f"{cloud.authority_url}/{cloud.home_tenant_id}/v2.0",
        "subject": cloud.mi_principal_id,
        "audience": "api://AzureADTokenExchange",
    }
    cloud.set_federated_credentials([good | change])

    with pytest.raises(errors.FederationMisconfigured) as caught:
        await credentials.token(tenant)

    assert caught.value.code == code
    assert "federated credential" in caught.value.remediation


async def test_expired_assertion_is_refreshed_and_retried_once(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)
    cloud.add_fault(Fault(service="token", kind="aadsts", code=700024, tenant_id=tenant, count=1))

    token = await credentials.token(tenant)

    assert token.token
    assert cloud.counters().get("msi.requests") == 2  # the first assertion, then a fresh one
    assert len(cloud.requests(service="token", tenant_id=tenant)) == 2


async def test_assertion_refused_twice_is_reported_not_looped(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)
    cloud.add_fault(Fault(service="token", kind="aadsts", code=700024, tenant_id=tenant))

    with pytest.raises(errors.AssertionExpired):
        await credentials.token(tenant)

    assert len(cloud.requests(service="token", tenant_id=tenant)) == 2


async def test_throttled_token_endpoint_recovers_without_an_error(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)
    cloud.add_fault(
        Fault(
            service="token", kind="status", status=429, retry_after="1", count=2, tenant_id=tenant
        )
    )

    token = await credentials.token(tenant)

    assert token.token
    assert len(cloud.requests(service="token", tenant_id=tenant)) == 3
    assert cloud.counters().get("token.early_retries", 0) == 0


async def test_token_endpoint_that_stays_down_is_transient(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)
    cloud.add_fault(Fault(service="token", kind="status", status=503, tenant_id=tenant))

    with pytest.raises(errors.TransientError) as caught:
        await credentials.token(tenant)

    assert caught.value.retryable is True


async def test_managed_identity_endpoint_down_is_reported_as_such(
    cloud: FakeCloud, credentials: TenantCredentialCache
) -> None:
    tenant = new_tenant(cloud)
    cloud.add_fault(Fault(service="msi", kind="status", status=500))

    with pytest.raises(errors.ManagedIdentityUnavailable) as caught:
        await credentials.token(tenant)

    assert "AZURE_CLIENT_ID" in caught.value.remediation
    assert cloud.requests(service="token") == []


@pytest.mark.parametrize("bad", ["../x", "evil.example/", "", "a" * 37])
async def test_malformed_tenant_id_never_reaches_the_network(
    cloud: FakeCloud, credentials: TenantCredentialCache, bad: str
) -> None:
    with pytest.raises(errors.InvalidTenantId):
        await credentials.token(bad)

    assert cloud.requests() == []


async def test_tokens_never_appear_in_logs(
    cloud: FakeCloud, credentials: TenantCredentialCache, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = new_tenant(cloud)

    with caplog.at_level(logging.DEBUG):
        token = await credentials.token(tenant)

    assert token.token not in caplog.text
    assert credentials.assertion is not None
    assert credentials.assertion.current() not in caplog.text


async def test_secret_mode_gets_a_token_and_a_wrong_secret_is_misconfiguration(
    cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant(cloud)
    secret = uuid.uuid4().hex  # made for this test only
    cloud.add_app_secret(secret)
    monkeypatch.setenv("XTENANT_AUTH_MODE", "secret")

    monkeypatch.setenv("XTENANT_CLIENT_SECRET", secret)
    good = TenantCredentialCache(Settings.from_env())
    monkeypatch.setenv("XTENANT_CLIENT_SECRET", uuid.uuid4().hex)
    bad = TenantCredentialCache(Settings.from_env())
    try:
        assert (await good.token(tenant)).token
        with pytest.raises(errors.XtenantError) as caught:
            await bad.token(tenant)
        assert caught.value.code == 7000215
    finally:
        await good.close()
        await bad.close()
    assert cloud.counters().get("msi.requests", 0) == 0


async def test_certificate_mode_gets_a_token(
    cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tenant = new_tenant(cloud)
    pair = make_self_signed_certificate()
    pem = tmp_path / "app.pem"
    pem.write_text(pair.key_pem + pair.cert_pem)
    cloud.add_app_certificate(pair.cert_pem)
    monkeypatch.setenv("XTENANT_AUTH_MODE", "certificate")
    monkeypatch.setenv("XTENANT_CERTIFICATE_PATH", str(pem))

    chain = TenantCredentialCache(Settings.from_env())
    try:
        assert (await chain.token(tenant)).token
    finally:
        await chain.close()


async def test_an_untrusted_certificate_is_a_tls_failure_not_a_tenants_fault(
    cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given an app whose CA bundle does not hold the (fake) cloud's CA
    import certifi

    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tenant = new_tenant(cloud)
    distrusting = TenantCredentialCache(Settings.from_env())
    try:
        # when it asks the tenant for a token
        with pytest.raises(errors.TlsFailure) as caught:
            await distrusting.token(tenant)
    finally:
        await distrusting.close()

    # then the failure is the app's configuration, not retried, not the tenant's health
    assert caught.value.error_class == "tls_failure"
    assert caught.value.retryable is False
    assert caught.value.health is None
    assert "CA bundle" in caught.value.remediation
