"""/roleManagement/directory/roleAssignments: list, with $filter on roleDefinitionId, principalId.

https://learn.microsoft.com/graph/api/rbacapplication-list-roleassignments (e.g.
`$filter=roleDefinitionId eq '62e90394-69f5-4237-9190-012177145e10'`, the Global Administrators).
"""

from __future__ import annotations

from devtools.fakecloud.graph import auth
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.query import (
    collection_body,
    context_url,
    next_link,
    parse_query,
    project,
    take_page,
)
from devtools.fakecloud.graph.role_assignments import ROLE_ASSIGNMENT
from devtools.fakecloud.graph.router import Route


def list_role_assignments(call: Call, params: dict[str, str]) -> GraphResponse:
    options = parse_query(
        call.query, ROLE_ASSIGNMENT, consistency_eventual=call.consistency_eventual
    )
    keep = options.filter.matches if options.filter else None
    page = take_page(
        call.directory.role_assignments.all(),
        key=lambda assignment: assignment.id,
        matches=lambda assignment: keep is None or keep(assignment.record()),
        options=options,
    )
    values = [project(a.record(), options.select, ROLE_ASSIGNMENT) for a in page.items]
    base = call.ctx.base_url
    link = next_link(base, call.path, options, page.next_after) if page.next_after else None
    context = context_url(base, ROLE_ASSIGNMENT.entity_set, options.select)
    return GraphResponse.ok(collection_body(context, values, page, link))


ROUTES = (
    Route(
        "GET",
        ("roleManagement", "directory", "roleAssignments"),
        list_role_assignments,
        auth.ROLE_ASSIGNMENT_READ,
    ),
)
