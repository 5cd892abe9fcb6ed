"""/subscribedSkus: the tenant's subscriptions, with their service plans (graph/licences.py).

https://learn.microsoft.com/graph/api/subscribedsku-list
"""

from __future__ import annotations

from devtools.fakecloud.graph import auth
from devtools.fakecloud.graph.call import Call, GraphResponse
from devtools.fakecloud.graph.licences import sku_record
from devtools.fakecloud.graph.router import Route


def list_skus(call: Call, params: dict[str, str]) -> GraphResponse:
    tenant_id = call.caller.tenant_id
    values = [sku_record(tenant_id, sku) for sku in call.directory.skus]
    context = call.ctx.base_url + "/v1.0/$metadata#subscribedSkus"
    return GraphResponse.ok({"@odata.context": context, "value": values})


ROUTES = (Route("GET", ("subscribedSkus",), list_skus, auth.LICENCE_READ),)
