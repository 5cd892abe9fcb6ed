"""Microsoft Graph v1.0 emulator (the subset xtenant's jobs use).

Contract with the server (devtools/fakecloud/server.py):
- `directory_from_scenario(spec)` turns a tenant's optional "graph" object from the scenario file
  into that tenant's directory (users, groups, authorization policy, Conditional Access policies,
  security defaults, role assignments, licences); see `seed.py` for the keys.
- `create_graph_app(ctx)` returns the aiohttp application served on the Graph listener; it checks
  each request's bearer token with `ctx.signing_key.verify(token, audience=ctx.audience)`, isolates
  data by the token's `tid`, authorises by its `roles`, consults `ctx.faults` (service "graph") and
  records every request in `ctx.log` (service "graph") and every applied create and PATCH in
  `ctx.writes` (writes.py: duplicate writes).

Modules: app (aiohttp face), pipeline (auth, faults, routing), batch ($batch), routes_users /
routes_groups / routes_policy / routes_licences / routes_conditional_access /
routes_role_assignments / routes_auth_methods / routes_sharepoint (handlers), query +
filter_parser + filter_eval + schema (OData), directory + model + policy + conditional_access +
security_policies + role_assignments + auth_methods + sharepoint + licences + seed (data),
writes (applied writes per object), auth, errors, call, context, payload, router.
"""

from __future__ import annotations

from devtools.fakecloud.graph.app import create_graph_app
from devtools.fakecloud.graph.context import GraphContext
from devtools.fakecloud.graph.directory import TenantDirectory
from devtools.fakecloud.graph.model import Group, SignInActivity, User
from devtools.fakecloud.graph.seed import directory_from_scenario
from devtools.fakecloud.graph.writes import Write, WriteLog

__all__ = [
    "GraphContext",
    "Group",
    "SignInActivity",
    "TenantDirectory",
    "User",
    "Write",
    "WriteLog",
    "create_graph_app",
    "directory_from_scenario",
]
