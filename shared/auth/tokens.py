"""Operators' access tokens for the app's own API: verified here, with PyJWT, on every call.

A token is accepted only if all of these hold (Entra v2.0 access tokens,
https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens):
- its header says `alg: RS256` and names a `kid` (so `none`, HS256 and key confusion fail first);
- the signature verifies with that key from the home tenant's JWKS (`jwks_uri` of
  `{authority}/{home tenant}/v2.0/.well-known/openid-configuration`);
- `iss` is `{authority}/{home tenant}/v2.0` and `tid` the home tenant;
- `aud` is the app's client id or `api://{client id}`;
- `exp` and `nbf` hold, with at most `LEEWAY_S` of clock skew.

Signing keys roll: an unknown `kid` fetches the JWKS again, at most once a minute (a stream of
tokens with made-up key ids cannot make the app hammer Entra). PyJWT and cryptography are
imported on the first token, not with the app (`import function_app` stays fast).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shared.auth.principal import Principal
from shared.settings import Settings
from shared.tls import client_ssl_context

if TYPE_CHECKING:
    import aiohttp
    import jwt

#: Clock skew allowed on `exp` and `nbf` (Microsoft's token handlers allow five minutes).
LEEWAY_S = 300
#: After a fetch, an unknown `kid` waits this long before the keys are fetched again.
REFRESH_AFTER_S = 60.0
#: After a failed fetch, the next try waits this long.
RETRY_AFTER_S = 5.0
_FETCH_TIMEOUT_S = 10.0
_REQUIRED_CLAIMS = ["exp", "nbf", "iat", "iss", "aud", "tid", "oid"]
_WORD = re.compile(r"[A-Za-z0-9]{1,16}")


class InvalidToken(Exception):
    """The request carries no acceptable token; `reason` is short and safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingToken(InvalidToken):
    """No bearer token at all (RFC 6750: the challenge then names no error)."""

    def __init__(self) -> None:
        super().__init__("no bearer token")


class KeysUnavailable(Exception):
    """The signing keys could not be fetched: the token can be neither accepted nor refused."""


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken()
    return token.strip()


class SigningKeys:
    """The home tenant's token signing keys, cached per process, fetched again on a new `kid`."""

    def __init__(
        self,
        configuration_url: str,
        *,
        ssl_context: ssl.SSLContext,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configuration_url = configuration_url
        self._ssl = ssl_context
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_uri: str | None = None
        self._next_fetch_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid` names; InvalidToken if the tenant does not publish it."""
        if kid not in self._keys:
            async with self._lock:  # one fetch for the concurrent first calls
                if kid not in self._keys and self._clock() >= self._next_fetch_at:
                    await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            if not self._keys:
                raise KeysUnavailable("no signing keys could be fetched yet")
            raise InvalidToken("unknown signing key")
        return found

    async def _refresh(self) -> None:
        try:
            if self._jwks_uri is None:
                configuration = await self._get_json(self._configuration_url)
                self._jwks_uri = str(configuration["jwks_uri"])
            self._keys = _rsa_keys(await self._get_json(self._jwks_uri))
        except Exception as exc:  # network, TLS, HTTP status, shape: all mean "no keys now"
            self._next_fetch_at = self._clock() + RETRY_AFTER_S
            if not self._keys:
                raise KeysUnavailable(f"fetching the signing keys failed: {exc!r}") from exc
            return
        self._next_fetch_at = self._clock() + REFRESH_AFTER_S

    async def _get_json(self, url: str) -> Any:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=4),
                timeout=aiohttp.ClientTimeout(total=_FETCH_TIMEOUT_S),
            )
        async with self._session.get(url, allow_redirects=False) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _rsa_keys(jwks: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """Signing keys by `kid`: RSA, for signatures; anything else in the set is left out."""
    import jwt

    keys: dict[str, jwt.PyJWK] = {}
    for entry in jwks.get("keys", []):
        usable = entry.get("kty") == "RSA" and entry.get("use", "sig") == "sig"
        if usable and isinstance(entry.get("kid"), str):
            keys[entry["kid"]] = jwt.PyJWK(entry, algorithm="RS256")
    return keys


class OperatorTokens:
    """Verifies operators' bearer tokens and says who the caller is."""

    def __init__(self, settings: Settings, keys: SigningKeys | None = None) -> None:
        self._issuer = settings.operator_token_issuer
        self._tenant_id = settings.home_tenant_id
        self._audiences = list(settings.operator_token_audiences)
        # Built now, so the CA bundle in the environment at start is the one trusted.
        self.keys = keys or SigningKeys(
            settings.openid_configuration_url, ssl_context=client_ssl_context()
        )

    async def principal(self, authorization: str | None) -> Principal:
        """The caller named by a verified token; InvalidToken (or KeysUnavailable) otherwise."""
        claims = await self.verify(bearer_token(authorization))
        return Principal.from_claims(claims)

    async def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token that passed every check in the module docstring."""
        import jwt

        kid = _signed_with(token)
        key = await self.keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audiences,
                issuer=self._issuer,
                leeway=LEEWAY_S,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.InvalidTokenError as exc:
            raise InvalidToken(_reason(exc)) from None
        if str(claims["tid"]).lower() != self._tenant_id:
            raise InvalidToken("token from another tenant")
        return claims

    async def close(self) -> None:
        await self.keys.close()


def _signed_with(token: str) -> str:
    """The `kid` of an RS256 token's header; InvalidToken for any other algorithm."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed token") from None
    algorithm = header.get("alg")
    if algorithm != "RS256":
        # The name goes into a response header: echo it only if it is a plain word.
        named = algorithm if isinstance(algorithm, str) and _WORD.fullmatch(algorithm) else None
        raise InvalidToken(f"algorithm {named} is not accepted" if named else "algorithm refused")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("token names no signing key")
    return kid


def _reason(error: jwt.InvalidTokenError) -> str:
    """A short, fixed description of why PyJWT refused the token (no token text in it)."""
    import jwt

    reasons: list[tuple[type[jwt.InvalidTokenError], str]] = [
        (jwt.ExpiredSignatureError, "token expired"),
        (jwt.ImmatureSignatureError, "token not yet valid"),
        (jwt.InvalidAudienceError, "token is for another audience"),
        (jwt.InvalidIssuerError, "token issuer is not the home tenant"),
        (jwt.InvalidSignatureError, "signature does not verify"),
        (jwt.InvalidAlgorithmError, "algorithm is not accepted"),
        (jwt.DecodeError, "malformed token"),
    ]
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token lacks the {error.claim} claim"
    return next((text for kind, text in reasons if isinstance(error, kind)), "invalid token")
