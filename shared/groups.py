"""Tenant groups, and the enrolments a tenant ends up with.

A group is static (`tenants`: a named list of tenant ids) or dynamic (`rule`: clauses over the
tenant's tags, the service plans its last licence read found, and the app's cloud; every clause
must hold). Either may carry enrolments. The reserved group `all` holds every registered tenant
and may carry default enrolments.

Job by job, the more specific enrolment wins: the tenant's own; else that of the first group, by
name, that holds the tenant and enrols the job (two groups that disagree never make a mix: the
earlier name wins whole); else `all`'s. Groups live in the tenants table, partition `group`, one
entity per group; who is in a dynamic group is worked out when asked, never stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.results import Mode
from shared.tenants import ConcurrentChange, Enrolment, Tenant

if TYPE_CHECKING:
    from azure.data.tables import TableEntity
    from azure.data.tables.aio import TableClient

#: The reserved group: every registered tenant.
ALL = "all"
#: Where an effective enrolment came from: the tenant itself, a group (`group:<name>`), or `all`.
TENANT_SOURCE = "tenant"
NAME = re.compile(r"[a-z0-9-]{1,64}")
#: Tenants a static group may list (as comma-separated chunks: one property holds 32K chars).
MAX_STATIC = 5_000
_CHUNK = 800
_PARTITION = "group"

#: job -> (the enrolment, where it came from)
Effective = dict[str, tuple[Enrolment, str]]


@dataclass(frozen=True)
class Rule:
    """A dynamic group's rule: every clause given must hold (an absent clause holds)."""

    tags_all: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    plans_any: tuple[str, ...] = ()
    cloud: str | None = None

    def holds(self, tenant: Tenant, cloud: str) -> bool:
        tags = set(tenant.tags)
        plans = set(tenant.plans.service_plans) if tenant.plans else set()
        return (
            tags.issuperset(self.tags_all)
            and (not self.tags_any or not tags.isdisjoint(self.tags_any))
            and (not self.plans_any or not plans.isdisjoint(self.plans_any))
            and (self.cloud is None or self.cloud == cloud)
        )

    def as_record(self) -> dict[str, Any]:
        clauses = {
            "tags_all": list(self.tags_all),
            "tags_any": list(self.tags_any),
            "plans_any": list(self.plans_any),
            "cloud": self.cloud,
        }
        return {k: v for k, v in clauses.items() if v}


@dataclass
class Group:
    name: str
    description: str = ""
    #: a static group's tenant ids (None: not static)
    tenants: frozenset[str] | None = None
    #: a dynamic group's rule (None: not dynamic)
    rule: Rule | None = None
    enrolments: dict[str, Enrolment] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.name == ALL:
            return ALL
        return "static" if self.tenants is not None else "dynamic"

    def holds(self, tenant: Tenant, cloud: str) -> bool:
        if self.tenants is not None:
            return tenant.tenant_id in self.tenants
        return self.name == ALL or (self.rule is not None and self.rule.holds(tenant, cloud))

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "kind": self.kind}
        record["description"] = self.description
        if self.tenants is not None:
            record["tenants"] = sorted(self.tenants)
        if self.rule is not None:
            record["rule"] = self.rule.as_record()
        record["enrolments"] = enrolment_records(self.enrolments)
        return record


def enrolment_records(enrolments: dict[str, Enrolment]) -> dict[str, dict[str, Any]]:
    return {job: {"mode": e.mode.value, "params": e.params} for job, e in enrolments.items()}


def effective_enrolments(tenant: Tenant, groups: Sequence[Group], cloud: str) -> Effective:
    """Each job's enrolment for `tenant`, and its source: tenant > group (by name) > `all`."""
    chosen: Effective = {job: (e, TENANT_SOURCE) for job, e in tenant.enrolments.items()}
    named = sorted((g for g in groups if g.name != ALL), key=lambda g: g.name)
    for group in named:
        if group.holds(tenant, cloud):
            for job, enrolment in group.enrolments.items():
                chosen.setdefault(job, (enrolment, f"group:{group.name}"))
    for group in groups:
        if group.name == ALL:
            for job, enrolment in group.enrolments.items():
                chosen.setdefault(job, (enrolment, ALL))
    return dict(sorted(chosen.items()))


def gains_apply(before: Effective, after: Effective) -> bool:
    """Whether `after` applies a job that `before` did not apply, or with other params."""
    return any(
        enrolment.mode is Mode.APPLY and (job not in before or before[job][0] != enrolment)
        for job, (enrolment, _) in after.items()
    )


