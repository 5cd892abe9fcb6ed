"""The naive baseline: what the usual samples lead to, one tenant after another.

Per tenant, as the Entra sample for "managed identity as a federated credential" and the
msgraph-sdk README put it together: a new ManagedIdentityCredential and ClientAssertionCredential,
a new GraphServiceClient with its default middleware (kiota's RetryHandler on), typed models
(`await client.users.get(...)` and the PageIterator), and one typed PATCH per stale guest.
`disable_instance_discovery=True` only keeps MSAL from asking login.microsoftonline.com about
the fake's authority (nothing may leave 127.0.0.1); on Azure the sample does not need it.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from devtools.bench.probe import PhaseResult, Probe

_SELECT = ["id", "userPrincipalName", "mail", "accountEnabled", "createdDateTime", "signInActivity"]
_EXCHANGE_SCOPE = "api://AzureADTokenExchange/.default"
STALE_DAYS = 90


def _credential(tenant_id: str) -> Any:
    from azure.identity import ClientAssertionCredential, ManagedIdentityCredential

    managed_identity = ManagedIdentityCredential(client_id=os.environ["AZURE_CLIENT_ID"])
    return ClientAssertionCredential(
        tenant_id,
        os.environ["APP_CLIENT_ID"],
        lambda: managed_identity.get_token(_EXCHANGE_SCOPE).token,
        authority=os.environ["AZURE_AUTHORITY_HOST"],
        disable_instance_discovery=True,
    )


def _client(credential: Any) -> Any:
    from msgraph.graph_service_client import GraphServiceClient

    graph = os.environ["GRAPH_ENDPOINT"]
    client = GraphServiceClient(credentials=credential, scopes=[f"{graph}/.default"])
    client.request_adapter.base_url = f"{graph}/v1.0"
    return client


def _stale(user: Any, cutoff: datetime) -> bool:
    activity = user.sign_in_activity
    seen = activity.last_sign_in_date_time if activity else None
    return bool(user.account_enabled) and (seen or user.created_date_time) < cutoff


async def _guests(client: Any) -> list[Any]:
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder
    from msgraph_core.tasks.page_iterator import PageIterator

    query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter="userType eq 'Guest'", select=_SELECT, top=999
    )
    page = await client.users.get(RequestConfiguration(query_parameters=query))
    users: list[Any] = []

    def keep(user: Any) -> bool:
        users.append(user)
        return True

    await PageIterator(page, client.request_adapter).iterate(keep)
    return users


async def _disable(client: Any, users: Sequence[Any]) -> None:
    from msgraph.generated.models.user import User

    for user in users:
        await client.users.by_user_id(user.id).patch(User(account_enabled=False))


async def naive_tenant(tenant_id: str, cutoff: datetime) -> tuple[int, float]:
    """One tenant the naive way; returns (users read, CPU seconds spent reading them)."""
    credential = _credential(tenant_id)
    client = _client(credential)
    # the token first (as kiota asks for it: with CAE), so that reading is timed on its own
    credential.get_token(f"{os.environ['GRAPH_ENDPOINT']}/.default", enable_cae=True)
    started = time.process_time()
    users = await _guests(client)
    read_cpu = time.process_time() - started
    await _disable(client, [u for u in users if _stale(u, cutoff)])
    credential.close()
    return len(users), read_cpu


async def run_naive(
    tenants: Sequence[str], *, warmup: str, workdir: Path, mark: Callable[[str], None]
) -> PhaseResult:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # msgraph's own, at import
    cutoff = datetime.now(UTC) - timedelta(days=STALE_DAYS)
    await naive_tenant(warmup, cutoff)  # the one-time model imports, as for xtenant
    mark("warm")
    users = 0
    read_cpu = 0.0
    with Probe() as probe:
        for tenant_id in tenants:
            read, cpu = await naive_tenant(tenant_id, cutoff)
            users += read
            read_cpu += cpu
    mark("end")
    sample = {"tenants": len(tenants), "users": users, "cpu_s": read_cpu}
    return probe.result(tenants=len(tenants), users_read=users, extra={"read": sample})
