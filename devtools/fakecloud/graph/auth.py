"""Who is calling: the bearer token checked, its tenant and application permissions.

Graph authorises app-only calls by the token's `roles` claim; each operation needs any one of
a list of permissions (the "Permissions" table of each API page, least privileged first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import jwt

from devtools.fakecloud.graph.errors import access_denied, invalid_token
from devtools.fakecloud.tokens import SigningKey

USER_READ = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
USER_WRITE = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
SIGN_IN_ACTIVITY = frozenset({"AuditLog.Read.All"})
GROUP_READ = frozenset(
    {
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
GROUP_CREATE = frozenset({"Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"})
GROUP_WRITE = frozenset({"Group.ReadWrite.All", "Directory.ReadWrite.All"})
MEMBER_WRITE = frozenset(
    {"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)
POLICY_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.Authorization"})
POLICY_WRITE = frozenset({"Policy.ReadWrite.Authorization"})
#: GET /subscribedSkus (least privileged first)
LICENCE_READ = frozenset(
    {
        "LicenseAssignment.Read.All",
        "Organization.Read.All",
        "Organization.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
#: Conditional Access policies: read; a write needs CA_WRITE *and* one of CA_WRITE_ALSO
#: (Graph's table lists "Policy.Read.All and Policy.ReadWrite.ConditionalAccess", or
#: Application.Read.All in place of Policy.Read.All)
CA_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"})
CA_WRITE = frozenset({"Policy.ReadWrite.ConditionalAccess"})
CA_WRITE_ALSO = frozenset({"Policy.Read.All", "Application.Read.All"})
SECURITY_DEFAULTS_READ = frozenset({"Policy.Read.All", "Policy.ReadWrite.SecurityDefaults"})
SECURITY_DEFAULTS_WRITE = frozenset({"Policy.ReadWrite.SecurityDefaults"})
#: GET /roleManagement/directory/roleAssignments (least privileged first)
ROLE_ASSIGNMENT_READ = frozenset(
    {
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
#: /policies/authenticationMethodsPolicy and its configurations (least privileged first)
AUTH_METHODS_READ = frozenset(
    {"Policy.Read.AuthenticationMethod", "Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"}
)
AUTH_METHODS_WRITE = frozenset({"Policy.ReadWrite.AuthenticationMethod"})
#: /admin/sharepoint/settings
SHAREPOINT_READ = frozenset(
    {"SharePointTenantSettings.Read.All", "SharePointTenantSettings.ReadWrite.All"}
)
SHAREPOINT_WRITE = frozenset({"SharePointTenantSettings.ReadWrite.All"})
ANY = frozenset[str]()  # no permission needed (used by $batch itself)


@dataclass(frozen=True)
class Caller:
    """The verified identity behind a request (claims only, never the token)."""

    tenant_id: str
    roles: frozenset[str]
    app_id: str | None

    def has_any(self, permissions: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(permissions)

    def require(self, permissions: frozenset[str]) -> None:
        if permissions and not self.has_any(permissions):
            raise access_denied()


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token from `Authorization: Bearer ...` ('' when there is none)."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.casefold() == "bearer" else ""


def verify_caller(token: str, key: SigningKey, audience: str) -> Caller:
    """Check signature, lifetime and audience, as Graph's front door does."""
    if not token:
        raise invalid_token("Access token is empty.")
    try:
        claims = key.verify(token, audience=audience)
    except jwt.ExpiredSignatureError:
        raise invalid_token("Lifetime validation failed, the token is expired.") from None
    except jwt.InvalidAudienceError:
        raise invalid_token("Access token validation failure. Invalid audience.") from None
    except jwt.InvalidTokenError:
        raise invalid_token("Access token validation failure.") from None
    tenant_id = str(claims.get("tid") or "")
    if not tenant_id:
        raise invalid_token("Access token validation failure: no tenant (tid) claim.")
    roles = claims.get("roles") or []
    return Caller(tenant_id, frozenset(map(str, roles)), claims.get("appid"))
