"""ensure-group: a security group, found by mailNickname, with exactly the given members.

Graph allows several groups to share a mailNickname, so a create must never be repeated
blindly (docs/decisions.md#no-duplicate-creates): apply re-reads by mailNickname right before
creating, and a create that fails ambiguously is not retried (shared.graph's retry policy) — the
next run finds the group and converges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from shared.errors import AlreadyExists, GraphNotFound, XtenantError
from shared.graph import MAX_PAGE, BatchItem, BatchResult, GraphSession
from shared.jobs.base import NOTHING_KNOWN, Change, ChangeOutcome, Finding, Job, Known, Plan
from shared.jobs.params import Params, Rule, spec

#: Graph: mailNickname max 64 chars, ASCII 0-127 without @ () \ [] " ; : <> , and space.
_NICKNAME = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,64}")
#: Limits that keep a run's message within the queue's 64 KiB and Graph's own field limits.
MAX_MEMBERS = 1000
MAX_UPN = 256
MAX_DESCRIPTION = 1024
#: Graph limits the number of values in an `in (...)` filter clause; 15 is safe everywhere.
_IN_CHUNK = 15
_GROUP_FIELDS = ("id", "displayName", "description", "mailNickname")


MailNickname = Annotated[
    str, Rule(_NICKNAME.fullmatch, "must be 1-64 ASCII letters, digits or -_. (no spaces, @)")
]
DisplayName = Annotated[str, Rule(lambda name: name.strip() != "", "must not be blank")]
Upn = Annotated[
    str,
    Rule(
        lambda upn: "@" in upn and len(upn) <= MAX_UPN,
        f"must be user principal names like alice@contoso.com, at most {MAX_UPN} characters",
    ),
]


@dataclass(frozen=True)
class EnsureGroupParams(Params):
    """The security group, found by mailNickname, and exactly who is in it."""

    mail_nickname: MailNickname = field(
        metadata=spec(
            "How the group is found in each tenant: 1-64 ASCII letters, digits or "
            "!#$%&'*+-/=?^_`{|}~. (no spaces, no @)."
        )
    )
    display_name: DisplayName = field(
        metadata=spec(
            "The group's display name; an existing group is renamed to it.", max_length=256
        )
    )
    description: str = field(
        default="",
        metadata=spec(
            "The group's description; empty leaves it without one.", max_length=MAX_DESCRIPTION
        ),
    )
    members: tuple[Upn, ...] = field(
        default=(),
        metadata=spec(
            "Exactly the group's members, by userPrincipalName: others are removed; UPNs not in "
            "the tenant are reported, not added.",
            max_length=MAX_MEMBERS,
        ),
    )


@dataclass(frozen=True)
class Member:
    id: str
    upn: str

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> Member:
        return cls(id=str(item["id"]), upn=str(item.get("userPrincipalName") or item["id"]))


class AmbiguousGroup(XtenantError):
    error_class = "ambiguous_target"


class EnsureGroup(Job[EnsureGroupParams]):
    name = "ensure-group"
    description = "A security group exists with the given name, description and exact members."
    permissions = ("Group.ReadWrite.All", "GroupMember.ReadWrite.All", "User.Read.All")
    params_type = EnsureGroupParams
    kind = "standard"

    async def plan(
        self, session: GraphSession, params: EnsureGroupParams, known: Known = NOTHING_KNOWN
    ) -> Plan:
        """Three settings: the group exists, its name and description, its members."""
        plan = Plan(self.name, session.tenant_id)
        group = await find_group(session, params.mail_nickname)
        wanted = await resolve_upns(session, params.members, plan)
        create = () if group is not None else (_create(params),)
        self.find(Finding("group.exists", True, group is not None, group is not None, create), plan)
        current: dict[str, Member] = {}
        if group is not None:
            plan.context["group_id"] = group["id"]
            current = {m.id: m for m in await members(session, group["id"])}
        self.find(_naming(group, params), plan)
        self.find(_members(params, wanted, current, plan), plan)
        return plan

    async def apply(self, session: GraphSession, plan: Plan) -> list[ChangeOutcome]:
        outcomes: list[ChangeOutcome] = []
        group_id = plan.context.get("group_id")
        for change in plan.changes:
            if change.action == "create":
                group_id = await _create_once(session, change)
                outcomes.append(ChangeOutcome(change))
            elif change.action == "update":
                await session.send(
                    session.request("PATCH", f"/groups/{group_id}", change.data["body"]),
                    idempotent=True,
                )
                outcomes.append(ChangeOutcome(change))
        membership = [c for c in plan.changes if c.action in ("add_member", "remove_member")]
        if membership:
            assert group_id is not None
            results = await session.batch(
                [_member_item(n, c, group_id, session) for n, c in enumerate(membership)]
            )
            outcomes.extend(_member_outcome(c, r) for c, r in zip(membership, results, strict=True))
        return outcomes


async def find_group(session: GraphSession, nickname: str) -> dict[str, Any] | None:
    safe = nickname.replace("'", "''")
    request = session.list_groups(filter=f"mailNickname eq '{safe}'", select=_GROUP_FIELDS)
    found = [g async for page in session.pages(request) for g in page]
    if len(found) > 1:
        ids = ", ".join(sorted(g["id"] for g in found))
        raise AmbiguousGroup(
            f"{len(found)} groups share mailNickname {nickname!r}: {ids}",
            tenant_id=session.tenant_id,
            remediation="Delete or rename the duplicates in the tenant, then run again.",
        )
    return found[0] if found else None


async def resolve_upns(
    session: GraphSession, upns: tuple[str, ...], plan: Plan
) -> dict[str, Member]:
    """UPN -> user in this tenant; unknown UPNs become a note, not a failure."""
    found: dict[str, Member] = {}
    unique = sorted({u.lower() for u in upns})
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        quoted = ",".join("'" + u.replace("'", "''") + "'" for u in chunk)
        request = session.list_users(
            filter=f"userPrincipalName in ({quoted})", select=("id", "userPrincipalName")
        )
        for member in await session.collect(request, Member.from_graph):
            found[member.upn.lower()] = member
    unknown = [u for u in unique if u not in found]
    if unknown:
        plan.notes.append("unknown UPNs (not in this tenant): " + ", ".join(unknown))
    return {m.id: m for m in found.values()}


async def members(session: GraphSession, group_id: str) -> list[Member]:
    request = session.list_group_members(group_id, select=("id", "userPrincipalName"), top=MAX_PAGE)
    return await session.collect(request, Member.from_graph)


def _create(params: EnsureGroupParams) -> Change:
    body: dict[str, Any] = {
        "displayName": params.display_name,
        "mailNickname": params.mail_nickname,
        "securityEnabled": True,
        "mailEnabled": False,
    }
    if params.description:
        body["description"] = params.description
    return Change(
        target=params.mail_nickname,
        action="create",
        before=None,
        after={"displayName": params.display_name, "description": params.description},
        data={"body": body},
    )


def _naming(group: dict[str, Any] | None, params: EnsureGroupParams) -> Finding:
    """The group's display name and description; a missing group's come with its create."""
    after = {"displayName": params.display_name, "description": params.description or None}
    if group is None:
        return Finding("group.naming", after, None, compliant=False)
    before = {"displayName": group.get("displayName"), "description": group.get("description")}
    if before == after:
        return Finding("group.naming", after, before, compliant=True)
    change = Change(
        target=params.mail_nickname,
        action="update",
        before=before,
        after=after,
        data={"body": {k: v for k, v in after.items() if before[k] != v}},
    )
    return Finding("group.naming", after, before, False, (change,))


def _members(
    params: EnsureGroupParams, wanted: dict[str, Member], current: dict[str, Member], plan: Plan
) -> Finding:
    """Exactly the requested members; removals are held back when no requested UPN exists here:
    emptying the group on that evidence would be a mistake in someone else's tenant."""
    changes = [_membership("add_member", m) for m in wanted.values() if m.id not in current]
    extra = [m for m in current.values() if m.id not in wanted]
    if extra and params.members and not wanted:
        plan.notes.append(
            f"removals held back: none of the {len(params.members)} requested members exist "
            f"in this tenant, so the {len(extra)} current members stay"
        )
    else:
        changes.extend(_membership("remove_member", member) for member in extra)
    desired = sorted({u.lower() for u in params.members})
    observed = sorted(m.upn.lower() for m in current.values())
    compliant = not changes and not extra
    return Finding("group.members", desired, observed, compliant, tuple(changes))


