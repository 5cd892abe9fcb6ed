"""Group bodies from the API (PUT /api/groups/{name}): every problem found, listed together.

PUT accepts what GET returns: the read-only fields (`kind`, the resolved members) may be sent
back and are ignored; `name` must then be the group in the URL. A group is static (`tenants`) or
dynamic (`rule`), never both; `all` is neither (it holds every registered tenant).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from shared.errors import InvalidTenantId, XtenantError
from shared.groups import ALL, MAX_STATIC, NAME, Group, Rule, enrolment_records
from shared.ids import validate_tenant_id
from shared.settings import Cloud
from shared.stored import MAX_TEXT
from shared.tenant_requests import ParamsCheck, enrolments_from, tags_from

FIELDS = ("description", "tenants", "rule", "enrolments")
READ_ONLY = ("name", "kind", "members", "members_total", "members_next", "unregistered")
CLAUSES = ("tags_all", "tags_any", "plans_any", "cloud")
#: A service plan name as Graph spells it (servicePlanName: "AAD_PREMIUM_P2").
PLAN = re.compile(r"[A-Za-z0-9_.-]{1,100}")
MAX_PLANS = 20
_MAX_PROBLEMS = 20


class InvalidGroup(XtenantError, ValueError):
    """A group name or body the API refuses; `problems` lists each (the first 20)."""

    error_class = "invalid_group"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems[:_MAX_PROBLEMS]
        if len(problems) > _MAX_PROBLEMS:
            self.problems.append(f"... and {len(problems) - _MAX_PROBLEMS} more")
        super().__init__(
            "invalid group: " + "; ".join(self.problems),
            remediation="Fix the listed fields and send the group again.",
        )


def name_problems(name: str) -> list[str]:
    if NAME.fullmatch(name):
        return []
    return [f"group name {name[:70]!r} must be 1-64 lower-case letters, digits or -"]


def group_from_put(
    name: str, body: Any, *, check_params: ParamsCheck, registered: Collection[str]
) -> Group:
    """The group a PUT body describes; InvalidGroup lists every problem."""
    problems = name_problems(name)
    if not isinstance(body, dict):
        raise InvalidGroup([*problems, "body must be a JSON object"])
    problems += [f"unknown field {k!r}" for k in body if k not in FIELDS + READ_ONLY]
    if body.get("name", name) != name:
        problems.append(f"name {str(body['name'])[:70]!r} is not the group in the URL")
    description = body.get("description", "")
    if not isinstance(description, str) or len(description) > 1024:
        problems.append("description must be a string of at most 1,024 characters")
    tenants, rule = _membership(name, body, registered, problems)
    enrolments = enrolments_from(body.get("enrolments", {}), problems, check_params)
    size = len(json.dumps(enrolment_records(enrolments)))
    if size > MAX_TEXT:  # one table property holds them all
        problems.append(f"enrolments are {size:,} characters as JSON; at most {MAX_TEXT:,}")
    if problems:
        raise InvalidGroup(problems)
    return Group(name, description, tenants, rule, enrolments)


def _membership(
    name: str, body: dict[str, Any], registered: Collection[str], problems: list[str]
) -> tuple[frozenset[str] | None, Rule | None]:
    static, dynamic = body.get("tenants") is not None, body.get("rule") is not None
    if name == ALL:
        if static or dynamic:
            problems.append("the group all holds every registered tenant: no tenants or rule")
        return None, None
    if static == dynamic:
        problems.append(
            "a group has tenants (static: tenant ids) or a rule (dynamic), not both"
            if static
            else "a group needs tenants (static: tenant ids) or a rule (dynamic)"
        )
        return None, None
    if static:
        return _static(body["tenants"], registered, problems), None
    return None, _rule(body["rule"], problems)


def _static(raw: Any, registered: Collection[str], problems: list[str]) -> frozenset[str]:
    if not isinstance(raw, list):
        problems.append("tenants must be a list of tenant ids")
        return frozenset()
    if len(raw) > MAX_STATIC:
        problems.append(f"tenants may list at most {MAX_STATIC:,} tenants (use a rule for more)")
        return frozenset()
    tenants = set()
    for item in raw:
        try:
            tid = validate_tenant_id(item)
        except InvalidTenantId:
            problems.append(f"tenants: {str(item)[:60]!r} is not a GUID")
            continue
        if tid not in registered:
            problems.append(f"tenants: {tid} is not registered (PUT /api/tenants/{tid} first)")
        tenants.add(tid)
    return frozenset(tenants)


def _rule(raw: Any, problems: list[str]) -> Rule | None:
    if not isinstance(raw, dict):
        problems.append("rule must be an object of clauses: " + ", ".join(CLAUSES))
        return None
    problems += [f"rule: unknown clause {k!r}" for k in raw if k not in CLAUSES]
    rule = Rule(
        tuple(tags_from(raw.get("tags_all", []), "rule.tags_all", problems)),
        tuple(tags_from(raw.get("tags_any", []), "rule.tags_any", problems)),
        _plans(raw.get("plans_any", []), problems),
        _cloud(raw.get("cloud"), problems),
    )
    if not rule.as_record():
        problems.append("rule needs a clause: " + ", ".join(CLAUSES) + " (all holds everyone)")
    return rule


def _plans(raw: Any, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_PLANS:
        problems.append(f"rule.plans_any must be a list of at most {MAX_PLANS} service plan names")
        return ()
    bad = [p for p in raw if not (isinstance(p, str) and PLAN.fullmatch(p))]
    problems += [f"rule.plans_any: {str(p)[:70]!r} is not a service plan name" for p in bad]
    return tuple(sorted({p for p in raw if p not in bad}))


def _cloud(raw: Any, problems: list[str]) -> str | None:
    clouds = [c.value for c in Cloud]
    if raw is None or (isinstance(raw, str) and raw in clouds):
        return raw
    problems.append(f"rule.cloud must be one of {', '.join(clouds)}")
    return None
