"""Helpers for the Graph emulator tests: tenants, tokens, and a client that speaks to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from devtools.fakecloud.graph import GraphContext
from devtools.fakecloud.tokens import SigningKey, standard_claims

AUDIENCE = "https://graph.fakecloud.test"
TENANT_A = "aaaaaaaa-1111-4111-8111-111111111111"
TENANT_B = "bbbbbbbb-2222-4222-8222-222222222222"
TENANT_BIG = "cccccccc-3333-4333-8333-333333333333"
DOMAIN_A = "taaaaaaaa.onmicrosoft.com"
AS_OF = "2026-11-01T00:00:00Z"

READ_ROLES = (
    "User.Read.All",
    "AuditLog.Read.All",
    "Group.Read.All",
    "Policy.Read.All",
    "LicenseAssignment.Read.All",
)
WRITE_ROLES = (
    "User.ReadWrite.All",
    "AuditLog.Read.All",
    "Group.ReadWrite.All",
    "Policy.ReadWrite.Authorization",
    "LicenseAssignment.Read.All",
)

SPEC_A: dict[str, Any] = {
    "as_of": AS_OF,
    "users": [
        {
            "userPrincipalName": "adele",
            "displayName": "Adele Vance",
            "createdDateTime": "2024-01-10T08:00:00Z",
            "lastSignInDateTime": "2026-10-30T09:00:00Z",
        },
        {
            "userPrincipalName": "alex",
            "displayName": "Alex Wilber",
            "accountEnabled": False,
            "createdDateTime": "2025-06-01T00:00:00Z",
            "lastSignInDateTime": "2026-01-15T00:00:00Z",
        },
        {
            "userPrincipalName": "grady_fabrikam.com#EXT#",
            "displayName": "Grady Archie",
            "userType": "Guest",
            "mail": "grady@fabrikam.com",
            "createdDateTime": "2023-03-01T00:00:00Z",
            "lastSignInDateTime": "2025-01-01T00:00:00Z",
        },
        {
            "userPrincipalName": "megan_fabrikam.com#EXT#",
            "displayName": "Megan Bowen",
            "userType": "Guest",
            "mail": "megan@fabrikam.com",
            "createdDateTime": "2026-10-01T00:00:00Z",
            "lastSignInDateTime": None,
        },
    ],
    "groups": [
        {
            "displayName": "Sales",
            "mailNickname": "sales",
            "description": "Sales team",
            "securityEnabled": True,
            "members": ["adele", "alex"],
        }
    ],
}
SPEC_B: dict[str, Any] = {
    "domain": "fabrikam.test",
    "users": [{"userPrincipalName": "bob@fabrikam.test", "lastSignInDateTime": AS_OF}],
    "sign_in_activity_licensed": False,
}
SPEC_BIG: dict[str, Any] = {
    "as_of": AS_OF,
    "generate": {
        "members": 500,
        "guests": 2000,
        "stale_guests": 300,
        "never_signed_in_guests": 100,
        "seed": 7,
    },
}


@dataclass
class Answer:
    """What a client sees: status, parsed JSON body (None if empty), headers."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def code(self) -> str:
        return str(self.body["error"]["code"])

    @property
    def message(self) -> str:
        return str(self.body["error"]["message"])


class GraphClient:
    """Calls the emulator with freshly minted tokens, as an app in some tenant would."""

    def __init__(self, client: TestClient[Any, Any], key: SigningKey, ctx: GraphContext) -> None:
        self.client = client
        self.key = key
        self.ctx = ctx

    def token(
        self,
        *,
        tenant: str = TENANT_A,
        roles: Sequence[str] = WRITE_ROLES,
        audience: str = AUDIENCE,
        lifetime_s: int = 600,
        key: SigningKey | None = None,
    ) -> str:
        claims = standard_claims(
            issuer=f"https://login.microsoftonline.com/{tenant}/v2.0",
            subject="app-object-id",
            audience=audience,
            lifetime_s=lifetime_s,
        )
        extra = {"tid": tenant, "roles": list(roles), "appid": "app-id", "oid": "app-oid"}
        return (key or self.key).sign(claims | extra)

    async def call(
        self,
        method: str,
        path: str | URL,
        *,
        json: Any = None,
        tenant: str = TENANT_A,
        roles: Sequence[str] = WRITE_ROLES,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        bearer = self.token(tenant=tenant, roles=roles) if token is None else token
        all_headers = {"Authorization": f"Bearer {bearer}", **(headers or {})}
        async with self.client.request(method, path, json=json, headers=all_headers) as resp:
            text = await resp.text()
            body = await resp.json(content_type=None) if text else None
            return Answer(resp.status, body, dict(resp.headers))

    async def get(self, path: str | URL, **kwargs: Any) -> Answer:
        return await self.call("GET", path, **kwargs)

    async def pages(self, path: str, **kwargs: Any) -> list[Answer]:
        """Every page of a collection, following @odata.nextLink (which must be on AUDIENCE)."""
        answers = [await self.get(path, **kwargs)]
        while "@odata.nextLink" in answers[-1].body:
            link = answers[-1].body["@odata.nextLink"]
            assert link.startswith(AUDIENCE + "/v1.0/")
            answers.append(await self.get(URL(link[len(AUDIENCE) :], encoded=True), **kwargs))
        return answers
