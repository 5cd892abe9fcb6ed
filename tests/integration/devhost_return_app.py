"""A v2 app whose functions return what the Python worker refuses to send back.

- `echo` (queue RETURN_QUEUE) returns the message body, but a queue trigger has no `$return`
  binding: the worker fails every such invocation with RuntimeError, so the message is retried
  and then poisoned;
- `silent` (HTTP GET, anonymous) returns None unless asked `?answer=1` (a forgotten `return`):
  the worker cannot encode None as the HTTP output, the invocation fails and the caller gets 500;
- `hello` (HTTP GET, anonymous) returns a plain str, which the worker does encode.

The dev host's tests run it under the dev host; tests/contract runs it under the real worker.
"""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.queue_trigger(arg_name="msg", queue_name="%RETURN_QUEUE%", connection="AzureWebJobsStorage")
async def echo(msg: func.QueueMessage) -> str:
    return msg.get_body().decode()


@app.route(route="silent", methods=["GET"])
async def silent(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("answer"):
        return func.HttpResponse("answered")


@app.route(route="hello", methods=["GET"])
def hello(req: func.HttpRequest) -> str:
    return "hello"
