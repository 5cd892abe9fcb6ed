"""GraphSession over real msgraph-sdk and HTTPS to the fake Graph: retries, errors, paging.

Retry-After is measured with time.monotonic() around the call: the fake counts any request that
arrives before a Retry-After it sent has elapsed as `graph.early_retries`, and the elapsed time
must be at least what it asked for.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from devtools.fakecloud import FakeCloud, Fault
from shared.errors import GraphNotFound, GraphRequestError, PermissionMissing, XtenantError
from shared.graph import MAX_PAGE, BatchItem, GraphPool, GraphSession
from shared.jobs.guest_cleanup import Guest
from tests.integration.graph_support import add_tenant, contoso, graph_requests, user

pytestmark = pytest.mark.integration

POLICY = "/policies/authorizationPolicy"


@dataclass(frozen=True)
class Person:
    """A caller's own record for a user: what `collect` turns each item into."""

    id: str
    upn: str

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> Person:
        return cls(id=str(item["id"]), upn=str(item["userPrincipalName"]))


def session_for(pool: GraphPool, tenant_id: str, *permissions: str) -> GraphSession:
    return pool.session(tenant_id, permissions=permissions)


# --- Retry-After --------------------------------------------------------------------------------


def http_date_in(seconds: float) -> tuple[str, float]:
    """An HTTP date about `seconds` ahead, and how long from now it really is (dates have
    whole seconds, so the wait is shorter than asked by up to one second)."""
    now = datetime.now(UTC)
    when = (now + timedelta(seconds=seconds)).replace(microsecond=0)
    return format_datetime(when, usegmt=True), (when - now).total_seconds()


RETRY_AFTERS: dict[str, Callable[[], tuple[str, float]]] = {
    "integer": lambda: ("1", 1.0),
    "fractional": lambda: ("0.5", 0.5),
    "http-date": lambda: http_date_in(2),
}


@pytest.mark.parametrize("form", RETRY_AFTERS)
async def test_throttled_request_waits_for_retry_after_then_succeeds(
    cloud: FakeCloud, graph_pool: GraphPool, form: str
) -> None:
    # given one 429 for the tenant's policy read, with Retry-After in this form
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    started = time.monotonic()
    retry_after, wait_s = RETRY_AFTERS[form]()
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after=retry_after,
            count=1,
            tenant_id=tenant,
            path_contains=POLICY,
        )
    )

    # when the session reads it
    policy = await session.get(session.request("GET", POLICY))
    elapsed = time.monotonic() - started

    # then it waited at least that long, retried once, and got the policy
    assert policy["id"] == "authorizationPolicy"
    assert elapsed >= wait_s
    assert [r.status for r in graph_requests(cloud, tenant)] == [429, 200]
    assert cloud.counters().get("graph.early_retries", 0) == 0


async def test_retry_after_longer_than_the_cap_fails_now_instead_of_retrying_early(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after="3600",
            count=1,
            tenant_id=tenant,
            path_contains=POLICY,
        )
    )

    with pytest.raises(XtenantError) as caught:
        await session.get(session.request("GET", POLICY))

    assert caught.value.error_class == "transient"
    assert caught.value.retryable
    assert len(graph_requests(cloud, tenant)) == 1


# --- no retry where retrying cannot help --------------------------------------------------------


async def test_unsupported_filter_is_a_400_sent_once(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    # `ne` needs ConsistencyLevel: eventual and $count=true: Graph answers 400 without them.
    info = session.list_users(filter="userType ne 'Guest'")

    with pytest.raises(GraphRequestError) as caught:
        await session.get(info)

    assert caught.value.status == 400
    assert caught.value.code == "Request_UnsupportedQuery"
    assert not caught.value.retryable
    assert len(graph_requests(cloud, tenant)) == 1


async def test_missing_permission_is_a_403_sent_once_naming_the_declared_permissions(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso(), roles=["User.Read.All"])
    session = session_for(graph_pool, tenant, "User.ReadWrite.All")
    adele = user(cloud, tenant, "adele")
    update = session.request("PATCH", f"/users/{adele.id}", {"accountEnabled": False})

    with pytest.raises(PermissionMissing) as caught:
        await session.send(update, idempotent=True)

    assert "User.ReadWrite.All" in caught.value.message
    assert "User.ReadWrite.All" in caught.value.remediation
    assert len(graph_requests(cloud, tenant)) == 1
    assert user(cloud, tenant, "adele").account_enabled


async def test_unknown_user_is_a_404_sent_once(cloud: FakeCloud, graph_pool: GraphPool) -> None:
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)

    with pytest.raises(GraphNotFound) as caught:
        await session.get(session.request("GET", f"/users/{uuid.uuid4()}"))

    assert caught.value.status == 404
    assert len(graph_requests(cloud, tenant)) == 1