def _membership(action: str, member: Member) -> Change:
    present = action == "remove_member"
    return Change(
        target=member.upn,
        action=action,
        before={"member": present},
        after={"member": not present},
        data={"id": member.id},
    )


async def _create_once(session: GraphSession, change: Change) -> str:
    """Create the group unless it appeared since planning; never create twice."""
    nickname = change.data["body"]["mailNickname"]
    existing = await find_group(session, nickname)
    if existing is not None:
        return str(existing["id"])
    request = session.request("POST", "/groups", change.data["body"])
    try:
        created = await session.send(request, idempotent=False)
    except XtenantError:
        # Sent but unanswered, or refused: re-read. If it exists now, it was created.
        existing = await find_group(session, nickname)
        if existing is None:
            raise
        return str(existing["id"])
    return str(created["id"])


def _member_item(n: int, change: Change, group_id: str, session: GraphSession) -> BatchItem:
    member_id = change.data["id"]
    if change.action == "add_member":
        ref = session.resource_url(f"/directoryObjects/{member_id}")
        return BatchItem(str(n), "POST", f"/groups/{group_id}/members/$ref", {"@odata.id": ref})
    return BatchItem(str(n), "DELETE", f"/groups/{group_id}/members/{member_id}/$ref")


def _member_outcome(change: Change, result: BatchResult) -> ChangeOutcome:
    """Adding a present member (400) or removing an absent one (404) already converged."""
    error = result.error
    added_already = change.action == "add_member" and isinstance(error, AlreadyExists)
    removed_already = change.action == "remove_member" and isinstance(error, GraphNotFound)
    return ChangeOutcome(change, None if added_already or removed_already else error)
