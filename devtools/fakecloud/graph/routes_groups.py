"""/groups: list, create, get, update, and membership through `members/$ref`.

https://learn.microsoft.com/graph/api/group-list, group-post-groups, group-update,
group-list-members, group-post-members, group-delete-members. Graph lets two groups share a
mailNickname; the emulator allows it too but counts `graph.duplicate_creates` (a group with that
mailNickname exists) and records each create and PATCH in `ctx.writes` (writes.py).
"""

from __future__ import annotations

from typing import Any

from devtools.fakecloud.graph import auth, payload
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.directory import new_object_id, utc_now
from devtools.fakecloud.graph.errors import (
    ALREADY_MEMBER,
    GraphError,
    invalid_property,
    invalid_value,
    not_emulated,
    not_found,
    read_only,
)
from devtools.fakecloud.graph.model import (
    GROUP_TYPE,
    USER_TYPE,
    Group,
    User,
    group_record,
    user_record,
)
from devtools.fakecloud.graph.query import (
    collection_body,
    context_url,
    next_link,
    parse_query,
    project,
    take_page,
)
from devtools.fakecloud.graph.router import Route
from devtools.fakecloud.graph.routes_users import check_sign_in_activity
from devtools.fakecloud.graph.schema import DIRECTORY_OBJECT, GROUP, USER

_REQUIRED = ("displayName", "mailNickname", "mailEnabled", "securityEnabled")
_READ_ONLY = frozenset({"id", "createdDateTime", "deletedDateTime", "mail", "proxyAddresses"})
_CREATABLE = frozenset(
    {*_REQUIRED, "description", "groupTypes", "visibility", "members@odata.bind"}
)
_UPDATABLE = frozenset({"displayName", "description", "mailNickname", "visibility"})


