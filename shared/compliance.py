"""The compliance store (Azure Table storage): each standard's settings in each tenant — the
current state and the history of its transitions — and the deviations admins accepted.

Partition = tenant id. Row keys:
  `<standard>|s|<setting>`   current state: desired, observed, state, since, last evaluated
  `<standard>|a|<setting>`   an accepted deviation: value, reason, who, expiry
  `<standard>|summary`       counts per state and when the standard was last evaluated
  `~h|<newest first>|<standard>|<setting>`  one transition
One query reads a (tenant, standard)'s states and acceptances; one transaction writes an
evaluation: a setting's row only when its state or value changed, its transitions, and the
summary (always: it holds the last evaluation time the API shows).
docs/decisions.md#compliance-store
"""

from __future__ import annotations

import contextlib
import enum
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.stored import from_text, to_text

if TYPE_CHECKING:
    from azure.data.tables.aio import TableClient

log = logging.getLogger(__name__)

TABLE = "xtenantcompliance"
HISTORY = "~h|"
#: The drift feed: every tenant's transitions again, in one partition per month
#: (`~drift|2026-12`), row keys newest first; `GET /api/drift` reads it a page at a time.
FEED = "~drift|"
FEED_ROW = "~z|"
#: How far back the drift feed is read (older transitions stay in each tenant's history).
FEED_DAYS = 366
_BATCH = 100
_EPOCH_END = 10**13


class State(enum.StrEnum):
    COMPLIANT = "compliant"
    DRIFTED = "drifted"
    ACCEPTED = "accepted"
    NOT_APPLICABLE = "not_applicable"


class Transition(enum.StrEnum):
    BECAME_NON_COMPLIANT = "became_non_compliant"
    FIXED_BY_XTENANT = "fixed_by_xtenant"
    FIXED_BY_SOMEONE_ELSE = "fixed_by_someone_else"
    ACCEPTED = "accepted"
    ACCEPTANCE_EXPIRED = "acceptance_expired"
    #: the tenant lost a prerequisite of the standard (a licence): no longer evaluated
    BECAME_NOT_APPLICABLE = "became_not_applicable"


@dataclass(frozen=True)
class Acceptance:
    value: Any
    reason: str
    accepted_by: str
    expires: datetime

    def active(self, now: datetime) -> bool:
        return now < self.expires


@dataclass
class Standing:
    """What the store knows of one (tenant, standard) before an evaluation."""

    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    acceptances: dict[str, Acceptance] = field(default_factory=dict)

    def refs(self) -> dict[str, str]:
        """setting -> the id of the object it lived in at the last evaluation (Job.plan)."""
        return {k: str(s["ref"]) for k, s in self.states.items() if s.get("ref")}

    def accepted(self, now: datetime) -> dict[str, Any]:
        """setting -> accepted value, for acceptances not yet expired."""
        return {k: a.value for k, a in self.acceptances.items() if a.active(now)}

    def expired(self, now: datetime) -> set[str]:
        return {k for k, a in self.acceptances.items() if not a.active(now)}


def transition(
    previous: str | None, finding: Mapping[str, Any], expired: bool
) -> Transition | None:
    """The transition one setting made, from its stored state to this evaluation's finding."""
    now = finding["state"]
    if now == State.NOT_APPLICABLE:
        return None if previous == now else Transition.BECAME_NOT_APPLICABLE
    if finding.get("fixed_by") == "xtenant":
        return Transition.FIXED_BY_XTENANT
    if previous == now:
        return None
    if now == State.DRIFTED:
        was_accepted = previous == State.ACCEPTED and expired
        return Transition.ACCEPTANCE_EXPIRED if was_accepted else Transition.BECAME_NON_COMPLIANT
    if now == State.ACCEPTED:
        return Transition.ACCEPTED
    if previous == State.DRIFTED:
        return Transition.FIXED_BY_SOMEONE_ELSE
    return Transition.ACCEPTANCE_EXPIRED if previous == State.ACCEPTED else None


