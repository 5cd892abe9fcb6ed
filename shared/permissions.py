"""Which Microsoft Graph application permissions a granted set covers.

A tenant that granted a broader permission has granted the narrower ones it includes: the
connection check must not report `User.Read.All` missing where `User.ReadWrite.All` was granted.
The rules are those of Graph's permissions reference
(https://learn.microsoft.com/graph/permissions-reference): `X.ReadWrite.Y` includes `X.Read.Y`;
`Directory.*` includes the user, group and group-member permissions of the same kind;
`Group.*` includes `GroupMember.*` of the same kind; `User.Read.All` includes `User.ReadBasic.All`;
`Organization.Read.All` and `Directory.Read.All` read the licences (`GET /subscribedSkus`) that
`LicenseAssignment.Read.All` reads.
"""

from __future__ import annotations

from collections.abc import Iterable

_INCLUDES: dict[str, frozenset[str]] = {
    "Directory.ReadWrite.All": frozenset(
        {"User.ReadWrite.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All"}
    ),
    "Directory.Read.All": frozenset(
        {"User.Read.All", "Group.Read.All", "GroupMember.Read.All", "LicenseAssignment.Read.All"}
    ),
    "Organization.Read.All": frozenset({"LicenseAssignment.Read.All"}),
    "Group.ReadWrite.All": frozenset({"GroupMember.ReadWrite.All"}),
    "Group.Read.All": frozenset({"GroupMember.Read.All"}),
    "User.Read.All": frozenset({"User.ReadBasic.All"}),
}


def _narrower(permission: str) -> set[str]:
    found = set(_INCLUDES.get(permission, ()))
    resource, _, rest = permission.partition(".")
    if rest.startswith("ReadWrite."):
        found.add(f"{resource}.Read.{rest.removeprefix('ReadWrite.')}")
    return found


def covered(granted: Iterable[str]) -> frozenset[str]:
    """Every permission `granted` amounts to: itself and all it includes, transitively."""
    result: set[str] = set()
    pending = list(granted)
    while pending:
        permission = pending.pop()
        if permission not in result:
            result.add(permission)
            pending.extend(_narrower(permission))
    return frozenset(result)


def missing(needed: Iterable[str], granted: Iterable[str]) -> list[str]:
    """The permissions of `needed` that `granted` does not cover, in `needed`'s order."""
    have = covered(granted)
    return [p for p in needed if p not in have]