@dataclass(frozen=True)
class Targeting:
    """The groups as they stand, and the app's cloud: what membership is decided against."""

    groups: Sequence[Group]
    cloud: str

    def effective(self, tenant: Tenant) -> Effective:
        return effective_enrolments(tenant, self.groups, self.cloud)

    def groups_of(self, tenant: Tenant) -> list[str]:
        """The named groups that hold `tenant` (every tenant is in `all`: not listed)."""
        return [g.name for g in self.groups if g.name != ALL and g.holds(tenant, self.cloud)]

    def members(self, group: Group, tenants: Iterable[Tenant]) -> list[Tenant]:
        return sorted((t for t in tenants if group.holds(t, self.cloud)), key=_tenant_id)

    def run_members(
        self, target: dict[str, Any], tenants: Iterable[Tenant]
    ) -> tuple[list[Tenant], list[str]]:
        """The enabled tenants of the group a run names (`{"group": name}`), or the problems."""
        name = target.get("group")
        if set(target) != {"group"} or not isinstance(name, str):
            return [], ['a group as tenants is {"group": "<name>"} and nothing else']
        group = self.get(name)
        if group is None:
            return [], [f"group {name[:70]!r} does not exist (GET /api/groups lists them)"]
        members = [t for t in self.members(group, tenants) if t.enabled]
        return members, [] if members else [f"group {name} has no enabled tenant"]

    def get(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def with_group(self, name: str, group: Group | None) -> Targeting:
        """These groups with `name` replaced by `group` (None: removed)."""
        kept = [g for g in self.groups if g.name != name]
        return Targeting(kept + ([group] if group is not None else []), self.cloud)


def _tenant_id(tenant: Tenant) -> str:
    return tenant.tenant_id


def to_entity(group: Group) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": _PARTITION,
        "RowKey": group.name,
        "description": group.description,
        "rule": json.dumps(group.rule.as_record()) if group.rule is not None else "",
        "enrolments": json.dumps(enrolment_records(group.enrolments)),
    }
    if group.tenants is not None:
        ids = sorted(group.tenants)
        chunks = [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
        entity["tenant_chunks"] = len(chunks)
        entity.update({f"tenants_{n}": ",".join(chunk) for n, chunk in enumerate(chunks)})
    return entity


def from_entity(entity: dict[str, Any]) -> Group:
    rule = json.loads(entity.get("rule") or "null")
    enrolments = {
        job: Enrolment(Mode(e["mode"]), e.get("params") or {})
        for job, e in json.loads(entity.get("enrolments") or "{}").items()
    }
    return Group(
        str(entity["RowKey"]),
        str(entity.get("description") or ""),
        _stored_tenants(entity),
        _rule_from(rule) if rule is not None else None,
        enrolments,
    )


def _stored_tenants(entity: dict[str, Any]) -> frozenset[str] | None:
    if "tenant_chunks" not in entity:
        return None
    chunks = (str(entity.get(f"tenants_{n}") or "") for n in range(int(entity["tenant_chunks"])))
    return frozenset(t for chunk in chunks for t in chunk.split(",") if t)


def _rule_from(raw: dict[str, Any]) -> Rule:
    return Rule(
        tuple(raw.get("tags_all") or ()),
        tuple(raw.get("tags_any") or ()),
        tuple(raw.get("plans_any") or ()),
        raw.get("cloud"),
    )


class GroupStore:
    """Groups in the tenants table; a replacement is conditional on the group as read."""

    def __init__(self, table: TableClient, *, cloud: str) -> None:
        self.table = table
        self.cloud = cloud

    async def list(self) -> list[Group]:
        """Every group by name, `all` among them (with no enrolments until one is put)."""
        query = self.table.query_entities("PartitionKey eq @p", parameters={"p": _PARTITION})
        groups = {g.name: g for g in [from_entity(dict(e)) async for e in query]}
        groups.setdefault(ALL, Group(ALL))
        return [groups[name] for name in sorted(groups)]

    async def targeting(self) -> Targeting:
        return Targeting(await self.list(), self.cloud)

    async def replace(
        self, name: str, change: Callable[[Group | None], Group]
    ) -> tuple[Group, bool]:
        """Put `change(current)` in place of the group as read; (the group, whether created)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        for _ in range(5):  # re-read and re-apply on a lost race
            entity = await self._entity(name)
            updated = change(from_entity(dict(entity)) if entity is not None else None)
            try:
                if entity is None:
                    await self.table.create_entity(to_entity(updated))
                else:
                    await self.table.update_entity(
                        to_entity(updated),
                        mode=UpdateMode.REPLACE,  # a smaller static group drops its extra chunks
                        etag=entity.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                return updated, entity is None
            except (ResourceModifiedError, ResourceExistsError):
                continue
        raise ConcurrentChange(f"group {name} kept changing; send the request again")

    async def delete(self, name: str) -> bool:
        """Remove the group; False when there was none."""
        if await self._entity(name) is None:
            return False
        await self.table.delete_entity(_PARTITION, name)
        return True

    async def _entity(self, name: str) -> TableEntity | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return await self.table.get_entity(_PARTITION, name)
        except ResourceNotFoundError:
            return None
