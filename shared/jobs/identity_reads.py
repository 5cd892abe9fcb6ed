"""Reads the identity standards share: Conditional Access policies, security defaults, and the
tenant's emergency (break-glass) accounts resolved to object ids.

https://learn.microsoft.com/graph/api/conditionalaccessroot-list-policies,
identitysecuritydefaultsenforcementpolicy-get, user-get.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shared.errors import GraphNotFound
from shared.graph import GraphSession

CA_POLICIES = "/identity/conditionalAccess/policies"
SECURITY_DEFAULTS = "/policies/identitySecurityDefaultsEnforcementPolicy"


async def ca_policies(session: GraphSession) -> list[dict[str, Any]]:
    """Every Conditional Access policy of the tenant, as Graph returns them."""
    return await session.collect(session.request("GET", CA_POLICIES), dict)


async def security_defaults_on(session: GraphSession) -> bool:
    policy = await session.get_path(SECURITY_DEFAULTS)
    return policy.get("isEnabled") is True


@dataclass(frozen=True)
class EmergencyAccounts:
    """The accounts asked for, their object ids, and those not found in the tenant."""

    asked: tuple[str, ...]
    ids: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        """At least one was named and every one was found: a policy can exclude them all."""
        return bool(self.asked) and not self.missing


async def emergency_accounts(session: GraphSession, accounts: Iterable[str]) -> EmergencyAccounts:
    """Each account (a UPN or an object id) as its object id, by `GET /users/{id | upn}`."""
    asked = tuple(dict.fromkeys(accounts))
    ids: list[str] = []
    missing: list[str] = []
    for account in asked:
        path = f"/users/{quote(account, safe='@')}?$select=id"
        try:
            user = await session.get_path(path)
        except GraphNotFound:
            missing.append(account)
            continue
        ids.append(str(user["id"]).lower())
    return EmergencyAccounts(asked, tuple(dict.fromkeys(ids)), tuple(missing))
