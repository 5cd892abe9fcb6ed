"""Tenants for the Graph tests, and ways to read back what the fake Graph holds and was sent."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from devtools.fakecloud import FakeCloud
from devtools.fakecloud.graph import Group, User
from devtools.fakecloud.requestlog import RequestRecord
from devtools.fakecloud.scenario import DEMO_ROLES

#: What the demo's healthy tenants consented to: every permission the jobs declare.
ALL_ROLES = DEMO_ROLES
DOMAIN = "contoso.onmicrosoft.com"
NICKNAME = "xtenant-helpdesk"

#: The guests of `contoso()`: which are stale after 90 days, and which are not.
STALE_GUESTS = ("old_fabrikam.com#EXT#", "older_fabrikam.com#EXT#", "never_fabrikam.com#EXT#")
KEPT_GUESTS = ("recent_fabrikam.com#EXT#", "new_fabrikam.com#EXT#", "off_fabrikam.com#EXT#")


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def upn(name: str) -> str:
    return f"{name}@{DOMAIN}"


def guest(
    name: str, *, signed_in: int | None, created: int = 365, enabled: bool = True
) -> dict[str, Any]:
    """A guest whose last sign-in was `signed_in` days ago (None: never)."""
    return {
        "userPrincipalName": name,
        "userType": "Guest",
        "mail": name.split("_", 1)[0] + "@fabrikam.com",
        "accountEnabled": enabled,
        "createdDateTime": days_ago(created),
        "lastSignInDateTime": None if signed_in is None else days_ago(signed_in),
    }


def contoso(**extra: Any) -> dict[str, Any]:
    """A tenant like the demo's Contoso: three members and six guests, three of them stale."""
    members = [
        {"userPrincipalName": name, "lastSignInDateTime": days_ago(1)}
        for name in ("adele", "bianca", "carol")
    ]
    guests = [
        guest(STALE_GUESTS[0], signed_in=200),
        guest(STALE_GUESTS[1], signed_in=400),
        guest(STALE_GUESTS[2], signed_in=None, created=300),
        guest(KEPT_GUESTS[0], signed_in=5),
        guest(KEPT_GUESTS[1], signed_in=None, created=10),
        guest(KEPT_GUESTS[2], signed_in=300, enabled=False),
    ]
    return {"domain": DOMAIN, "users": members + guests, **extra}


def helpdesk_params(*members: str) -> dict[str, Any]:
    """ensure-group's params for the demo's helpdesk group with `members` (names in DOMAIN)."""
    return {
        "mail_nickname": NICKNAME,
        "display_name": "Helpdesk (managed by xtenant)",
        "description": "Members are set by xtenant; changes here are undone.",
        "members": [upn(name) for name in members],
    }


def add_tenant(
    cloud: FakeCloud, graph: Mapping[str, Any], *, roles: Sequence[str] = ALL_ROLES
) -> str:
    """A new consented tenant with `graph` as its directory; returns its id."""
    tenant_id = str(uuid.uuid4())
    cloud.set_tenant(tenant_id, state="consented", roles=list(roles), graph=dict(graph))
    return tenant_id


def graph_requests(cloud: FakeCloud, tenant_id: str) -> list[RequestRecord]:
    return cloud.requests(service="graph", tenant_id=tenant_id)


def writes(cloud: FakeCloud, tenant_id: str) -> list[RequestRecord]:
    """Requests that can change the tenant ($batch included): anything but GET."""
    return [r for r in graph_requests(cloud, tenant_id) if r.method != "GET"]


def user(cloud: FakeCloud, tenant_id: str, name: str) -> User:
    found = cloud.directory(tenant_id).find_user(upn(name))
    assert found is not None, f"{name} is not in the tenant"
    return found


def enabled_guests(cloud: FakeCloud, tenant_id: str) -> set[str]:
    return {
        u.user_principal_name.split("@")[0]
        for u in cloud.directory(tenant_id).users()
        if u.user_type == "Guest" and u.account_enabled
    }


def groups_named(cloud: FakeCloud, tenant_id: str, nickname: str = NICKNAME) -> list[Group]:
    return [g for g in cloud.directory(tenant_id).groups() if g.mail_nickname == nickname]


def member_upns(cloud: FakeCloud, tenant_id: str, group: Group) -> set[str]:
    directory = cloud.directory(tenant_id)
    return {m.user_principal_name for m in directory.members(group.id) if isinstance(m, User)}


def everything(cloud: FakeCloud, tenant_id: str) -> tuple[Any, ...]:
    """The tenant's whole directory as comparable values (objects are frozen)."""
    directory = cloud.directory(tenant_id)
    return (directory.users(), directory.groups(), directory.authorization_policy())