async def test_injected_400_on_a_batch_is_sent_once(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    cloud.add_fault(
        Fault(
            service="graph",
            kind="graph_error",
            status=400,
            code="BadRequest",
            tenant_id=tenant,
            path_contains="/$batch",
        )
    )
    info = session.request("POST", "/$batch", {"requests": []})

    with pytest.raises(GraphRequestError) as caught:
        await session.send(info, idempotent=True)

    assert caught.value.status == 400
    assert len(graph_requests(cloud, tenant)) == 1


async def test_server_error_is_retried_until_it_clears(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=503,
            count=2,
            tenant_id=tenant,
            path_contains=POLICY,
        )
    )

    policy = await session.get(session.request("GET", POLICY))

    assert policy["id"] == "authorizationPolicy"
    assert [r.status for r in graph_requests(cloud, tenant)] == [503, 503, 200]


# --- $batch -------------------------------------------------------------------------------------


async def test_batch_resends_only_the_throttled_sub_requests(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given three reads in one $batch, one of them throttled once
    tenant = add_tenant(cloud, contoso())
    session = session_for(graph_pool, tenant)
    names = ("adele", "bianca", "carol")
    throttled = user(cloud, tenant, "bianca")
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after="1",
            count=1,
            tenant_id=tenant,
            path_contains=throttled.id,
        )
    )
    items = [
        BatchItem(name, "GET", f"/users/{user(cloud, tenant, name).id}?$select=id")
        for name in names
    ]

    # when the session runs the batch
    results = await session.batch(items)

    # then every item answers 200, and only the throttled one went twice
    assert [(r.id, r.status) for r in results] == [(n, 200) for n in names]
    assert results[1].body is not None
    assert results[1].body["id"] == throttled.id
    counters = cloud.counters()
    assert counters["graph.batch_subrequests"] == len(names) + 1
    assert counters.get("graph.early_retries", 0) == 0


async def test_a_sub_request_throttled_past_the_cap_is_reported_and_holds_the_tenant(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # given one read in a $batch, throttled for an hour
    tenant = add_tenant(cloud, contoso())
    adele = user(cloud, tenant, "adele")
    cloud.add_fault(
        Fault(
            service="graph",
            kind="status",
            status=429,
            retry_after="3600",
            count=1,
            tenant_id=tenant,
            path_contains=adele.id,
        )
    )

    # when one job runs the batch, and then another job reads in the same tenant
    [result] = await session_for(graph_pool, tenant).batch(
        [BatchItem("adele", "GET", f"/users/{adele.id}")]
    )
    with pytest.raises(XtenantError) as caught:
        await session_for(graph_pool, tenant).get_path(POLICY)

    # then the item is reported as throttled without an early retry, and the other read is
    # refused here instead of being sent while Graph throttles the tenant
    assert (result.status, result.error and result.error.error_class) == (429, "transient")
    assert caught.value.error_class == "transient"
    assert len(graph_requests(cloud, tenant)) == 1
    assert cloud.counters().get("graph.early_retries", 0) == 0


# --- paging -------------------------------------------------------------------------------------


async def test_collect_reads_2500_users_into_our_own_records_in_three_pages(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    tenant = add_tenant(cloud, {"generate": {"members": 2500, "seed": 7}})
    session = session_for(graph_pool, tenant)
    info = session.list_users(select=("id", "userPrincipalName"), top=MAX_PAGE)

    people = await session.collect(info, Person.from_graph)

    assert len(people) == 2500
    assert len({p.id for p in people}) == 2500
    assert all(type(p) is Person for p in people)
    assert len(graph_requests(cloud, tenant)) == math.ceil(2500 / MAX_PAGE) == 3


async def test_guests_with_sign_in_activity_come_in_pages_of_120(
    cloud: FakeCloud, graph_pool: GraphPool
) -> None:
    # Graph serves at most 120 users a page when signInActivity is selected, whatever $top
    # says ("List users", example 11); without it, these 2,500 would take 3 pages of 999.
    tenant = add_tenant(cloud, {"generate": {"guests": 2500, "stale_guests": 100, "seed": 7}})
    session = session_for(graph_pool, tenant)
    info = session.list_users(
        filter="userType eq 'Guest'",
        select=("id", "userPrincipalName", "mail", "createdDateTime", "signInActivity"),
        top=MAX_PAGE,
    )

    guests = await session.collect(info, Guest.from_graph)

    assert len(guests) == 2500
    assert all(type(g) is Guest for g in guests)
    assert sum(g.last_sign_in is not None for g in guests) == 2500
    assert len(graph_requests(cloud, tenant)) == math.ceil(2500 / 120) == 21
