"""Operators' access tokens for xtenant's own API, as Entra issues them in the home tenant.

A user signs in (here: is named) and asks for `api://{app client id}/.default`, as
`az account get-access-token --scope api://<client id>/.default` does; an application uses
client credentials. Either way Entra issues a v2.0 access token for the app registration:
`iss` = `{authority}/{home tenant}/v2.0`, `aud` = the client id, `tid`, `oid`, and the app roles
assigned to the caller in `roles`; user tokens carry `scp`, `name` and `preferred_username`,
app-only tokens `idtyp: app` and the caller's app id in `azp`
(https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).

They are signed with the operator keys the home tenant's JWKS publishes beside the fake's
main key; `rotate` replaces them (a new `kid` appears, the old one is gone), as Entra rolls its
keys. `FLAWS` are the tokens an attacker or a misconfigured client would bring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization

from devtools.fakecloud.tokens import SigningKey, standard_claims

#: The Azure CLI's public client id: the app user tokens are requested through.
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
OperatorKind = Literal["user", "app"]
FLAWS = (
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "wrong_issuer",
    "other_tenant",
    "alg_none",
    "hs256",
    "unknown_kid",
    "bad_signature",
)
#: A tenant that is not the home tenant, for `other_tenant` tokens.
OTHER_TENANT_ID = "0b7e3c1d-5f2a-4e6b-9c8d-7a1f2e3d4c5b"
_LIFETIME_S = 3600
_NAMESPACE = uuid.UUID("3d6a9b0e-2c41-4f7e-8a15-6b0c9e2f4d71")


def operator_object_id(kind: OperatorKind, name: str) -> str:
    """The stable object id of a named user, or of an application's service principal."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def operator_app_id(name: str) -> str:
    """The stable app (client) id of a named application."""
    return str(uuid.uuid5(_NAMESPACE, f"appid:{name}"))


@dataclass(frozen=True)
class OperatorIssuer:
    """Issues operator tokens for one app registration in one home tenant."""

    authority_url: str
    home_tenant_id: str
    app_client_id: str

    def claims(
        self, *, name: str, roles: Iterable[str], kind: OperatorKind = "user"
    ) -> dict[str, Any]:
        """A valid token's claims for a user (UPN `name`) or an application (`name`)."""
        oid = operator_object_id(kind, name)
        claims = standard_claims(
            issuer=f"{self.authority_url}/{self.home_tenant_id}/v2.0",
            subject=oid,
            audience=self.app_client_id,
            lifetime_s=_LIFETIME_S,
        )
        claims.update(tid=self.home_tenant_id, oid=oid, roles=list(roles), ver="2.0")
        if kind == "app":
            claims.update(idtyp="app", azp=operator_app_id(name), azpacr="2")
        else:
            claims.update(
                name=name.split("@")[0].title(),
                preferred_username=name,
                scp="user_impersonation",
                azp=AZURE_CLI_APP_ID,
                azpacr="0",
            )
        return claims

    def token(
        self,
        key: SigningKey,
        *,
        name: str,
        roles: Iterable[str],
        kind: OperatorKind = "user",
        flaw: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token; `flaw` (one of FLAWS) spoils it; an override of None drops a claim."""
        claims = self.claims(name=name, roles=roles, kind=kind)
        claims.update(overrides or {})
        claims = {k: v for k, v in claims.items() if v is not None}
        if flaw is None:
            return key.sign(claims)
        if flaw not in FLAWS:
            raise ValueError(f"flaw must be one of {', '.join(FLAWS)}")
        return self._flawed(flaw, claims, key)

    def _flawed(self, flaw: str, claims: dict[str, Any], key: SigningKey) -> str:
        now = int(time.time())
        changed: dict[str, dict[str, Any]] = {
            "expired": {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
            "not_yet_valid": {"nbf": now + 3600, "exp": now + 7200},
            "wrong_audience": {"aud": f"api://{uuid.uuid4()}"},
            # A v1.0 token: what Entra issues unless requestedAccessTokenVersion is 2.
            "wrong_issuer": {"iss": f"https://sts.windows.net/{self.home_tenant_id}/"},
            "other_tenant": {
                "iss": f"{self.authority_url}/{OTHER_TENANT_ID}/v2.0",
                "tid": OTHER_TENANT_ID,
            },
        }
        if flaw in changed:
            return key.sign(claims | changed[flaw])
        if flaw == "alg_none":
            return jwt.encode(claims, "", algorithm="none")
        if flaw == "hs256":
            return _hs256_with_public_key(claims, key)
        stranger = SigningKey()
        if flaw == "unknown_kid":
            return stranger.sign(claims)
        # bad_signature: the published key's kid, another key's signature
        header = {"kid": key.kid, "typ": "JWT"}
        return jwt.encode(claims, stranger.private_key, algorithm="RS256", headers=header)


def _hs256_with_public_key(claims: Mapping[str, Any], key: SigningKey) -> str:
    """The key-confusion attack: HMAC-SHA256 keyed with the published RSA public key.

    Built by hand: PyJWT refuses to use a PEM key as an HMAC secret, which is the point.
    """
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": key.kid}
    signing_input = f"{_b64(json.dumps(header))}.{_b64(json.dumps(dict(claims)))}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
