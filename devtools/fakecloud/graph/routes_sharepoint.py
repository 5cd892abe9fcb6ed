"""/admin/sharepoint/settings: the tenant's SharePoint and OneDrive settings, read and partially
updated (the PATCH answers 200 with the settings after it).

https://learn.microsoft.com/graph/api/sharepointsettings-get, sharepointsettings-update.
"""

from __future__ import annotations

from typing import Any

from devtools.fakecloud.graph import auth, payload
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.router import Route
from devtools.fakecloud.graph.sharepoint import ODATA_TYPE

_PATH = ("admin", "sharepoint", "settings")
_CONTEXT = "/v1.0/$metadata#admin/sharepoint/settings/$entity"


def get_settings(call: Call, params: dict[str, str]) -> GraphResponse:
    return _answer(call, call.directory.sharepoint_settings())


def update_settings(call: Call, params: dict[str, str]) -> GraphResponse:
    body = call.json_object()
    settings = call.directory.update_sharepoint_settings(payload.properties(body))
    call.ctx.log.count("graph.patches")
    call.ctx.writes.patched(call.caller.tenant_id, "sharepointSettings", body)
    return _answer(call, settings)


def _answer(call: Call, settings: dict[str, Any]) -> GraphResponse:
    context = call.ctx.base_url + _CONTEXT
    return GraphResponse.ok({"@odata.context": context, "@odata.type": ODATA_TYPE, **settings})


ROUTES = (
    Route("GET", _PATH, get_settings, auth.SHAREPOINT_READ),
    Route("PATCH", _PATH, update_settings, auth.SHAREPOINT_WRITE),
)
