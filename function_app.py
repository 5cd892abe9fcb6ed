"""The face of xtenant: every Azure Functions trigger, each thin, delegating to `shared`.

timer  scheduled_run        %SCHEDULE%          start a run: one message per tenant x job
timer  sweep                every 5 minutes     re-send or end rows left behind
queue  tenant_job           tenant-jobs         one tenant, one job, isolated
queue  tenant_job_poison    tenant-jobs-poison  a message that kept failing -> ledger
queue  deliver_event        xtenant-events      one event to one sink (shared/notify)
queue  event_undelivered    xtenant-events-poison  a delivery that kept failing -> health
http   every route under /api/, each with the app role it needs next to it (docs/security.md).
       The host lets every call in (anonymous): the app verifies the caller's Entra ID token
       itself (shared/auth). Two routes take no token: the consent callback (the redirect URI
       a customer's administrator lands on) and the liveness probe.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from shared import (
    api,
    compliance_api,
    group_api,
    logcontext,
    messages,
    notify,
    onboarding,
    pipeline,
    run_actions,
    sweeper,
    telemetry,
    tenant_api,
    worker,
)
from shared.auth.guard import Caller, Gate
from shared.auth.roles import Role
from shared.services import Services

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
logcontext.install()
# Spans and metrics to Application Insights when APPLICATIONINSIGHTS_CONNECTION_STRING is set,
# before any trigger runs (shared/telemetry; off, it costs nothing).
telemetry.configure()
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


def built() -> Services:
    """One set of clients per worker process, reused by every invocation (no I/O yet).

    They live on the worker's event loop; a loop or client per call would lose the token caches
    and the pool, and breaks msgraph-sdk (docs/decisions.md#event-loop).
    """
    global _services
    if _services is None:
        _services = Services.from_env()
    return _services


async def services() -> Services:
    """The process's services, with their tables and queue created."""
    return await built().ready()


async def shutdown() -> None:
    """Close the process's clients (the local host calls this on stop; Azure ends the process)."""
    global _services
    if _services is not None:
        await _services.close()
        _services = None


@app.timer_trigger(arg_name="timer", schedule=sweeper.SCHEDULE, run_on_startup=False)
async def sweep(timer: func.TimerRequest) -> None:
    report = await sweeper.sweep(await services(), datetime.now(UTC))
    log.info("sweep: %s", report)


@app.timer_trigger(arg_name="timer", schedule="%SCHEDULE%", run_on_startup=False)
async def scheduled_run(timer: func.TimerRequest) -> None:
    started = await pipeline.start_scheduled_run(await services())
    log.info("scheduled run %s: %d messages", started.run_id, started.messages)


@app.queue_trigger(arg_name="msg", queue_name=messages.QUEUE, connection="AzureWebJobsStorage")
async def tenant_job(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    await worker.process_message(await services(), body, message_id=msg.id or "")


@app.queue_trigger(
    arg_name="msg", queue_name=messages.POISON_QUEUE, connection="AzureWebJobsStorage"
)
async def tenant_job_poison(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode("utf-8", errors="replace")
    await worker.process_poison(await services(), body, message_id=msg.id or "")


@app.queue_trigger(arg_name="msg", queue_name=notify.EVENTS_QUEUE, connection="AzureWebJobsStorage")
async def deliver_event(msg: func.QueueMessage) -> None:
    await notify.deliver((await services()).notifier, msg.get_body())


@app.queue_trigger(
    arg_name="msg", queue_name=notify.EVENTS_POISON_QUEUE, connection="AzureWebJobsStorage"
)
async def event_undelivered(msg: func.QueueMessage) -> None:
    await notify.gave_up((await services()).notifier, msg.get_body())


def _respond(response: api.ApiResponse) -> func.HttpResponse:
    return func.HttpResponse(
        response.json(),
        status_code=response.status,
        headers=response.headers,
        mimetype="application/json",
    )


gate: Gate[func.HttpRequest, func.HttpResponse] = Gate(built, respond=_respond)


@app.route(route="runs", methods=["POST"])
@gate.requires(Role.PLAN, audit=True)  # apply runs: Role.APPLY too (api.post_run)
async def post_runs(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.post_run(
        caller.services,
        req.get_body(),
        caller=caller.principal,
        idempotency_key=req.headers.get("Idempotency-Key"),
    )


@app.route(route="runs", methods=["GET"])
@gate.requires(Role.READ)
async def list_runs(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.list_runs(caller.services, dict(req.params))


@app.route(route="runs/{run_id}", methods=["GET"])
@gate.requires(Role.READ)
async def get_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await api.get_run(caller.services, run_id, dict(req.params))


@app.route(route="runs/{run_id}/rerun", methods=["POST"])
@gate.requires(Role.PLAN, audit=True)  # a run with apply rows: Role.APPLY too (run_actions)
async def rerun(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await run_actions.rerun(
        caller.services,
        req.route_params.get("run_id", ""),
        caller=caller.principal,
        idempotency_key=req.headers.get("Idempotency-Key"),
    )


@app.route(route="runs/{run_id}/cancel", methods=["POST"])
@gate.requires(Role.PLAN, audit=True)  # a run with apply rows: Role.APPLY too (run_actions)
async def cancel_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await run_actions.cancel(caller.services, run_id, caller=caller.principal)


@app.route(route="runs/{run_id}/approve", methods=["POST"])
@gate.requires(Role.ADMIN, audit=True)  # never the requester (four eyes: run_actions)
async def approve_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await run_actions.approve(caller.services, run_id, caller=caller.principal)


@app.route(route="runs/{run_id}/reject", methods=["POST"])
@gate.requires(Role.ADMIN, audit=True)
async def reject_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await run_actions.reject(
        caller.services, run_id, req.get_body(), caller=caller.principal
    )


@app.route(route="runs/{run_id}/resume", methods=["POST"])
@gate.requires(Role.APPLY, audit=True)
async def resume_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await run_actions.resume(caller.services, run_id, caller=caller.principal)


@app.route(route="runs/{run_id}/abort", methods=["POST"])
@gate.requires(Role.APPLY, audit=True)
async def abort_run(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    run_id = req.route_params.get("run_id", "")
    return await run_actions.abort(caller.services, run_id, caller=caller.principal)


@app.route(route="bad-messages", methods=["GET"])
@gate.requires(Role.READ)
async def bad_messages(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.bad_messages(caller.services)


@app.route(route="jobs", methods=["GET"])
@gate.requires(Role.READ)
async def list_jobs(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.list_jobs()


@app.route(route="tenants", methods=["GET"])
@gate.requires(Role.READ)
async def list_tenants(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await tenant_api.list_tenants(caller.services)


@app.route(route="tenants/{tenant_id}", methods=["GET"])
@gate.requires(Role.READ)
async def get_tenant(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await tenant_api.get_tenant(caller.services, req.route_params.get("tenant_id", ""))


@app.route(route="tenants/{tenant_id}", methods=["PUT", "PATCH", "DELETE"])
@gate.requires(Role.ADMIN, audit=True)  # apply enrolments: Role.APPLY too (tenant_api)
async def change_tenant(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    tenant_id, body = req.route_params.get("tenant_id", ""), req.get_body()
    return await tenant_api.change_tenant(
        caller.services, req.method.upper(), tenant_id, body, caller=caller.principal
    )


@app.route(route="tenants/{tenant_id}/runs", methods=["GET"])
@gate.requires(Role.READ)
async def tenant_runs(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    tenant_id = req.route_params.get("tenant_id", "")
    return await tenant_api.tenant_runs(caller.services, tenant_id)


@app.route(route="groups", methods=["GET"])
@gate.requires(Role.READ)
async def list_groups(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await group_api.list_groups(caller.services)


@app.route(route="groups/{name}", methods=["GET"])
@gate.requires(Role.READ)
async def get_group(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    name = req.route_params.get("name", "")
    return await group_api.get_group(caller.services, name, dict(req.params))


@app.route(route="groups/{name}", methods=["PUT", "DELETE"])
@gate.requires(Role.ADMIN, audit=True)  # when it lets the schedule apply: Role.APPLY too
async def change_group(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    name, body = req.route_params.get("name", ""), req.get_body()
    return await group_api.change_group(
        caller.services, req.method.upper(), name, body, caller=caller.principal
    )


@app.route(route="tenants/{tenant_id}/compliance", methods=["GET"])
@gate.requires(Role.READ)
async def tenant_compliance(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    tenant_id = req.route_params.get("tenant_id", "")
    return await compliance_api.tenant_compliance(caller.services, tenant_id)


@app.route(route="tenants/{tenant_id}/exceptions/{standard}/{setting}", methods=["PUT", "DELETE"])
@gate.requires(Role.ADMIN, audit=True)
async def change_exception(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    tenant_id, standard, setting = (
        req.route_params.get(k, "") for k in ("tenant_id", "standard", "setting")
    )
    if req.method.upper() == "DELETE":
        return await compliance_api.withdraw(caller.services, tenant_id, standard, setting)
    return await compliance_api.accept(
        caller.services, tenant_id, standard, setting, req.get_body(), caller=caller.principal
    )


@app.route(route="compliance", methods=["GET"])
@gate.requires(Role.READ)
async def compliance(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await compliance_api.overview(caller.services, dict(req.params))


@app.route(route="drift", methods=["GET"])
@gate.requires(Role.READ)
async def drift(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await compliance_api.drift(caller.services, dict(req.params))


@app.route(route="tenants/{tenant_id}/check", methods=["POST"])
@gate.requires(Role.PLAN, audit=True)
async def check_tenant(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await onboarding.check(caller.services, req.route_params.get("tenant_id", ""))


@app.route(route="onboard", methods=["GET"])
@gate.requires(Role.ADMIN, audit=True)  # issues a consent link: audited although a GET
async def onboard(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    tenant, name = req.params.get("tenant"), req.params.get("name")
    return await onboarding.start(
        caller.services, tenant=tenant, name=name, issued_by=caller.principal
    )


@app.route(route="audit", methods=["GET"])
@gate.requires(Role.ADMIN)
async def audit_trail(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.list_audit(caller.services, dict(req.params))


@app.route(route="health", methods=["GET"])
@gate.requires(Role.READ)
async def health(req: func.HttpRequest, caller: Caller) -> api.ApiResponse:
    return await api.health(caller.services)


@app.route(route="health/live", methods=["GET"])
async def health_live(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: up or not, and nothing else (no settings, versions or error text)."""
    try:
        await services()
    except Exception:
        log.exception("liveness: the app cannot serve")
        return _respond(api.ApiResponse(503, {"status": "unavailable"}))
    return _respond(api.ApiResponse(200, {"status": "ok"}))


def _page(page: onboarding.HtmlPage) -> func.HttpResponse:
    return func.HttpResponse(
        page.html(), status_code=page.status, headers=page.headers, mimetype="text/html"
    )


@app.route(route=onboarding.CALLBACK_ROUTE, methods=["GET"])
async def consent_callback(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous: Entra redirects the customer's administrator here (shared/onboarding.py)."""
    return _page(await onboarding.callback(await services(), dict(req.params)))


# --- The operator console (shared/console): HTML pages for people, under /api/console ---------
# Anonymous at the host, like the API: the console checks its own session cookie, the CSRF token
# of every form and the operator's app roles on every call, then calls the same shared
# functions as the API routes above. Its modules (Jinja2, MSAL) load with the first page.


@app.route(route="console/{*path}", methods=["GET", "POST"])
async def console(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console.app import serve

    answer = await serve(built, req)
    return func.HttpResponse(
        answer.body, status_code=answer.status, headers=answer.headers, mimetype=answer.mimetype
    )
