"""Directory role assignments (unifiedRoleAssignment): who holds which Entra role, tenant-wide.

Shape from https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments: `id`,
`principalId`, `roleDefinitionId` (for built-in roles, the role's template id, e.g. Global
Administrator `62e90394-69f5-4237-9190-012177145e10`) and `directoryScopeId` (`/` = the whole
tenant). Read-only here: a scenario says who holds which role.
"""

from __future__ import annotations

import base64
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devtools.fakecloud.graph.schema import EntitySchema, PropertySpec

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _eq(name: str) -> PropertySpec:
    return PropertySpec(name, "string", frozenset({"eq", "in"}), frozenset())


ROLE_ASSIGNMENT = EntitySchema(
    type_name="microsoft.graph.unifiedRoleAssignment",
    resource="UnifiedRoleAssignment",
    entity_set="roleManagement/directory/roleAssignments",
    selectable=(
        "id",
        "principalId",
        "roleDefinitionId",
        "directoryScopeId",
        "appScopeId",
        "condition",
    ),
    default_select=("id", "principalId", "roleDefinitionId", "directoryScopeId"),
    filterable={
        spec.name.casefold(): spec
        for spec in map(_eq, ("id", "principalId", "roleDefinitionId", "directoryScopeId"))
    },
)


@dataclass(frozen=True)
class RoleAssignment:
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"

    @property
    def id(self) -> str:
        """Graph's ids look like base64 of the role and the principal, plus a suffix."""
        raw = uuid.UUID(self.role_definition_id).bytes + uuid.UUID(self.principal_id).bytes
        return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "-1"

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "principalId": self.principal_id,
            "roleDefinitionId": self.role_definition_id,
            "directoryScopeId": self.directory_scope_id,
            "appScopeId": None,
            "condition": None,
        }


class RoleAssignments:
    """The tenant's role assignments, under the directory's lock."""

    def __init__(self, lock: threading.RLock, load: Callable[[], None]) -> None:
        self._lock = lock
        self._load = load
        self._assignments: list[RoleAssignment] = []

    def add(self, principal_id: str, role_definition_id: str, scope: str = "/") -> RoleAssignment:
        for name, value in (("principal", principal_id), ("roleDefinitionId", role_definition_id)):
            if not _GUID.fullmatch(value):
                raise ValueError(f"role assignment {name} {value!r} is not a GUID")
        assignment = RoleAssignment(principal_id.lower(), role_definition_id.lower(), scope)
        with self._lock:
            self._load()
            if assignment not in self._assignments:
                self._assignments.append(assignment)
        return assignment

    def all(self) -> list[RoleAssignment]:
        """Every assignment, in ascending id order (the paging cursor relies on it)."""
        with self._lock:
            self._load()
            return sorted(self._assignments, key=lambda a: a.id)