def list_groups(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(call.query, GROUP, consistency_eventual=call.consistency_eventual)
    keep = options.filter.matches if options.filter else None
    page = take_page(
        call.directory.groups(),
        key=lambda group: group.id,
        matches=lambda group: keep is None or keep(group_record(group)),
        options=options,
    )
    values = [project(group_record(g), options.select, GROUP) for g in page.items]
    base = call.ctx.base_url
    link = next_link(base, call.path, options, page.next_after) if page.next_after else None
    return GraphResponse.ok(
        collection_body(context_url(base, "groups", options.select), values, page, link)
    )


def get_group(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(
        call.query, GROUP, consistency_eventual=call.consistency_eventual, collection=False
    )
    group = _required_group(call, params["id"])
    return GraphResponse.ok(_entity(call, group, options.select))


def _entity(call: Call, group: Group, select: tuple[str, ...] | None) -> dict[str, Any]:
    body = {"@odata.context": context_url(call.ctx.base_url, "groups", select) + "/$entity"}
    body.update(project(group_record(group), select, GROUP))
    return body


def create_group(call: Call, params: dict[str, str]) -> GraphResponse:
    body = call.json_object()
    group = _new_group(payload.properties(body))
    members = payload.bound_members(body)
    _check_new_members(call, members)
    _, duplicate = call.directory.add_group(group)
    if members:
        call.directory.add_members(group.id, members)
    call.ctx.log.count("graph.creates.groups")
    call.ctx.writes.created(call.caller.tenant_id, "group", group.mail_nickname)
    if duplicate:
        call.ctx.log.count("graph.duplicate_creates")
    return GraphResponse.ok(_entity(call, group, None), status=201)


def _check_new_members(call: Call, members: list[str]) -> None:
    """Validate members@odata.bind before creating anything: Graph creates all or nothing."""
    for member in members:
        if call.directory.find_object(member) is None:
            raise not_found(member)
    if len({m.casefold() for m in members}) < len(members):
        raise GraphError(400, "Request_BadRequest", ALREADY_MEMBER)


def _new_group(body: dict[str, Any]) -> Group:
    for name in body:
        _check_known(name, allowed=_CREATABLE)
    group_types = body.get("groupTypes", [])
    if not isinstance(group_types, list) or not all(isinstance(t, str) for t in group_types):
        raise invalid_value("groupTypes", "Group")
    return Group(
        id=new_object_id(),
        display_name=payload.text(body, "displayName", "Group", max_length=256),
        mail_nickname=payload.mail_nickname(body, "Group"),
        description=payload.optional_text(body, "description", "Group"),
        security_enabled=payload.boolean(body, "securityEnabled", "Group"),
        mail_enabled=payload.boolean(body, "mailEnabled", "Group"),
        created=utc_now(),
        group_types=tuple(group_types),
        visibility=payload.optional_text(body, "visibility", "Group"),
    )


def _check_known(name: str, *, allowed: set[str] | frozenset[str]) -> None:
    if name in allowed:
        return
    if name in _READ_ONLY:
        raise read_only(name)
    if name in GROUP.selectable or name.endswith("@odata.bind"):
        raise not_emulated(f"setting the group property '{name}'")
    raise invalid_property(name)


def update_group(call: Call, params: dict[str, str]) -> GraphResponse:
    group = _required_group(call, params["id"])
    body = call.json_object()
    changes = _group_changes(payload.properties(body))
    members = payload.bound_members(body)
    if changes:
        call.directory.update_group(group.id, **changes)
    if members:
        call.directory.add_members(group.id, members)
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, group.id, body)
    return GraphResponse.no_content()


def _group_changes(body: dict[str, Any]) -> dict[str, Any]:
    for name in body:
        if name != "members@odata.bind":
            _check_known(name, allowed=_UPDATABLE)
    changes: dict[str, Any] = {}
    if "displayName" in body:
        changes["display_name"] = payload.text(body, "displayName", "Group", max_length=256)
    if "mailNickname" in body:
        changes["mail_nickname"] = payload.mail_nickname(body, "Group")
    for name, field in (("description", "description"), ("visibility", "visibility")):
        if name in body:
            changes[field] = payload.optional_text(body, name, "Group")
    return changes


def list_members(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(
        call.query, DIRECTORY_OBJECT, consistency_eventual=call.consistency_eventual
    )
    if options.filter is not None:
        raise not_emulated("$filter on group members")
    if options.uses_sign_in_activity:
        check_sign_in_activity(call)
    members = call.directory.members(_required_group(call, params["id"]).id)
    page = take_page(members, key=lambda m: m.id, matches=lambda m: True, options=options)
    values = [_member_json(call, m, options.select) for m in page.items]
    base = call.ctx.base_url
    link = next_link(base, call.path, options, page.next_after) if page.next_after else None
    context = context_url(base, "directoryObjects", options.select)
    return GraphResponse.ok(collection_body(context, values, page, link))


def _member_json(
    call: Call, member: User | Group, select: tuple[str, ...] | None
) -> dict[str, Any]:
    """A member as a directoryObject. Without permission to read its type Graph still lists
    it, with only @odata.type and id (Graph docs, "Limited information returned")."""
    if isinstance(member, User):
        if not call.caller.has_any(auth.USER_READ):
            return {"@odata.type": USER_TYPE, "id": member.id}
        return {"@odata.type": USER_TYPE, **project(user_record(member), select, USER)}
    return {"@odata.type": GROUP_TYPE, **project(group_record(member), select, GROUP)}


def add_member(call: Call, params: dict[str, str]) -> GraphResponse:
    reference = call.json_object().get("@odata.id")
    member = payload.object_id_from_reference(reference)
    call.directory.add_members(_required_group(call, params["id"]).id, [member])
    return GraphResponse.no_content()


def remove_member(call: Call, params: dict[str, str]) -> GraphResponse:
    call.directory.remove_member(_required_group(call, params["id"]).id, params["member"])
    return GraphResponse.no_content()


def _required_group(call: Call, group_id: str) -> Group:
    group = call.directory.find_group(group_id)
    if group is None:
        raise not_found(group_id)
    return group


ROUTES = (
    Route("GET", ("groups",), list_groups, auth.GROUP_READ),
    Route("POST", ("groups",), create_group, auth.GROUP_CREATE),
    Route("GET", ("groups", "{id}"), get_group, auth.GROUP_READ),
    Route("PATCH", ("groups", "{id}"), update_group, auth.GROUP_WRITE),
    Route("GET", ("groups", "{id}", "members"), list_members, auth.GROUP_READ),
    Route("POST", ("groups", "{id}", "members", "$ref"), add_member, auth.MEMBER_WRITE),
    Route(
        "DELETE",
        ("groups", "{id}", "members", "{member}", "$ref"),
        remove_member,
        auth.MEMBER_WRITE,
    ),
)
