"""/users: list (with $select, $filter, $top, paging), get by id or UPN, update.

https://learn.microsoft.com/graph/api/user-list, user-get, user-update.
"""

from __future__ import annotations

from typing import Any

from devtools.fakecloud.graph import auth, payload
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.errors import (
    invalid_property,
    no_premium_licence,
    not_emulated,
    not_found,
    read_only,
)
from devtools.fakecloud.graph.model import User, user_record
from devtools.fakecloud.graph.query import (
    QueryOptions,
    collection_body,
    context_url,
    next_link,
    parse_query,
    project,
    take_page,
)
from devtools.fakecloud.graph.router import Route
from devtools.fakecloud.graph.schema import USER

_READ_ONLY = frozenset(
    {"id", "createdDateTime", "creationType", "externalUserState", "signInActivity"}
)


def check_sign_in_activity(call: Call) -> None:
    """signInActivity needs AuditLog.Read.All and an Entra ID P1/P2 tenant."""
    call.caller.require(auth.SIGN_IN_ACTIVITY)
    if not (call.directory.sign_in_licensed and call.sign_in_licensed):
        raise no_premium_licence()


def user_query(call: Call, *, collection: bool = True) -> QueryOptions:
    options = parse_query(
        call.query, USER, consistency_eventual=call.consistency_eventual, collection=collection
    )
    if options.uses_sign_in_activity:
        check_sign_in_activity(call)
    return options


def list_users(call: Call, params: dict[str, str]) -> GraphResponse:
    options = user_query(call)
    keep = options.filter.matches if options.filter else None
    page = take_page(
        call.directory.users(),
        key=lambda user: user.id,
        matches=lambda user: keep is None or keep(user_record(user)),
        options=options,
    )
    values = [project(user_record(u), options.select, USER) for u in page.items]
    base = call.ctx.base_url
    link = next_link(base, call.path, options, page.next_after) if page.next_after else None
    return GraphResponse.ok(
        collection_body(context_url(base, "users", options.select), values, page, link)
    )


def get_user(call: Call, params: dict[str, str]) -> GraphResponse:
    options = user_query(call, collection=False)
    user = _required_user(call, params["id"])
    body = {"@odata.context": context_url(call.ctx.base_url, "users", options.select) + "/$entity"}
    body.update(project(user_record(user), options.select, USER))
    return GraphResponse.ok(body)


def update_user(call: Call, params: dict[str, str]) -> GraphResponse:
    user = _required_user(call, params["id"])
    changes = _user_changes(payload.properties(call.json_object()))
    call.directory.update_user(user.id, **changes)
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, user.id, call.json_object())
    return GraphResponse.no_content()


def _user_changes(body: dict[str, Any]) -> dict[str, Any]:
    """Model field changes for a PATCH body; 400 for read-only or unknown properties."""
    changes: dict[str, Any] = {}
    for name in body:
        if name == "accountEnabled":
            changes["account_enabled"] = payload.boolean(body, name, "User")
        elif name == "displayName":
            changes["display_name"] = payload.text(body, name, "User", max_length=256)
        elif name in _READ_ONLY:
            raise read_only(name)
        elif name in USER.selectable:
            raise not_emulated(f"updating the user property '{name}'")
        else:
            raise invalid_property(name)
    return changes


def _required_user(call: Call, id_or_upn: str) -> User:
    user = call.directory.find_user(id_or_upn)
    if user is None:
        raise not_found(id_or_upn)
    return user


ROUTES = (
    Route("GET", ("users",), list_users, auth.USER_READ),
    Route("GET", ("users", "{id}"), get_user, auth.USER_READ),
    Route("PATCH", ("users", "{id}"), update_user, auth.USER_WRITE),
)
