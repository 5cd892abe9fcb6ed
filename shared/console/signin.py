"""Signing an operator in: the authorization code flow with PKCE, through MSAL Python.

The app registration is a confidential client whose credential is the managed identity's
assertion, the same federated credential the app uses for every tenant: no secret exists
(docs/decisions.md#console-sign-in). It asks for the app's own delegated scope
(`api://<client id>/user_impersonation`, infra/modules/appregistration.bicep), so the access
token Entra returns is a token for the app's API carrying the operator's app roles; it is
verified exactly as a bearer token on the API is (shared/auth/tokens.py): one verification
path, one set of roles.

MSAL is synchronous (requests): each call runs in a worker thread. A client application is
built per call, sharing only MSAL's `http_cache` (discovery documents, never tokens), so no
operator's token stays in this process once they are signed in.
https://learn.microsoft.com/entra/msal/python/getting-started/acquiring-tokens
"""

from __future__ import annotations

import asyncio
import warnings
from typing import TYPE_CHECKING, Any

from shared.auth.principal import Principal, PrincipalKind
from shared.auth.tokens import InvalidToken, OperatorTokens
from shared.identity import ManagedIdentityAssertion
from shared.settings import AuthMode, Settings

if TYPE_CHECKING:
    import msal

CALLBACK_PATH = "/api/console/auth/callback"
#: MSAL keeps discovery answers here (instance and tenant metadata): no tokens.
_HTTP_CACHE: dict[Any, Any] = {}


class SignInFailed(Exception):
    """The sign-in did not give a usable operator; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def redirect_uri(settings: Settings) -> str:
    """Where Entra sends the browser back: registered on the app by infra/ (web redirect URIs)."""
    return f"{settings.public_url}{CALLBACK_PATH}"


def scopes(settings: Settings) -> list[str]:
    """The app's own API, delegated: its token carries the operator's app roles."""
    return [f"api://{settings.app_client_id}/user_impersonation"]


class ConsoleSignIn:
    """Starts and completes operators' sign-ins for one app registration."""

    def __init__(
        self,
        settings: Settings,
        *,
        assertion: ManagedIdentityAssertion | None,
        tokens: OperatorTokens,
    ) -> None:
        self._settings = settings
        self._assertion = assertion
        self._tokens = tokens

    async def begin(self) -> dict[str, Any]:
        """MSAL's flow: `auth_uri` for the browser, and what completing it needs."""
        return await asyncio.to_thread(self._initiate)

    async def complete(self, flow: dict[str, Any], answer: dict[str, str]) -> Principal:
        """Redeem Entra's answer (code, state) for the operator's verified token."""
        if "error" in answer:
            raise SignInFailed(_first_line(answer.get("error_description") or answer["error"]))
        if self._assertion is not None:
            await self._assertion.ensure_fresh()  # MSAL calls `current` from its thread
        result = await asyncio.to_thread(self._redeem, flow, answer)
        token = result.get("access_token")
        if not isinstance(token, str):
            reason = result.get("error_description") or result.get("error") or "no token"
            raise SignInFailed(_first_line(str(reason)))
        return await self._operator(token)

    async def _operator(self, token: str) -> Principal:
        try:
            principal = Principal.from_claims(await self._tokens.verify(token))
        except InvalidToken as refused:
            raise SignInFailed(f"the token was refused: {refused.reason}") from None
        if principal.kind is not PrincipalKind.USER:
            raise SignInFailed("the console is for people: an application token was returned")
        return principal

    def _initiate(self) -> dict[str, Any]:
        with warnings.catch_warnings():
            # MSAL recommends response_mode=form_post; a cross-site POST would not carry the
            # SameSite=Lax cookie that binds the flow to this browser, so the answer comes as
            # a query, and the callback answers with a redirect at once
            # (docs/decisions.md#console-sign-in).
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow: dict[str, Any] = self._client().initiate_auth_code_flow(
                scopes(self._settings), redirect_uri=redirect_uri(self._settings)
            )
        return flow

    def _redeem(self, flow: dict[str, Any], answer: dict[str, str]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._client().acquire_token_by_auth_code_flow(flow, answer)
        except ValueError:  # MSAL: the state does not match the flow's (RFC 6749 10.12)
            raise SignInFailed("the answer does not belong to this sign-in") from None
        return result

    def _client(self) -> msal.ConfidentialClientApplication:
        import msal

        s = self._settings
        return msal.ConfidentialClientApplication(
            s.app_client_id,
            authority=f"{s.authority_host}/{s.home_tenant_id}",
            client_credential=self._credential(),
            http_cache=_HTTP_CACHE,
            # the authority is configuration, not input: no instance discovery round trip
            instance_discovery=False,
        )

    def _credential(self) -> Any:
        """The app's credential, as the token chain has it: the MI assertion (no secret)."""
        s = self._settings
        if s.auth_mode is AuthMode.MANAGED_IDENTITY and self._assertion is not None:
            return {"client_assertion": self._assertion.current}
        if s.auth_mode is AuthMode.SECRET and s.client_secret is not None:
            return s.client_secret.value
        if s.auth_mode is AuthMode.CERTIFICATE and s.certificate_path is not None:
            return _certificate(s)
        raise SignInFailed("the app has no credential to sign operators in with")


def _certificate(settings: Settings) -> dict[str, str]:
    """MSAL's certificate credential from the PEM the token chain uses (key and certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    assert settings.certificate_path is not None
    pem = settings.certificate_path.read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    credential = {
        "private_key": pem.decode(),
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - x5t is SHA-1
    }
    if settings.certificate_password is not None:
        credential["passphrase"] = settings.certificate_password.value
    return credential


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else "unknown"
