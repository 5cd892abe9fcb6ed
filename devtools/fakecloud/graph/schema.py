"""What Graph lets a client select and filter on users and groups.

Filter support per property and operator follows Graph's table for directory objects
(https://learn.microsoft.com/graph/aad-advanced-queries, "Support for filter by properties of
Microsoft Entra ID (directory) objects"): some operators work by default, some only as an
*advanced query* (header `ConsistencyLevel: eventual` plus `$count=true`), the rest are
refused. Directory objects support no `lt`/`gt` at all. Operator names used here: eq, ne,
not, ge, le, in, startswith, endswith, null (`eq null`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devtools.fakecloud.graph.errors import unknown_property


@dataclass(frozen=True)
class PropertySpec:
    name: str  # canonical spelling, e.g. "signInActivity/lastSignInDateTime"
    kind: str  # "string" | "bool" | "datetime"
    default_ops: frozenset[str]
    advanced_ops: frozenset[str]


@dataclass(frozen=True)
class EntitySchema:
    type_name: str  # "microsoft.graph.user"
    resource: str  # "User", as Graph names it in filter errors
    entity_set: str  # "users"
    selectable: tuple[str, ...]
    default_select: tuple[str, ...]
    filterable: Mapping[str, PropertySpec]  # casefolded path -> spec

    def select_name(self, name: str) -> str:
        """Canonical spelling of a $select property (Graph matches names case-insensitively)."""
        for known in self.selectable:
            if known.casefold() == name.strip().casefold():
                return known
        raise unknown_property(name.strip(), self.type_name)

    def filter_property(self, path: str) -> PropertySpec | None:
        """The spec of a filter operand; None if the property exists but is not filterable.

        Raises GraphError (400) if the property does not exist at all.
        """
        spec = self.filterable.get(path.casefold())
        if spec is not None:
            return spec
        head, _, tail = path.partition("/")
        if head.casefold() == "signinactivity" and tail and self.entity_set == "users":
            raise unknown_property(tail, "microsoft.graph.signInActivity")
        self.select_name(head)
        return None


def _spec(name: str, kind: str, default: str, advanced: str = "") -> PropertySpec:
    return PropertySpec(name, kind, frozenset(default.split()), frozenset(advanced.split()))


def _index(*specs: PropertySpec) -> dict[str, PropertySpec]:
    return {spec.name.casefold(): spec for spec in specs}


_ALL_STRING_OPS = "eq ne ge le in startswith null"
_SIGN_IN = "signInActivity/"

USER = EntitySchema(
    type_name="microsoft.graph.user",
    resource="User",
    entity_set="users",
    selectable=(
        "id",
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "accountEnabled",
        "createdDateTime",
        "creationType",
        "externalUserState",
        "mailNickname",
        "userType",
        "signInActivity",
    ),
    default_select=(
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ),
    filterable=_index(
        _spec("id", "string", "eq in", "ne not"),
        _spec("accountEnabled", "bool", "eq in", "ne not ge le"),
        _spec("createdDateTime", "datetime", "eq ge le", "ne not in"),
        _spec("creationType", "string", "eq in", "ne not"),
        _spec("displayName", "string", "eq in startswith", "ne not null"),
        _spec("externalUserState", "string", "eq in", "ne not"),
        _spec("givenName", "string", "eq ge le in startswith", "ne null"),
        _spec("jobTitle", "string", "eq ge le in", "ne null"),
        _spec("mail", "string", "eq ge le in startswith", "ne endswith"),
        _spec("mailNickname", "string", "eq ge le in startswith", "ne null"),
        _spec("mobilePhone", "string", "", _ALL_STRING_OPS),
        _spec("officeLocation", "string", "", _ALL_STRING_OPS),
        _spec("preferredLanguage", "string", "", _ALL_STRING_OPS),
        _spec("surname", "string", "eq ge le in startswith", "ne null"),
        _spec("userPrincipalName", "string", "eq ge le in startswith", "ne endswith"),
        _spec("userType", "string", "eq in", "ne not null"),
        _spec(_SIGN_IN + "lastSignInDateTime", "datetime", "eq ge le", "ne not"),
        _spec(_SIGN_IN + "lastNonInteractiveSignInDateTime", "datetime", "eq ge le", "ne not"),
        _spec(_SIGN_IN + "lastSuccessfulSignInDateTime", "datetime", "eq ge le", "ne not"),
    ),
)

GROUP = EntitySchema(
    type_name="microsoft.graph.group",
    resource="Group",
    entity_set="groups",
    selectable=(
        "id",
        "deletedDateTime",
        "classification",
        "createdDateTime",
        "description",
        "displayName",
        "groupTypes",
        "isAssignableToRole",
        "mail",
        "mailEnabled",
        "mailNickname",
        "proxyAddresses",
        "securityEnabled",
        "visibility",
    ),
    default_select=(),  # groups return every property by default
    filterable=_index(
        _spec("id", "string", "eq in", "ne not"),
        _spec("description", "string", "eq ge le startswith", "ne not null"),
        _spec("displayName", "string", "eq ge le in startswith", "ne not null"),
        _spec("mail", "string", "eq ge le in startswith", "ne not endswith null"),
        _spec("mailEnabled", "bool", "eq in", "ne not"),
        _spec("mailNickname", "string", "eq ge le in startswith", "ne not null"),
        _spec("securityEnabled", "bool", "eq in", "ne not"),
        _spec("visibility", "string", "eq in", "ne not null"),
    ),
)

# A group's members are directoryObjects: $select may name properties of either type.
DIRECTORY_OBJECT = EntitySchema(
    type_name="microsoft.graph.directoryObject",
    resource="DirectoryObject",
    entity_set="directoryObjects",
    selectable=tuple(dict.fromkeys(USER.selectable + GROUP.selectable)),
    default_select=(),
    filterable={},
)


def uses_sign_in_activity(names: tuple[str, ...] | list[str]) -> bool:
    return any(n.split("/")[0].casefold() == "signinactivity" for n in names)
