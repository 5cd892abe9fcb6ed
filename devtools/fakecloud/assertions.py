"""How the token endpoint authenticates the app: federated assertion, certificate or secret.

Three ways in, checked as Entra checks them:
- a federated credential: the assertion (here, the managed identity's token) must carry a valid
  signature of the issuer's key and be within its time window; then (iss, aud, sub) must match one
  of the app's federated identity credentials exactly, case-sensitively (Entra docs,
  workload identity federation). The first field that matches no credential names the error.
- a certificate: the assertion header's `x5t` / `x5t#S256` picks a registered certificate; the
  assertion must be signed by it, with iss == sub == client_id and aud == the token endpoint.
  azure-identity's aio CertificateCredential sends PS256 + `x5t#S256` (padded base64url) and
  MSAL (the sync credential) sends RS256 + `x5t`; both use the token endpoint URL as `aud`.
- a client secret, compared by SHA-256 (the fake keeps no secret values).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from devtools.fakecloud.aadsts import EntraError, aadsts
from devtools.fakecloud.scenario import FederatedCredentialSpec
from devtools.fakecloud.state import AppCertificate, CloudState
from devtools.fakecloud.tokens import SigningKey, check_times

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AuthMethod = Literal["federated", "certificate", "secret"]


class Rejected(Exception):
    """The request fails with this Entra error."""

    def __init__(self, error: EntraError) -> None:
        super().__init__(f"AADSTS{error.code}: {error.text}")
        self.error = error


@dataclass(frozen=True)
class ClientCheck:
    """What the check needs to know about this request."""

    state: CloudState
    signing_key: SigningKey
    tenant_id: str
    token_endpoint: str


def authenticate(check: ClientCheck, form: Mapping[str, str]) -> AuthMethod:
    """Authenticate the app or raise Rejected; returns how it authenticated."""
    assertion = form.get("client_assertion")
    if assertion:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise Rejected(aadsts(900144, parameter="client_assertion_type"))
        header = _header(assertion)
        if ("x5t" in header or "x5t#S256" in header) and header.get("kid") != check.signing_key.kid:
            _check_certificate_assertion(check, assertion, header, form.get("client_id", ""))
            return "certificate"
        _check_federated_assertion(check, assertion)
        return "federated"
    secret = form.get("client_secret")
    if secret:
        if not check.state.secret_matches(secret):
            raise Rejected(aadsts(7000215, app_id=check.state.app_client_id))
        return "secret"
    raise Rejected(aadsts(7000218))


def _header(assertion: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(assertion)
    except jwt.DecodeError as exc:
        raise Rejected(aadsts(50027)) from exc


def unverified_claims(assertion: str) -> dict[str, Any]:
    """The assertion's claims, unchecked: only for error texts."""
    try:
        claims: dict[str, Any] = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.DecodeError:
        return {}
    return claims


def _time_error(assertion: str, now: float) -> Rejected:
    claims = unverified_claims(assertion)

    def show(key: str) -> str:
        value = claims.get(key)
        if not isinstance(value, int | float):
            return "unknown"
        return datetime.datetime.fromtimestamp(value, datetime.UTC).strftime("%m/%d/%Y %H:%M:%S")

    shown = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%m/%d/%Y %H:%M:%S")
    return Rejected(aadsts(700024, now=shown, nbf=show("nbf"), exp=show("exp")))


def _check_federated_assertion(check: ClientCheck, assertion: str) -> None:
    try:
        claims = check.signing_key.verify(assertion)
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        raise _time_error(assertion, check.signing_key.now()) from exc
    except jwt.InvalidSignatureError as exc:
        raise Rejected(aadsts(700027, detail="Signature is invalid.")) from exc
    except jwt.InvalidTokenError as exc:
        raise Rejected(aadsts(50027)) from exc
    _match_federated_credential(check.state.federated_credentials(), claims)


def _match_federated_credential(
    credentials: tuple[FederatedCredentialSpec, ...], claims: Mapping[str, Any]
) -> FederatedCredentialSpec:
    """The credential matching (iss, aud, sub); the first field matching none names the error."""
    iss, sub, aud = (str(claims.get(k, "")) for k in ("iss", "sub", "aud"))
    audiences = claims.get("aud")
    presented = set(audiences) if isinstance(audiences, list) else {aud}
    if not credentials:
        raise Rejected(aadsts(70021, iss=iss, sub=sub, aud=aud))
    candidates = [c for c in credentials if c.issuer == iss]
    if not candidates:
        raise Rejected(aadsts(700211, iss=iss))
    candidates = [c for c in candidates if presented & set(c.audiences)]
    if not candidates:
        raise Rejected(aadsts(700212, aud=aud))
    candidates = [c for c in candidates if c.subject == sub]
    if not candidates:
        raise Rejected(aadsts(700213, sub=sub))
    return candidates[0]


def _check_certificate_assertion(
    check: ClientCheck, assertion: str, header: Mapping[str, Any], client_id: str
) -> None:
    certificate = check.state.certificate(x5t=header.get("x5t"), x5t_s256=header.get("x5t#S256"))
    if certificate is None:
        raise Rejected(aadsts(700027, detail="Key was not found."))
    claims = _verify_with_certificate(
        certificate, assertion, str(header.get("alg")), now=check.signing_key.now()
    )
    if not (claims.get("iss") == claims.get("sub") == client_id):
        raise Rejected(aadsts(700021))
    if claims.get("aud") != check.token_endpoint:
        detail = f"The audience '{claims.get('aud')}' is not the token endpoint."
        raise Rejected(aadsts(700027, detail=detail))


def _verify_with_certificate(
    certificate: AppCertificate, assertion: str, algorithm: str, *, now: float
) -> dict[str, Any]:
    if algorithm not in ("RS256", "PS256"):
        raise Rejected(aadsts(700027, detail=f"Algorithm '{algorithm}' is not supported."))
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion,
            certificate.public_key,
            algorithms=[algorithm],
            options={
                "verify_aud": False,
                "require": ["exp"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        check_times(claims, now=now)
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        raise _time_error(assertion, now) from exc
    except jwt.InvalidSignatureError as exc:
        raise Rejected(aadsts(700027, detail="Signature is invalid.")) from exc
    except jwt.InvalidTokenError as exc:
        raise Rejected(aadsts(50027)) from exc
    return claims
