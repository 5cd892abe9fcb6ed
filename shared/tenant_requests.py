"""Tenant bodies from the API: PUT (replace) and PATCH (JSON merge patch, RFC 7396).

PUT accepts exactly what GET returns: the read-only fields (`tenant_id`, `health`,
`job_health`, `plans`, `groups`, `effective_enrolments`) may be sent back; `tenant_id` must then
name the same tenant, the others are ignored (runs, checks and groups decide them). Replacing an
existing tenant needs every editable field but `tags`, so a PUT of `{"enabled": false}` cannot
wipe a tenant's name and enrolments: that is PATCH's job. A PUT without `tags` keeps the tags
the tenant has (tags came later than PUT bodies: a client that predates them must not wipe them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import XtenantError
from shared.messages import params_problem
from shared.results import Mode
from shared.tenants import Enrolment, Tenant

#: Checks one enrolment's params for its job; raises XtenantError or ValueError naming problems.
#: Passed in by the API so that the registry does not import every job to validate a body.
ParamsCheck = Callable[[str, Mapping[str, Any]], None]

EDITABLE = ("name", "enabled", "enrolments", "tags")
_REPLACED = ("name", "enabled", "enrolments")
READ_ONLY = ("tenant_id", "health", "job_health", "plans", "groups", "effective_enrolments")

#: A tag: letters, digits and `:-_.` ("tier:gold", "region:eu"); a tenant has at most MAX_TAGS.
TAG = re.compile(r"[A-Za-z0-9:._-]{1,64}")
MAX_TAGS = 20


class InvalidTenant(XtenantError, ValueError):
    error_class = "invalid_tenant"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid tenant: " + "; ".join(problems),
            remediation="Fix the listed fields and send the tenant again.",
        )


def tenant_from_put(
    tenant_id: str, body: Any, *, existing: Tenant | None, check_params: ParamsCheck
) -> Tenant:
    """The tenant a PUT body describes; InvalidTenant lists every problem."""
    if not isinstance(body, dict):
        raise InvalidTenant(["body must be a JSON object"])
    problems = _unknown_fields(body, EDITABLE + READ_ONLY)
    if body.get("tenant_id", tenant_id) != tenant_id:
        problems.append(f"tenant_id {str(body['tenant_id'])[:60]!r} is not the tenant in the URL")
    if existing is not None:
        missing = [f for f in _REPLACED if f not in body]
        problems.extend(
            f"{f} is required to replace a tenant (PATCH changes only what it sends)"
            for f in missing
        )
        body = {"tags": existing.tags} | body
    return _validated(tenant_id, body, problems, check_params)


def tenant_from_patch(existing: Tenant, body: Any, *, check_params: ParamsCheck) -> Tenant:
    """`existing` with a JSON merge patch applied: only what is sent changes; null removes."""
    if not isinstance(body, dict):
        raise InvalidTenant(["body must be a JSON object"])
    problems = _unknown_fields(body, EDITABLE)
    problems.extend(f"{f} is read-only" for f in READ_ONLY if f in body)
    current = {k: v for k, v in existing.as_record().items() if k in EDITABLE}
    merged = merge_patch(current, {k: v for k, v in body.items() if k in EDITABLE})
    return _validated(existing.tenant_id, merged, problems, check_params)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge member by member, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unknown_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    return [f"unknown field {k!r}" for k in body if k not in allowed]


def _validated(
    tenant_id: str, body: dict[str, Any], problems: list[str], check_params: ParamsCheck
) -> Tenant:
    name, enabled = body.get("name", ""), body.get("enabled", True)
    if not isinstance(name, str) or len(name) > 256:
        problems.append("name must be a string of at most 256 characters")
    if not isinstance(enabled, bool):
        problems.append("enabled must be true or false")
    enrolments = enrolments_from(body.get("enrolments", {}), problems, check_params)
    tags = tags_from(body.get("tags", []), "tags", problems)
    if problems:
        raise InvalidTenant(problems)
    return Tenant(tenant_id, name, enabled, enrolments, tags=tags)


def tags_from(raw: Any, where: str, problems: list[str]) -> list[str]:
    """Tags, each checked (TAG), sorted without repeats; `where` names the field in problems."""
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list of tags")
        return []
    bad = [t for t in raw if not (isinstance(t, str) and TAG.fullmatch(t))]
    problems.extend(
        f"{where}: {str(t)[:70]!r} is not a tag (1-64 letters, digits or :-_.)" for t in bad[:5]
    )
    if len(bad) > 5:
        problems.append(f"{where}: ... and {len(bad) - 5} more that are not tags")
    tags = sorted({t for t in raw if t not in bad})
    if len(tags) > MAX_TAGS:
        problems.append(f"{where} may hold at most {MAX_TAGS} tags, not {len(tags)}")
    return tags


def enrolments_from(
    raw: Any, problems: list[str], check_params: ParamsCheck
) -> dict[str, Enrolment]:
    """Enrolments ({job: {mode, params}}), each checked; every problem is added to `problems`."""
    if not isinstance(raw, dict):
        problems.append("enrolments must be an object of job -> {mode, params}")
        return {}
    enrolments = {}
    for job_name, spec in raw.items():
        try:
            if not isinstance(spec, dict):
                raise ValueError("must be an object {mode, params}")
            unknown = [k for k in spec if k not in ("mode", "params")]
            if unknown:
                raise ValueError(f"unknown field {unknown[0]!r}")
            mode = Mode.parse(spec.get("mode"))
            params = spec.get("params") or {}
            check_params(job_name, params)
            too_big = params_problem(params)
            if too_big:
                raise ValueError(too_big)
            enrolments[job_name] = Enrolment(mode, dict(params))
        except (XtenantError, ValueError) as exc:
            problems.append(f"enrolments.{job_name}: {getattr(exc, 'message', exc)}")
    return enrolments
