"""The password-less token chain: managed identity assertion -> one credential per tenant.

On Azure the app holds no secret. The user-assigned managed identity (MI) gets a token for the
cloud's token-exchange audience; that token is the `client_assertion` with which the multi-tenant
app registration (whose federated credential the MI is) obtains each customer tenant's token
(docs/decisions.md#secretless-token-chain).
https://learn.microsoft.com/entra/workload-id/workload-identity-federation-config-app-trust-managed-identity

Two properties the SDKs do not give by themselves and this module adds
(docs/decisions.md#coalesced-token-requests):
- concurrent first calls are coalesced: N tenants starting at once make ONE MI request, and N
  callers of one tenant make ONE token request;
- one credential per tenant per process, so the SDK's token cache is reused across jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.credentials_async import AsyncTokenCredential

from shared import telemetry
from shared.errors import (
    AssertionExpired,
    ManagedIdentityUnavailable,
    XtenantError,
    classify_token_error,
)
from shared.ids import validate_tenant_id
from shared.settings import AuthMode, Settings
from shared.tls import client_ssl_context

if TYPE_CHECKING:  # aiohttp is imported on first use: `import function_app` skips its ~0.2 s
    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport

log = logging.getLogger(__name__)

#: Refresh the MI assertion this long before it expires: Entra refuses an assertion outside
#: its time window (AADSTS700024) and a token request can take a few seconds end to end.
ASSERTION_REFRESH_MARGIN_S = 300.0
#: Tenants whose credential (and token) a process keeps; the least recently used go first.
#: A run's jobs for one tenant are queued together, so each tenant still needs one token.
MAX_CACHED_TENANTS = 1000


class _ClosableCredential(AsyncTokenCredential, Protocol):
    async def close(self) -> None: ...


class ManagedIdentityAssertion:
    """The MI token used as client assertion: fetched once, cached until near expiry.

    `current()` is synchronous because ClientAssertionCredential calls its `func` synchronously,
    even in azure.identity.aio (docs/decisions.md#sync-assertion-callback); `ensure_fresh()` is
    awaited just before.
    """

    def __init__(
        self,
        credential_factory: Callable[[], _ClosableCredential],
        *,
        audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._factory = credential_factory
        self._credential: _ClosableCredential | None = None
        self._scope = f"{audience}/.default"
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        token = self._token
        return token is not None and token.expires_on - ASSERTION_REFRESH_MARGIN_S > self._clock()

    async def ensure_fresh(self, *, force: bool = False) -> None:
        """Make sure a valid assertion is cached; concurrent callers share one MI request."""
        if self._fresh() and not force:
            return
        stale = self._token
        async with self._lock:
            if self._token is not stale or (self._fresh() and not force):
                return  # another caller refreshed it while we waited
            if force:
                await self._drop_credential()  # the SDK caches too: a new credential bypasses it
            self._token = await self._fetch()

    async def _fetch(self) -> AccessToken:
        if self._credential is None:
            self._credential = self._factory()
        try:
            with telemetry.managed_identity_token():
                token = await self._credential.get_token(self._scope)
        except Exception as exc:
            raise ManagedIdentityUnavailable(
                f"managed identity token failed: {str(exc).splitlines()[0][:300]}",
                remediation=(
                    "Check that the user-assigned identity named by AZURE_CLIENT_ID is assigned "
                    "to the Function App and that IDENTITY_ENDPOINT answers."
                ),
            ) from exc
        log.info("managed identity assertion refreshed (expires_on=%s)", token.expires_on)
        return token

    def current(self) -> str:
        if self._token is None:
            raise ManagedIdentityUnavailable("no managed identity assertion fetched yet")
        return self._token.token

    async def _drop_credential(self) -> None:
        if self._credential is not None:
            await self._credential.close()
            self._credential = None

    async def close(self) -> None:
        await self._drop_credential()


class TenantCredential(AsyncTokenCredential):
    """An AsyncTokenCredential for one tenant that raises xtenant's typed errors.

    Built lazily on first use (it needs the running event loop for its connection pool,
    docs/decisions.md#event-loop), then cached by TenantCredentialCache for the life of the
    process, which owns it: `close()` here is a no-op so a client that closes "its" credential
    cannot break the others.
    """

    def __init__(
        self,
        tenant_id: str,
        build: Callable[[], _ClosableCredential],
        *,
        assertion: ManagedIdentityAssertion | None,
    ) -> None:
        self.tenant_id = tenant_id
        self._build = build
        self._inner: _ClosableCredential | None = None
        self._assertion = assertion
        self._lock = asyncio.Lock()

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        # One caller at a time per tenant: the first fetches, the others find it cached.
        async with self._lock:
            return await self._get_token_retrying_expired_assertion(scopes, claims, enable_cae)

    async def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        token = await self.get_token(*scopes, claims=(options or {}).get("claims"))
        return AccessTokenInfo(token.token, token.expires_on)

    async def _get_token_retrying_expired_assertion(
        self, scopes: tuple[str, ...], claims: str | None, enable_cae: bool
    ) -> AccessToken:
        try:
            return await self._get_token_once(scopes, claims, enable_cae)
        except AssertionExpired:
            if self._assertion is None:
                raise
            # AADSTS700024: our clock and Entra's disagree about the assertion; fetch a new one
            # and try exactly once more (a second refusal is reported, not looped on).
            await self._assertion.ensure_fresh(force=True)
            return await self._get_token_once(scopes, claims, enable_cae)

    async def _get_token_once(
        self, scopes: tuple[str, ...], claims: str | None, enable_cae: bool
    ) -> AccessToken:
        if self._assertion is not None:
            await self._assertion.ensure_fresh()
        if self._inner is None:
            self._inner = self._build()
        try:
            return await self._inner.get_token(*scopes, claims=claims, enable_cae=enable_cae)
        except XtenantError:
            raise
        except Exception as exc:
            raise classify_token_error(exc, tenant_id=self.tenant_id) from exc

    async def close(self) -> None:
        """No-op: TenantCredentialCache owns and closes the underlying credential."""

    async def aclose_inner(self) -> None:
        if self._inner is not None:
            await self._inner.close()
            self._inner = None

    async def forget_token(self) -> None:
        """Drop the cached tenant token: the next call asks Entra again.

        A token carries the permissions (roles) granted when it was issued, for up to an hour;
        after a customer admin grants more, only a new token has them. The SDK caches per
        credential instance, so the inner credential is replaced (the lock keeps a concurrent
        caller from using it half-closed).
        """
        async with self._lock:
            await self.aclose_inner()

    async def __aexit__(self, *args: object) -> None:
        """Leaving `async with` must not close a credential shared by the process."""


class TenantCredentialCache:
    """One TenantCredential per tenant per process, all sharing one MI assertion and one pool."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._by_tenant: OrderedDict[str, TenantCredential] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._evictions: set[asyncio.Task[None]] = set()
        self._ssl = client_ssl_context()
        self.assertion: ManagedIdentityAssertion | None = None
        if settings.auth_mode is AuthMode.MANAGED_IDENTITY:
            self.assertion = ManagedIdentityAssertion(
                self._managed_identity, audience=settings.token_exchange_audience
            )

    def for_tenant(self, tenant_id: str) -> TenantCredential:
        """The credential for a tenant; raises InvalidTenantId before any request is made."""
        tid = validate_tenant_id(tenant_id)
        credential = self._by_tenant.get(tid)
        if credential is None:
            credential = TenantCredential(
                tid,
                lambda: self._build(tid),
                assertion=self.assertion,
            )
            self._by_tenant[tid] = credential
            self._evict_beyond(MAX_CACHED_TENANTS)
        self._by_tenant.move_to_end(tid)
        return credential

    def _evict_beyond(self, limit: int) -> None:
        """Forget the least recently used tenants' tokens beyond `limit` (each holds a client
        and its token cache: tens of KB, which for 10,000 tenants would be hundreds of MB).
        A tenant used again gets a new credential and token."""
        while len(self._by_tenant) > limit:
            _, old = self._by_tenant.popitem(last=False)
            task = asyncio.get_running_loop().create_task(old.forget_token())
            self._evictions.add(task)
            task.add_done_callback(self._evictions.discard)

    async def forget_token(self, tenant_id: str) -> None:
        """After consent changed: this tenant's next request gets a token with its new roles."""
        credential = self._by_tenant.get(validate_tenant_id(tenant_id))
        if credential is not None:
            await credential.forget_token()

    async def token(self, tenant_id: str) -> AccessToken:
        """A Graph token for the tenant: the connection check and the demo use this."""
        return await self.for_tenant(tenant_id).get_token(self._settings.graph_scope)

    def _managed_identity(self) -> _ClosableCredential:
        from azure.identity.aio import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=self._settings.managed_identity_client_id)

    def _transport(self) -> AioHttpTransport:
        import aiohttp
        from azure.core.pipeline.transport import AioHttpTransport

        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=100)
            self._session = aiohttp.ClientSession(
                connector=connector, trace_configs=[telemetry.token_trace_config()]
            )
        return AioHttpTransport(session=self._session, session_owner=False)

    def _build(self, tenant_id: str) -> _ClosableCredential:
        from azure.identity import aio

        s = self._settings
        common: dict[str, Any] = {"authority": s.authority_host, "transport": self._transport()}
        if s.auth_mode is AuthMode.MANAGED_IDENTITY:
            assertion = self.assertion
            assert assertion is not None
            return aio.ClientAssertionCredential(
                tenant_id, s.app_client_id, assertion.current, **common
            )
        if s.auth_mode is AuthMode.CERTIFICATE:
            password = s.certificate_password.value if s.certificate_password else None
            return aio.CertificateCredential(
                tenant_id, s.app_client_id, str(s.certificate_path), password=password, **common
            )
        assert s.client_secret is not None
        return aio.ClientSecretCredential(
            tenant_id, s.app_client_id, s.client_secret.value, **common
        )

    async def close(self) -> None:
        """Close every credential and the shared pool (aiohttp warns about unclosed sessions)."""
        for credential in self._by_tenant.values():
            await credential.aclose_inner()
        self._by_tenant.clear()
        if self._evictions:
            await asyncio.gather(*self._evictions, return_exceptions=True)
        if self.assertion is not None:
            await self.assertion.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
