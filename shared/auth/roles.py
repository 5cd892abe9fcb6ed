"""The app roles an operator (a user or an application) holds, and what each permits.

Roles are app roles of the app registration (infra/modules/appregistration.bicep); Entra puts the
ones assigned to the caller in the token's `roles` claim. Least privilege: reading never lets a
caller change anything, planning never changes a tenant, and administering the registry does not
include applying changes to tenants.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class Role(enum.StrEnum):
    """An app role's `value`, as it appears in the token's `roles` claim."""

    READ = "xtenant.read"
    PLAN = "xtenant.plan"
    APPLY = "xtenant.apply"
    ADMIN = "xtenant.admin"

    @property
    def permits(self) -> str:
        return _PERMITS[self]


#: What holding a role grants, itself included.
_GRANTS: dict[Role, frozenset[Role]] = {
    Role.READ: frozenset({Role.READ}),
    Role.PLAN: frozenset({Role.PLAN, Role.READ}),
    Role.APPLY: frozenset({Role.APPLY, Role.PLAN, Role.READ}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.READ}),
}

_PERMITS: dict[Role, str] = {
    Role.READ: "every GET: runs, tenants, jobs, bad messages, health",
    Role.PLAN: "start plan runs, run a tenant's connection check; and read",
    Role.APPLY: "start apply runs, enrol a tenant in a job in apply mode (with admin); plan, read",
    Role.ADMIN: "change the tenant registry, issue onboarding links, read the audit trail; "
    "and read (not apply)",
}


def granted(claimed: Iterable[str]) -> frozenset[Role]:
    """Every role the `roles` claim grants, implied ones included; unknown values are ignored."""
    known = {value.value: value for value in Role}
    found: set[Role] = set()
    for value in claimed:
        role = known.get(value)
        if role is not None:
            found |= _GRANTS[role]
    return frozenset(found)
