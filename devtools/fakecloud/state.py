"""The fake cloud's mutable directory state: tenants, the app's credentials, token lifetimes.

The server reads it on its event-loop thread while tests change it from theirs, so every access
goes through one lock and readers get copies (frozen records), never live objects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from devtools.fakecloud.scenario import (
    APP_REQUIRED_ROLES,
    TENANT_STATES,
    FederatedCredentialSpec,
    OperatorSpec,
    Scenario,
    TenantStateName,
)
from devtools.fakecloud.tokens import SigningKey

# Namespace for the stable, per-tenant object id of the app's service principal.
_SP_NAMESPACE = uuid.UUID("6f1b0e8e-4a39-4c8e-9d1c-2f0a7d3b5e11")


@dataclass(frozen=True)
class TenantRecord:
    """A customer tenant as the token endpoint sees it."""

    tenant_id: str
    name: str
    state: TenantStateName
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ConsentAnswer:
    """What the (scripted) administrator answers on the admin-consent page.

    `grant=True`: consent for `tenant_id` (None: the tenant in the request's path) with `roles`
    (None: the app's required roles). `grant=False`: the admin declines, with `description`.
    """

    grant: bool
    tenant_id: str | None = None
    roles: tuple[str, ...] | None = None
    description: str = "AADSTS65004: User declined to consent to access the app."


@dataclass(frozen=True)
class AppCertificate:
    """A certificate registered on the app (keyCredentials), found by its thumbprints."""

    x5t: str  # base64url SHA-1 thumbprint, no padding
    x5t_s256: str  # base64url SHA-256 thumbprint, no padding
    public_key: rsa.RSAPublicKey

    @classmethod
    def from_pem(cls, pem: str | bytes) -> AppCertificate:
        cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        public_key = cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("only RSA certificates are supported (assertions use RS256/PS256)")
        return cls(
            x5t=_thumbprint(cert.fingerprint(hashes.SHA1())),  # noqa: S303 - x5t is SHA-1 by RFC 7515
            x5t_s256=_thumbprint(cert.fingerprint(hashes.SHA256())),
            public_key=public_key,
        )


def _thumbprint(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _secret_hash(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True)
class StateSnapshot:
    """What `CloudState.snapshot` saves and `restore` puts back."""

    tenants: dict[str, TenantRecord]
    credentials: tuple[FederatedCredentialSpec, ...]
    secret_hashes: list[bytes]
    certificates: list[AppCertificate]
    mi_token_lifetime_s: int
    access_token_lifetime_s: int
    redirect_uris: tuple[str, ...]
    required_roles: tuple[str, ...]
    consent_answers: tuple[ConsentAnswer, ...]
    operator_keys: tuple[SigningKey, ...]
    operators: tuple[OperatorSpec, ...]


@dataclass
class CloudState:
    """Everything the Entra and MSI emulators decide with, behind one lock.

    Identifiers that never change during a run (home tenant, MI, app ids) are plain attributes.
    """

    home_tenant_id: str
    mi_client_id: str
    mi_principal_id: str
    app_client_id: str
    app_display_name: str
    mi_token_lifetime_s: int = 24 * 3600
    access_token_lifetime_s: int = 3599
    _tenants: dict[str, TenantRecord] = field(default_factory=dict)
    _credentials: tuple[FederatedCredentialSpec, ...] = ()
    _secret_hashes: list[bytes] = field(default_factory=list)
    _certificates: list[AppCertificate] = field(default_factory=list)
    _redirect_uris: tuple[str, ...] = ()
    _required_roles: tuple[str, ...] = APP_REQUIRED_ROLES
    _consent_answers: list[ConsentAnswer] = field(default_factory=list)
    #: the home tenant's keys for operators' tokens (devtools/fakecloud/operators.py)
    _operator_keys: tuple[SigningKey, ...] = field(default_factory=lambda: (SigningKey(),))
    #: who the console's sign-in page offers (devtools/fakecloud/signin.py)
    _operators: tuple[OperatorSpec, ...] = ()
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, authority: str) -> CloudState:
        state = cls(
            home_tenant_id=scenario.home_tenant_id,
            mi_client_id=scenario.managed_identity.client_id,
            mi_principal_id=scenario.managed_identity.principal_id,
            app_client_id=scenario.app.client_id,
            app_display_name=scenario.app.display_name,
        )
        state._credentials = scenario.resolved_credentials(authority)
        state._operators = scenario.operators
        state._redirect_uris = scenario.app.redirect_uris
        for spec in scenario.tenants:
            key = spec.tenant_id.lower()
            state._tenants[key] = TenantRecord(key, spec.name, spec.state, spec.roles)
        return state

    def tenant(self, tenant_id: str) -> TenantRecord | None:
        with self._lock:
            return self._tenants.get(tenant_id.lower())

    def tenants(self) -> list[TenantRecord]:
        with self._lock:
            return list(self._tenants.values())

    def set_tenant(self, tenant_id: str, **changes: Any) -> TenantRecord:
        """Change (or create) a tenant: `state`, `roles`, `name`. Returns the new record."""
        unknown = set(changes) - {"state", "roles", "name"}
        if unknown:
            raise ValueError(f"unknown tenant fields: {', '.join(sorted(unknown))}")
        if "state" in changes and changes["state"] not in TENANT_STATES:
            raise ValueError(f"state must be one of {', '.join(TENANT_STATES)}")
        if "roles" in changes:
            changes["roles"] = tuple(changes["roles"])
        key = tenant_id.lower()
        with self._lock:
            current = self._tenants.get(key) or TenantRecord(key, key, "consented", ())
            record = replace(current, **changes)
            self._tenants[key] = record
            return record

    def federated_credentials(self) -> tuple[FederatedCredentialSpec, ...]:
        with self._lock:
            return self._credentials

    def set_federated_credentials(self, credentials: Iterable[FederatedCredentialSpec]) -> None:
        with self._lock:
            self._credentials = tuple(credentials)

    def add_app_secret(self, value: str) -> None:
        """Register a client secret; only its SHA-256 is kept."""
        with self._lock:
            self._secret_hashes.append(_secret_hash(value))

    def secret_matches(self, value: str) -> bool:
        presented = _secret_hash(value)
        with self._lock:
            return any(hmac.compare_digest(presented, h) for h in self._secret_hashes)

    def add_app_certificate(self, pem: str | bytes) -> AppCertificate:
        certificate = AppCertificate.from_pem(pem)
        with self._lock:
            self._certificates.append(certificate)
        return certificate

    def certificate(self, *, x5t: str | None, x5t_s256: str | None) -> AppCertificate | None:
        """The registered certificate a client assertion header points at, if any."""
        want_sha1, want_sha256 = (t.rstrip("=") if t else None for t in (x5t, x5t_s256))
        with self._lock:
            for cert in self._certificates:
                if cert.x5t == want_sha1 or cert.x5t_s256 == want_sha256:
                    return cert
        return None

    def set_app(
        self,
        *,
        redirect_uris: Iterable[str] | None = None,
        required_roles: Iterable[str] | None = None,
    ) -> None:
        """The app registration's redirect URIs (web.redirectUris) and the Graph application
        permissions it requests (requiredResourceAccess)."""
        with self._lock:
            if redirect_uris is not None:
                self._redirect_uris = tuple(redirect_uris)
            if required_roles is not None:
                self._required_roles = tuple(required_roles)

    def redirect_uris(self) -> tuple[str, ...]:
        with self._lock:
            return self._redirect_uris

    def required_roles(self) -> tuple[str, ...]:
        with self._lock:
            return self._required_roles

    def script_consent(self, answer: ConsentAnswer) -> None:
        """Queue the administrator's answer to the next admin-consent request."""
        with self._lock:
            self._consent_answers.append(answer)

    def next_consent_answer(self) -> ConsentAnswer | None:
        with self._lock:
            return self._consent_answers.pop(0) if self._consent_answers else None

    def operator_keys(self) -> tuple[SigningKey, ...]:
        """The operator signing keys the home tenant publishes; the last one signs."""
        with self._lock:
            return self._operator_keys

    def rotate_operator_keys(self) -> SigningKey:
        """A new key signs from now on; the old one is no longer published."""
        key = SigningKey()
        with self._lock:
            self._operator_keys = (key,)
        return key

    def operators(self) -> tuple[OperatorSpec, ...]:
        with self._lock:
            return self._operators

    def set_operators(self, operators: Iterable[OperatorSpec]) -> None:
        """Who may sign in to the console (the home tenant's users with their app roles)."""
        with self._lock:
            self._operators = tuple(operators)

    def snapshot(self) -> StateSnapshot:
        """A copy of everything tests may change, for `restore` afterwards."""
        with self._lock:
            return StateSnapshot(
                tenants=dict(self._tenants),
                credentials=self._credentials,
                secret_hashes=list(self._secret_hashes),
                certificates=list(self._certificates),
                mi_token_lifetime_s=self.mi_token_lifetime_s,
                access_token_lifetime_s=self.access_token_lifetime_s,
                redirect_uris=self._redirect_uris,
                required_roles=self._required_roles,
                consent_answers=tuple(self._consent_answers),
                operator_keys=self._operator_keys,
                operators=self._operators,
            )

    def restore(self, snapshot: StateSnapshot) -> None:
        with self._lock:
            self._tenants = dict(snapshot.tenants)
            self._credentials = snapshot.credentials
            self._secret_hashes = list(snapshot.secret_hashes)
            self._certificates = list(snapshot.certificates)
            self.mi_token_lifetime_s = snapshot.mi_token_lifetime_s
            self.access_token_lifetime_s = snapshot.access_token_lifetime_s
            self._redirect_uris = snapshot.redirect_uris
            self._required_roles = snapshot.required_roles
            self._consent_answers = list(snapshot.consent_answers)
            self._operator_keys = snapshot.operator_keys
            self._operators = snapshot.operators


def service_principal_id(app_client_id: str, tenant_id: str) -> str:
    """The app's service principal object id in a tenant: stable across runs."""
    return str(uuid.uuid5(_SP_NAMESPACE, f"{app_client_id}/{tenant_id.lower()}"))