def since_last_run(
    states: Mapping[str, Mapping[str, Any]], findings: list[dict[str, Any]]
) -> dict[str, list[str]]:
    """Settings newly drifted, fixed, and still drifted since the standard's last evaluation."""
    summary: dict[str, list[str]] = {"newly_drifted": [], "fixed": [], "still_drifted": []}
    for finding in findings:
        was = states.get(finding["setting"], {}).get("state")
        key = _drift_key(was, finding)
        if key:
            summary[key].append(finding["setting"])
    return summary


def _drift_key(was: str | None, finding: Mapping[str, Any]) -> str | None:
    drifted_now = finding["state"] == State.DRIFTED
    if drifted_now:
        return "still_drifted" if was == State.DRIFTED else "newly_drifted"
    if was == State.DRIFTED or finding.get("fixed_by") == "xtenant":
        return "fixed"
    return None


def _newest_first(moment: datetime) -> str:
    return f"{_EPOCH_END - int(moment.timestamp() * 1000):013d}"


class ComplianceStore:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    async def ensure_table(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.table.create_table()

    async def read(self, tenant_id: str, standard: str) -> Standing:
        """The (tenant, standard)'s stored states and acceptances, in one query."""
        query = "PartitionKey eq @p and RowKey ge @lo and RowKey lt @hi"
        bounds = {"p": tenant_id, "lo": f"{standard}|", "hi": f"{standard}}}"}
        standing = Standing()
        async for entity in self.table.query_entities(query, parameters=bounds):
            _, kind, *rest = str(entity["RowKey"]).split("|", 2)
            if kind == "s" and rest:
                standing.states[rest[0]] = dict(entity)
            elif kind == "a" and rest:
                standing.acceptances[rest[0]] = _acceptance(entity)
        return standing

    async def record(
        self,
        tenant_id: str,
        standard: str,
        standing: Standing,
        findings: list[dict[str, Any]],
        now: datetime,
    ) -> int:
        """Write what this evaluation changed; returns the number of transitions."""
        expired = standing.expired(now)
        operations: list[tuple[str, dict[str, Any]]] = []
        moves = 0
        for n, finding in enumerate(findings):
            setting = finding["setting"]
            stored = standing.states.get(setting, {})
            move = transition(stored.get("state"), finding, setting in expired)
            entity = self._state(tenant_id, standard, finding, stored, now, changed=bool(move))
            if move is not None or _differs(stored, entity):
                operations.append(("upsert", entity))
            if move is not None:
                moves += 1
                history = self._history(tenant_id, standard, finding, move, n, now)
                operations.append(("upsert", history))
        operations.append(("upsert", self._summary(tenant_id, standard, findings, now)))
        await self._commit(operations, now)
        return moves

    async def not_applicable(
        self, tenant_id: str, standard: str, standing: Standing, reason: str, now: datetime
    ) -> int:
        """The standard no longer applies to the tenant: its stored settings become
        `not_applicable` (one transition each, the first time) and its summary says why."""
        findings = [
            {
                "setting": setting,
                "desired": from_text(stored.get("desired")),
                "observed": from_text(stored.get("observed")),
                "state": State.NOT_APPLICABLE.value,
            }
            for setting, stored in sorted(standing.states.items())
        ]
        moves = 0
        operations: list[tuple[str, dict[str, Any]]] = []
        for n, finding in enumerate(findings):
            stored = standing.states[finding["setting"]]
            move = transition(stored.get("state"), finding, expired=False)
            if move is None:
                continue
            moves += 1
            operations.append(
                ("upsert", self._state(tenant_id, standard, finding, stored, now, changed=True))
            )
            operations.append(("upsert", self._history(tenant_id, standard, finding, move, n, now)))
        summary = self._summary(tenant_id, standard, findings, now)
        summary[State.NOT_APPLICABLE.value] = max(1, len(findings))
        summary["reason"] = reason[:1000]
        operations.append(("upsert", summary))
        await self._commit(operations, now)
        return moves

    async def _commit(self, operations: list[tuple[str, dict[str, Any]]], now: datetime) -> None:
        """The tenant's partition first (the truth), then its transitions in the drift feed:
        one more transaction, only when something moved. A feed that cannot be written is
        logged; the tenant's own history still has every transition."""
        for start in range(0, len(operations), _BATCH):
            await self.table.submit_transaction(operations[start : start + _BATCH])
        feed = [("upsert", _feed_entry(e, now)) for _, e in operations if _is_history(e)]
        try:
            for start in range(0, len(feed), _BATCH):
                await self.table.submit_transaction(feed[start : start + _BATCH])
        except Exception:
            log.exception("could not write %d transitions to the drift feed", len(feed))

    def _state(
        self,
        tenant_id: str,
        standard: str,
        finding: Mapping[str, Any],
        stored: Mapping[str, Any],
        now: datetime,
        *,
        changed: bool,
    ) -> dict[str, Any]:
        return {
            "PartitionKey": tenant_id,
            "RowKey": f"{standard}|s|{finding['setting']}",
            "standard": standard,
            "setting": finding["setting"],
            "desired": to_text(finding.get("desired")),
            "observed": to_text(finding.get("observed")),
            "state": finding["state"],
            "ref": finding.get("ref") or stored.get("ref") or "",
            "since": now.isoformat() if changed or not stored else stored.get("since"),
            "last_evaluated": now.isoformat(),
        }

    def _history(
        self,
        tenant_id: str,
        standard: str,
        finding: Mapping[str, Any],
        move: Transition,
        n: int,
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "PartitionKey": tenant_id,
            "RowKey": f"{HISTORY}{_newest_first(now)}|{n:04d}|{standard}|{finding['setting']}",
            "tenant_id": tenant_id,
            "standard": standard,
            "setting": finding["setting"],
            "transition": move.value,
            "observed": to_text(finding.get("observed")),
            "at": now.isoformat(),
        }

    def _summary(
        self, tenant_id: str, standard: str, findings: list[dict[str, Any]], now: datetime
    ) -> dict[str, Any]:
        counts = Counter(f["state"] for f in findings)
        return {
            "PartitionKey": tenant_id,
            "RowKey": f"{standard}|summary",
            "tenant_id": tenant_id,
            "standard": standard,
            **{state.value: counts.get(state.value, 0) for state in State},
            "reason": "",
            "last_evaluated": now.isoformat(),
        }

    async def accept(
        self, tenant_id: str, standard: str, setting: str, acceptance: Acceptance
    ) -> None:
        await self.table.upsert_entity(
            {
                "PartitionKey": tenant_id,
                "RowKey": f"{standard}|a|{setting}",
                "standard": standard,
                "setting": setting,
                "value": to_text(acceptance.value),
                "reason": acceptance.reason[:2000],
                "accepted_by": acceptance.accepted_by,
                "expires": acceptance.expires.isoformat(),
            }
        )

    async def withdraw(self, tenant_id: str, standard: str, setting: str) -> bool:
        """Withdraw an acceptance; False if there was none."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            await self.table.get_entity(tenant_id, f"{standard}|a|{setting}")
        except ResourceNotFoundError:
            return False
        await self.table.delete_entity(tenant_id, f"{standard}|a|{setting}")
        return True

    async def tenant(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every stored setting of the tenant, with its acceptance if any."""
        settings: dict[str, dict[str, Any]] = {}
        accepted: dict[str, dict[str, Any]] = {}
        query = "PartitionKey eq @p and RowKey lt @h"
        async for entity in self.table.query_entities(
            query, parameters={"p": tenant_id, "h": HISTORY}
        ):
            key = f"{entity.get('standard')}|{entity.get('setting')}"
            if "|s|" in entity["RowKey"]:
                settings[key] = _setting_view(entity)
            elif "|a|" in entity["RowKey"]:
                accepted[key] = _acceptance_view(entity)
        for key, view in settings.items():
            view["acceptance"] = accepted.get(key)
        return sorted(settings.values(), key=lambda v: (v["standard"], v["setting"]))

    async def summaries(self, *, tenant: str | None, standard: str | None) -> list[dict[str, Any]]:
        """Each (tenant, standard)'s counts per state and its last evaluation."""
        query, parameters = "RowKey ge @lo and RowKey lt @hi", {"lo": "", "hi": HISTORY}
        if tenant:
            query, parameters["p"] = query + " and PartitionKey eq @p", tenant
        if standard:
            query, parameters["s"] = query + " and standard eq @s", standard
        found = [
            _summary_view(dict(e))
            async for e in self.table.query_entities(query, parameters=parameters)
            if str(e["RowKey"]).endswith("|summary")
        ]
        return sorted(found, key=lambda v: (v["tenant_id"], v["standard"]))

    async def transitions(
        self, since: datetime, *, limit: int, after: str = "", now: datetime | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Transitions across tenants at or after `since`, newest first: at most `limit`, from
        the drift feed (one partition per month, read newest month first, each newest first),
        after the cursor `after` a previous page returned; the next cursor, or None."""
        months = feed_months(since, now or datetime.now(UTC))
        start_month, _, start_key = after.partition("|")
        if after and start_month not in months:
            raise ValueError("cursor: not one this API gave for this since")
        found: list[dict[str, Any]] = []
        last = f"{FEED_ROW}{_newest_first(since)}~"
        for month in months[months.index(start_month) if after else 0 :]:
            first = start_key if after and month == start_month else ""
            query = "PartitionKey eq @p and RowKey gt @first and RowKey le @last"
            bounds = {"p": FEED + month, "first": first, "last": last}
            async for e in self.table.query_entities(query, parameters=bounds):
                if len(found) == limit:
                    return found, f"{found[-1]['_month']}|{found[-1]['_key']}"
                found.append(_feed_view(e, month))
        return found, None


def feed_months(since: datetime, now: datetime) -> list[str]:
    """The feed's months from `now`'s back to `since`'s, newest first."""
    if since < now - timedelta(days=FEED_DAYS):
        raise ValueError(f"since: at most {FEED_DAYS} days ago")
    months, year, month = [], now.year, now.month
    while (year, month) >= (since.year, since.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _is_history(entity: Mapping[str, Any]) -> bool:
    return str(entity.get("RowKey", "")).startswith(HISTORY)


def _feed_entry(history: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A history entity as the feed keeps it: the month's partition, newest first, then the
    tenant (so two tenants' transitions of one moment never collide)."""
    _, moment, rest = str(history["RowKey"]).split("|", 2)
    return dict(history) | {
        "PartitionKey": f"{FEED}{now.year:04d}-{now.month:02d}",
        "RowKey": f"{FEED_ROW}{moment}|{history['tenant_id']}|{rest}",
    }


def _feed_view(entity: Mapping[str, Any], month: str) -> dict[str, Any]:
    return {
        "tenant_id": entity.get("tenant_id"),
        "standard": entity.get("standard"),
        "setting": entity.get("setting"),
        "transition": entity.get("transition"),
        "observed": from_text(entity.get("observed")),
        "at": entity.get("at"),
        "_month": month,
        "_key": entity["RowKey"],
    }


def _differs(stored: Mapping[str, Any], entity: Mapping[str, Any]) -> bool:
    return any(stored.get(k, "") != entity[k] for k in ("desired", "observed", "state", "ref"))


def _acceptance(entity: Mapping[str, Any]) -> Acceptance:
    return Acceptance(
        value=from_text(entity.get("value")),
        reason=str(entity.get("reason") or ""),
        accepted_by=str(entity.get("accepted_by") or ""),
        expires=datetime.fromisoformat(str(entity.get("expires"))).astimezone(UTC),
    )


def _setting_view(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "standard": entity.get("standard"),
        "setting": entity.get("setting"),
        "desired": from_text(entity.get("desired")),
        "observed": from_text(entity.get("observed")),
        "state": entity.get("state"),
        "since": entity.get("since"),
        "last_evaluated": entity.get("last_evaluated"),
    }


def _acceptance_view(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "value": from_text(entity.get("value")),
        "reason": entity.get("reason"),
        "accepted_by": entity.get("accepted_by"),
        "expires": entity.get("expires"),
    }


def _summary_view(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tenant_id": entity.get("tenant_id"),
        "standard": entity.get("standard"),
        **{state.value: int(entity.get(state.value) or 0) for state in State},
        "reason": entity.get("reason") or None,
        "last_evaluated": entity.get("last_evaluated"),
    }
