"""Signing and verifying the fake cloud's JWTs (RS256), published as a JWKS like Entra's.

One RSA key signs every token the fake issues: managed identity tokens (the assertions) and
tenant access tokens for Graph. The key lives only in memory for the life of the process.
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
        return jwt.decode(
            token,
            self.private_key.public_key(),
            algorithms=["RS256"],
            audience=audience,
            options=options,  # type: ignore[arg-type]
            leeway=leeway,
        )


def standard_claims(*, issuer: str, subject: str, audience: str, lifetime_s: int) -> dict[str, Any]:
    """iss/sub/aud/iat/nbf/exp/jti as Entra issues them (times in epoch seconds)."""
    now = int(time.time())
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_s,
        "jti": str(uuid.uuid4()),
    }
