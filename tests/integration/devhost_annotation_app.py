"""A v2 app whose annotations do not fit their bindings, so the Python worker loads none of it.

- `relay` (queue) annotates its message as an HttpRequest: the queue trigger's converter
  refuses that type;
- `page` (HTTP) declares that it returns None, which the http output cannot send.
"""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="msg", queue_name="inbox", connection="AzureWebJobsStorage")
def relay(msg: func.HttpRequest) -> None:
    return None


@app.route(route="page", methods=["GET"])
def page(req: func.HttpRequest) -> None:
    return None
