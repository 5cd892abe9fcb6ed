"""One tenant's directory: users, groups, policies, role assignments, SharePoint settings and
licences.

The server's asyncio loop mutates it while tests on another thread read it, so every access
takes one lock and readers get frozen objects or copies. Listing order is ascending object id
(a stable order that survives inserts), which is what the $skiptoken cursor relies on.

A directory may be created before its tenant id is known (the server builds it from the
scenario, then hands it to the Graph app); the content is materialised lazily, at the first
access after `bind(tenant_id)` or at the first access at all, because the default domain
(`t<first 8 hex of tid>.onmicrosoft.com`) depends on the tenant id.
"""

from __future__ import annotations

import bisect
import copy
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from devtools.fakecloud.graph import licences, sharepoint
from devtools.fakecloud.graph.auth_methods import AuthMethodsState, find_method
from devtools.fakecloud.graph.errors import ALREADY_MEMBER, GraphError, no_spo_licence, not_found
from devtools.fakecloud.graph.model import Group, User
from devtools.fakecloud.graph.policy import default_policy, merged_policy
from devtools.fakecloud.graph.role_assignments import RoleAssignments
from devtools.fakecloud.graph.security_policies import SecurityPolicies

Loader = Callable[["TenantDirectory"], None]


class TenantDirectory:
    """Users, groups and policy of one tenant, safe to read from another thread."""

    def __init__(
        self,
        loader: Loader | None = None,
        *,
        tenant_id: str | None = None,
        domain: str | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._loader = loader
        self._tenant_id = tenant_id
        self._domain = domain
        self._users: dict[str, User] = {}
        self._user_ids: list[str] = []  # sorted
        self._upn_index: dict[str, str] = {}  # casefolded UPN -> id
        self._groups: dict[str, Group] = {}
        self._group_ids: list[str] = []  # sorted
        self._policy = default_policy()
        self._auth_methods = AuthMethodsState(graph_time())
        self._sharepoint = sharepoint.default_settings()
        self._skus: tuple[str, ...] = licences.DEFAULT_SKUS
        #: Conditional Access policies and security defaults (security_policies.py)
        self.security = SecurityPolicies(self._lock, self._ensure_loaded)
        self.role_assignments = RoleAssignments(self._lock, self._ensure_loaded)

    # --- identity -----------------------------------------------------------------------

    def bind(self, tenant_id: str) -> None:
        """Tell the directory whose it is (first caller wins); the Graph app calls this."""
        with self._lock:
            if self._tenant_id is None:
                self._tenant_id = tenant_id

    @property
    def tenant_id(self) -> str | None:
        with self._lock:
            return self._tenant_id

    @property
    def domain(self) -> str:
        """The initial domain: given, or `t<first 8 hex of tid>.onmicrosoft.com`."""
        with self._lock:
            if self._domain is None:
                tid = (self._tenant_id or "00000000").replace("-", "")
                self._domain = f"t{tid[:8].lower()}.onmicrosoft.com"
            return self._domain

    def _ensure_loaded(self) -> None:
        with self._lock:
            loader, self._loader = self._loader, None
            if loader is not None:
                loader(self)

    # --- users --------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        with self._lock:
            self._ensure_loaded()
            key = user.user_principal_name.casefold()
            if user.id in self._users or key in self._upn_index:
                raise ValueError(f"user {user.user_principal_name} already exists")
            self._users[user.id] = user
            bisect.insort(self._user_ids, user.id)
            self._upn_index[key] = user.id
            return user

    def users(self) -> list[User]:
        """All users in listing order (ascending id)."""
        with self._lock:
            self._ensure_loaded()
            return [self._users[i] for i in self._user_ids]

    def users_by_upn(self) -> dict[str, User]:
        with self._lock:
            return {u.user_principal_name: u for u in self.users()}

    def find_user(self, id_or_upn: str) -> User | None:
        """By object id or (case-insensitive) userPrincipalName, as /users/{id | upn}."""
        with self._lock:
            self._ensure_loaded()
            user_id = self._upn_index.get(id_or_upn.casefold(), id_or_upn.lower())
            return self._users.get(user_id)

    def update_user(self, user_id: str, **changes: Any) -> User:
        with self._lock:
            user = self.find_user(user_id)
            if user is None:
                raise not_found(user_id)
            updated = replace(user, **changes)
            self._users[user.id] = updated
            return updated

    # --- groups -------------------------------------------------------------------------

    def add_group(self, group: Group) -> tuple[Group, bool]:
        """Store a new group; the flag says whether its mailNickname was already taken
        (Graph allows that for security groups, so this is a duplicate, not an error)."""
        with self._lock:
            self._ensure_loaded()
            nickname = group.mail_nickname.casefold()
            duplicate = any(g.mail_nickname.casefold() == nickname for g in self._groups.values())
            self._groups[group.id] = group
            bisect.insort(self._group_ids, group.id)
            return group, duplicate

    def groups(self) -> list[Group]:
        with self._lock:
            self._ensure_loaded()
            return [self._groups[i] for i in self._group_ids]

    def find_group(self, group_id: str) -> Group | None:
        with self._lock:
            self._ensure_loaded()
            return self._groups.get(group_id.lower())

    def update_group(self, group_id: str, **changes: Any) -> Group:
        with self._lock:
            group = self._required_group(group_id)
            updated = replace(group, **changes)
            self._groups[group.id] = updated
            return updated

    def _required_group(self, group_id: str) -> Group:
        group = self.find_group(group_id)
        if group is None:
            raise not_found(group_id)
        return group

    # --- membership ---------------------------------------------------------------------

    def find_object(self, object_id: str) -> User | Group | None:
        """A directoryObject (user or group) by id."""
        with self._lock:
            return self.find_group(object_id) or self._users_by_id(object_id)

    def _users_by_id(self, object_id: str) -> User | None:
        self._ensure_loaded()
        return self._users.get(object_id.lower())

    def add_members(self, group_id: str, object_ids: list[str]) -> None:
        """Add directory objects to a group; all or nothing, as Graph does."""
        with self._lock:
            group = self._required_group(group_id)
            resolved = [self._required_object(i).id for i in object_ids]
            if any(i in group.member_ids for i in resolved) or len(set(resolved)) < len(resolved):
                raise GraphError(400, "Request_BadRequest", ALREADY_MEMBER)
            self._groups[group.id] = replace(group, member_ids=group.member_ids + tuple(resolved))

    def remove_member(self, group_id: str, object_id: str) -> None:
        with self._lock:
            group = self._required_group(group_id)
            member = object_id.lower()
            if member not in group.member_ids:
                raise not_found(object_id)
            remaining = tuple(i for i in group.member_ids if i != member)
            self._groups[group.id] = replace(group, member_ids=remaining)

    def members(self, group_id: str) -> list[User | Group]:
        """Direct members in listing order (ascending id)."""
        with self._lock:
            group = self._required_group(group_id)
            found = (self.find_object(i) for i in sorted(group.member_ids))
            return [m for m in found if m is not None]

    def _required_object(self, object_id: str) -> User | Group:
        found = self.find_object(object_id)
        if found is None:
            raise not_found(object_id)
        return found

    # --- policy and licences ------------------------------------------------------------

    def authorization_policy(self) -> dict[str, Any]:
        with self._lock:
            self._ensure_loaded()
            return copy.deepcopy(self._policy)

    def update_authorization_policy(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a partial update (validated; nested defaultUserRolePermissions merged)."""
        with self._lock:
            self._ensure_loaded()
            self._policy = merged_policy(self._policy, changes)
            return copy.deepcopy(self._policy)

    def authentication_methods_policy(self) -> dict[str, Any]:
        """The policy with its configurations inline, as GET answers it."""
        with self._lock:
            self._ensure_loaded()
            return self._auth_methods.document()

    def update_authentication_methods_policy(self, changes: Mapping[str, Any]) -> None:
        """A validated partial update of the policy (auth_methods.merged_policy)."""
        with self._lock:
            self._ensure_loaded()
            self._auth_methods.update_policy(changes, graph_time())

    def update_authentication_method(self, method_id: str, changes: Mapping[str, Any]) -> None:
        """A validated partial update of one method's configuration; 404 for an unknown id."""
        method = find_method(method_id)
        if method is None:
            raise not_found(method_id)
        with self._lock:
            self._ensure_loaded()
            self._auth_methods.update_method(method, changes, graph_time())

    def sharepoint_settings(self) -> dict[str, Any]:
        """The SharePoint settings; 400 without a SharePoint Online plan, as Graph answers."""
        with self._lock:
            self._require_sharepoint()
            return copy.deepcopy(self._sharepoint)

    def update_sharepoint_settings(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._require_sharepoint()
            self._sharepoint = sharepoint.merged_settings(self._sharepoint, changes)
            return copy.deepcopy(self._sharepoint)

    def _require_sharepoint(self) -> None:
        self._ensure_loaded()
        if not self.has_plan(*licences.SHAREPOINT_PLANS):
            raise no_spo_licence()

    @property
    def skus(self) -> tuple[str, ...]:
        """The tenant's subscriptions, by SKU part number (graph/licences.py)."""
        with self._lock:
            self._ensure_loaded()
            return self._skus

    def set_skus(self, part_numbers: tuple[str, ...]) -> None:
        checked = licences.check_skus(part_numbers)
        with self._lock:
            self._ensure_loaded()
            self._skus = checked

    def has_plan(self, *names: str) -> bool:
        """Whether any subscription holds any of these service plans."""
        return not licences.plans_of(self.skus).isdisjoint(names)

    @property
    def sign_in_licensed(self) -> bool:
        """Whether the tenant has Entra ID P1/P2, which signInActivity needs."""
        return self.has_plan(*licences.P1_PLANS)

    def set_sign_in_licensed(self, licensed: bool) -> None:
        """Give the tenant a profile with (Business Premium) or without (Business Basic) P1."""
        self.set_skus(licences.DEFAULT_SKUS if licensed else licences.NO_P1_SKUS)


def new_object_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def graph_time() -> str:
    """Now as Graph writes a DateTimeOffset it sets itself: seven fractional digits, Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
