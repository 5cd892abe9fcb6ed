"""The face of xtenant: every Azure Functions trigger, each thin, delegating to `shared`."""

from __future__ import annotations

import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    """Liveness: the worker is up and the app imported. Touches no tenant and no secret."""
    body = {"status": "ok", "app": "xtenant"}
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json")
