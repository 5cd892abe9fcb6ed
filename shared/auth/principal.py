"""Who is calling: a user or an application, from the verified claims of its access token only.

Entra v2.0 access tokens (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference):
`oid` is the caller's object id in the home tenant (a user, or an application's service
principal); `idtyp: app` marks an app-only token, which has no `scp`; users carry
`preferred_username` (their UPN) and `name`; `azp` is the client application's id.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.auth.roles import Role, granted


class PrincipalKind(enum.StrEnum):
    USER = "user"
    APP = "app"


@dataclass(frozen=True)
class Principal:
    """A verified caller of the API."""

    object_id: str
    kind: PrincipalKind
    #: users: UPN (or display name); applications: empty
    name: str
    #: users: the client app they signed in with; applications: their own app id
    app_id: str
    roles: frozenset[Role]

    @property
    def display(self) -> str:
        """What a run's `requested_by` shows: a user's UPN or name, an application's app id."""
        if self.kind is PrincipalKind.APP:
            return self.app_id or self.object_id
        return self.name or self.object_id

    def may(self, role: Role) -> bool:
        return role in self.roles

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """The principal of a token whose signature and claims were verified already."""
        is_app = claims.get("idtyp") == "app" or "scp" not in claims
        app_id = str(claims.get("azp") or claims.get("appid") or "")
        roles = claims.get("roles")
        return cls(
            object_id=str(claims["oid"]).lower(),
            kind=PrincipalKind.APP if is_app else PrincipalKind.USER,
            name="" if is_app else _user_name(claims),
            app_id=app_id.lower(),
            roles=granted(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
        )


def _user_name(claims: Mapping[str, Any]) -> str:
    for claim in ("preferred_username", "upn", "name"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value[:256]
    return ""
