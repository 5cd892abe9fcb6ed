"""Signing and verifying the fake cloud's JWTs (RS256), published as a JWKS like Entra's.

One RSA key signs every token the fake issues: managed identity tokens (the assertions) and
tenant access tokens for Graph. The key lives only in memory for the life of the process.

The key also carries the fake cloud's clock: `clock_offset_s` moves the times it writes into
tokens (iat, nbf, exp) and the times it checks them against, as a cloud whose clock runs ahead
of (or behind) the app's machine would. Entra's and the app's clocks are never exactly equal.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass
class SigningKey:
    """An RSA key with a key id (kid), as Entra publishes under /discovery/v2.0/keys."""

    private_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    #: seconds the fake cloud's clock runs ahead of this machine's (negative: behind)
    clock_offset_s: float = 0.0

    def now(self) -> float:
        """The fake cloud's time, epoch seconds: what it writes into tokens and checks them by."""
        return time.time() + self.clock_offset_s

    @property
    def kid(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()  # noqa: S324

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }

    def sign(self, claims: Mapping[str, Any]) -> str:
        headers = {"kid": self.kid, "typ": "JWT"}
        return jwt.encode(dict(claims), self.private_key, algorithm="RS256", headers=headers)

    def verify(self, token: str, *, audience: str | None = None, leeway: int = 0) -> dict[str, Any]:
        """Check signature and time window; raise jwt.InvalidTokenError (or a subclass) otherwise.

        Audience and issuer are NOT checked here unless `audience` is given: the token endpoint
        matches (iss, sub, aud) against federated credentials itself, to answer the right code.
        """
        options = {"verify_aud": audience is not None, "require": ["exp", "iat", "nbf"]}
        claims: dict[str, Any] = jwt.decode(
            token,
            self.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options=options | _NO_TIME_CHECKS,  # type: ignore[arg-type]
        )
        check_times(claims, now=self.now(), leeway=leeway)
        return claims


#: PyJWT checks times against this machine's clock only; `check_times` uses the fake's.
_NO_TIME_CHECKS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}


def check_times(claims: Mapping[str, Any], *, now: float, leeway: float = 0) -> None:
    """exp, nbf and iat against `now`, with PyJWT's rules and errors (RFC 7519, 4.1.4-4.1.6)."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise jwt.DecodeError(f"{name} claim must be a number")
    if "exp" in claims and claims["exp"] <= now - leeway:
        raise jwt.ExpiredSignatureError("Signature has expired")
    if "nbf" in claims and claims["nbf"] > now + leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    if "iat" in claims and claims["iat"] > now + leeway:
        raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")


def standard_claims(
    *, issuer: str, subject: str, audience: str, lifetime_s: int, now: float | None = None
) -> dict[str, Any]:
    """iss/sub/aud/iat/nbf/exp/jti as Entra issues them (times in epoch seconds, from `now`:
    the fake cloud's clock, this machine's when not given)."""
    issued = int(time.time() if now is None else now)
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
