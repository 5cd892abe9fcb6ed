"""The face of xtenant: every Azure Functions trigger, each thin, delegating to `shared`.

timer  scheduled_run        %SCHEDULE%          start a run: one message per tenant x job
queue  tenant_job           tenant-jobs         one tenant, one job, isolated
queue  tenant_job_poison    tenant-jobs-poison  a message that kept failing -> ledger
http   POST /api/runs, GET /api/runs[?filters], GET /api/runs/{run_id}, GET /api/jobs,
       GET /api/bad-messages, GET /api/tenants, GET|PUT|PATCH|DELETE /api/tenants/{tenant_id},
       GET /api/tenants/{tenant_id}/runs, GET /api/health,
       GET /api/onboard, GET /api/consent/callback (anonymous: the redirect URI),
       POST /api/tenants/{tenant_id}/check
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared import api, logcontext, messages, onboarding, pipeline, tenant_api
from shared.services import Services
from shared.settings import SettingsError

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
logcontext.install()
log = logging.getLogger("xtenant")
# azure-identity logs every refused token request with Entra's whole answer; the ledger row and
# the worker's own line report the same failure once, typed, with its remediation.
logging.getLogger("azure.identity").setLevel(logging.ERROR)
# azure-core and httpx log every HTTP request at INFO (URL with its query, which can carry
# UPNs; azure-core adds headers): thousands of lines per run, and CPU spent on each. Their
# warnings still come through; the ledger and our own lines say what happened per tenant.
logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)

_services: Services | None = None


async def services() -> Services:
    """One set of clients per worker process, reused by every invocation.

    They live on the worker's event loop; a loop or client per call would lose the token caches
    and the pool, and breaks msgraph-sdk (docs/decisions.md#event-loop).
    """
    global _services
    if _services is None:
        _services = Services.from_env()
    return await _services.ready()


async def shutdown() -> None:
    """Close the process's clients (the local host calls this on stop; Azure ends the process)."""
    global _services
    if _services is not None:
        await _services.close()
        _services = None


@app.timer_trigger(arg_name="timer", schedule="%SCHEDULE%", run_on_startup=False)
async def scheduled_run(timer: func.TimerRequest) -> None:
    started = await pipeline.start_scheduled_run(await services())
    log.info("scheduled run %s: %d messages", started.run_id, started.messages)


@app.queue_trigger(arg_name="msg", queue_name=messages.QUEUE, connection="AzureWebJobsStorage")
async def tenant_job(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    await pipeline.process_message(await services(), body, message_id=msg.id or "")


@app.queue_trigger(
    arg_name="msg", queue_name=messages.POISON_QUEUE, connection="AzureWebJobsStorage"
)
async def tenant_job_poison(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    await pipeline.process_poison(await services(), body, message_id=msg.id or "")


def _respond(response: api.ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(
        response.json(),
        status_code=response.status,
        headers=response.headers,
        mimetype="application/json",
    )


def _base_url(req: func.HttpRequest) -> str:
    url = str(req.url)
    return url[: url.index("/api/")] if "/api/" in url else url.rstrip("/")


@app.route(route="runs", methods=["POST"])
async def post_runs(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await api.post_run(await services(), req.get_body(), base_url=_base_url(req)))


@app.route(route="runs", methods=["GET"])
async def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await api.list_runs(await services(), dict(req.params)))


@app.route(route="runs/{run_id}", methods=["GET"])
async def get_run(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await api.get_run(await services(), req.route_params.get("run_id", "")))


@app.route(route="bad-messages", methods=["GET"])
async def bad_messages(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await api.bad_messages(await services()))


@app.route(route="jobs", methods=["GET"])
async def list_jobs(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await api.list_jobs())


@app.route(route="tenants", methods=["GET"])
async def list_tenants(req: func.HttpRequest) -> func.HttpResponse:
    return _respond(await tenant_api.list_tenants(await services()))


@app.route(route="tenants/{tenant_id}", methods=["GET", "PUT", "PATCH", "DELETE"])
async def tenant(req: func.HttpRequest) -> func.HttpResponse:
    tenant_id = req.route_params.get("tenant_id", "")
    body = req.get_body()
    return _respond(await tenant_api.tenant(await services(), req.method, tenant_id, body))


@app.route(route="tenants/{tenant_id}/runs", methods=["GET"])
async def tenant_runs(req: func.HttpRequest) -> func.HttpResponse:
    tenant_id = req.route_params.get("tenant_id", "")
    return _respond(await tenant_api.tenant_runs(await services(), tenant_id))


@app.route(route="health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    try:
        ready = await services()
    except SettingsError as exc:
        return _respond(api.unhealthy(settings=str(exc)))
    except Exception as exc:  # storage unreachable while creating the tables: say so, never raise
        return _respond(api.unhealthy(storage=type(exc).__name__))
    return _respond(await api.health(ready))


def _page(page: onboarding.HtmlPage) -> func.HttpResponse:
    return func.HttpResponse(
        page.html(), status_code=page.status, headers=page.headers, mimetype="text/html"
    )


@app.route(route="onboard", methods=["GET"])
async def onboard(req: func.HttpRequest) -> func.HttpResponse:
    tenant, name = req.params.get("tenant"), req.params.get("name")
    ready = await services()
    return _respond(
        await onboarding.start(ready, base_url=_base_url(req), tenant=tenant, name=name)
    )


@app.route(route=onboarding.CALLBACK_ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    return _page(await onboarding.callback(await services(), dict(req.params)))


@app.route(route="tenants/{tenant_id}/check", methods=["POST"])
async def check_tenant(req: func.HttpRequest) -> func.HttpResponse:
    tenant_id = req.route_params.get("tenant_id", "")
    return _respond(await onboarding.check(await services(), tenant_id))
