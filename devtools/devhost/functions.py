"""Find a v2 app's functions and turn each into something the dev host can run.

Like the Python worker's indexing: the module must hold exactly one `FunctionApp`; each function's
bindings come from `get_function_json()`, its callable from `get_user_function()`, and the
callable is called with one keyword argument per binding name. `%NAME%` in binding properties is
resolved from the app settings. Supported: timerTrigger, queueTrigger, httpTrigger and the http
output (`$return`). Every other binding (queue/blob/table outputs, inputs, other triggers) and a
`context` parameter are reported at start, all together, rather than silently ignored.

Refused as the worker refuses them (azure-functions-python-worker, `functions.py` and
`dispatcher.py`; azure-functions-runtime for Python 3.13):
- annotations that do not resolve, or do not fit their binding (`annotations.py`): a name
  imported only under `TYPE_CHECKING` (with `from __future__ import annotations`) raises
  NameError in the worker's `typing.get_type_hints` and no function loads;
- a function without a `$return` binding (queue, timer) that returns anything but None: that
  invocation fails with RuntimeError, so a queue message is retried and then poisoned.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import azure.functions as func

from devtools.devhost.annotations import annotation_problems, resolve_annotations
from devtools.devhost.config import DevHostError, resolve_setting_references
from devtools.devhost.ncrontab import Schedule, parse_schedule

SUPPORTED = "timerTrigger, queueTrigger, httpTrigger (with its http output)"
DEFAULT_CONNECTION = "AzureWebJobsStorage"


class FunctionTimeoutError(Exception):
    """The function ran past host.json's functionTimeout (a sync one's thread runs on)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"timed out after functionTimeout {timeout_s:g} s")


@dataclass(frozen=True)
class UserFunction:
    """A function's name and its Python callable, called the way the worker calls it."""

    name: str
    callable: Callable[..., Any]
    trigger_arg: str
    has_return: bool  # a `$return` binding (HTTP's response); without one, None is the only result

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.callable)

    async def call(self, trigger_value: Any, executor: Executor, timeout_s: float | None) -> Any:
        """Await an async function on this loop; run a sync one on the worker thread pool."""
        arguments = {self.trigger_arg: trigger_value}
        if self.is_async:
            running = self.callable(**arguments)
        else:
            loop = asyncio.get_running_loop()
            running = loop.run_in_executor(executor, functools.partial(self.callable, **arguments))
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                result = await running
        except TimeoutError:
            if deadline.expired():  # not a TimeoutError the function raised itself
                raise FunctionTimeoutError(timeout_s or 0.0) from None
            raise
        if result is not None and not self.has_return:
            # The worker's own check, after the call: the invocation fails.
            raise RuntimeError(
                f"function {self.name!r} without a $return binding returned a non-None value"
            )
        return result


@dataclass(frozen=True)
class TimerFunction:
    function: UserFunction
    schedule: Schedule
    schedule_text: str
    run_on_startup: bool


@dataclass(frozen=True)
class QueueFunction:
    function: UserFunction
    queue_name: str
    connection: str  # the setting that holds the connection string


@dataclass(frozen=True)
class HttpFunction:
    function: UserFunction
    route: str
    methods: frozenset[str] | None  # None: every method
    auth_level: str  # "anonymous", "function" or "admin"


@dataclass(frozen=True)
class AppFunctions:
    timers: tuple[TimerFunction, ...]
    queues: tuple[QueueFunction, ...]
    http: tuple[HttpFunction, ...]


def import_app_module(app_module: str | ModuleType) -> ModuleType:
    if isinstance(app_module, ModuleType):
        return app_module
    try:
        return importlib.import_module(app_module)
    except ImportError as error:
        raise DevHostError([f"cannot import app module {app_module!r}: {error}"]) from error


def find_function_app(module: ModuleType) -> func.FunctionApp:
    """The module's one FunctionApp (the worker refuses none, or more than one)."""
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise DevHostError([f"{module.__name__} defines {len(apps)} FunctionApp objects, not 1"])
    app = apps[0]
    if not isinstance(app, func.FunctionApp):
        raise DevHostError([f"{module.__name__}: {type(app).__name__} is not a FunctionApp"])
    return app


def discover(app: func.FunctionApp, settings: Mapping[str, str]) -> AppFunctions:
    """Every function of `app` as a runnable spec, or a DevHostError listing every problem."""
    # get_functions() remembers the names it has seen and rejects them the second time it is
    # called on the same app (azure-functions 1.26, validate_function_names); a module imported
    # once can back several dev hosts (tests), so forget them first.
    app.functions_bindings = None
    functions = app.get_functions()
    resolve_annotations(functions)
    problems: list[str] = []
    timers, queues, http = [], [], []
    for function in functions:
        spec = _spec(function, settings, problems)
        if isinstance(spec, TimerFunction):
            timers.append(spec)
        elif isinstance(spec, QueueFunction):
            queues.append(spec)
        elif isinstance(spec, HttpFunction):
            http.append(spec)
    if problems:
        raise DevHostError(problems)
    return AppFunctions(tuple(timers), tuple(queues), tuple(http))


def _spec(
    function: func.Function, settings: Mapping[str, str], problems: list[str]
) -> TimerFunction | QueueFunction | HttpFunction | None:
    name = str(function.get_function_name())
    bindings = json.loads(function.get_function_json())["bindings"]
    unresolved = [p for b in bindings for p in _resolve(b, settings, name)]
    problems += unresolved
    trigger = next((b for b in bindings if str(b.get("type", "")).endswith("Trigger")), None)
    unsupported = [b for b in bindings if b is not trigger and not _is_http_return(b)]
    for binding in unsupported:
        problems.append(
            f"function {name}: binding {binding.get('name')!r} of type {binding.get('type')!r} "
            f"({str(binding.get('direction', '')).lower()}) is not supported by the dev host; "
            f"supported: {SUPPORTED}"
        )
    if trigger is None:
        problems.append(f"function {name} has no trigger")
        return None
    returned = next((b for b in bindings if b.get("name") == "$return"), None)
    user_function = UserFunction(
        name, function.get_user_function(), str(trigger["name"]), returned is not None
    )
    _check_parameters(user_function, bindings, problems)
    problems += annotation_problems(name, user_function.callable, trigger, returned)
    return None if unresolved else _trigger_spec(user_function, trigger, problems)


def _resolve(binding: dict[str, Any], settings: Mapping[str, str], function: str) -> list[str]:
    """Resolve `%NAME%` in the binding's string properties in place; a problem per missing name."""
    problems = []
    for key, value in binding.items():
        if isinstance(value, str):
            binding[key], missing = resolve_setting_references(value, settings)
            problems += [
                f"function {function}: {key} '%{name}%' names no app setting" for name in missing
            ]
    return problems


def _is_http_return(binding: Mapping[str, Any]) -> bool:
    return binding.get("type") == "http" and str(binding.get("direction", "")).upper() == "OUT"


def _check_parameters(
    function: UserFunction, bindings: list[dict[str, Any]], problems: list[str]
) -> None:
    """Each parameter must be a binding; the worker would also pass `context`, we do not."""
    declared = {str(b.get("name")) for b in bindings}
    for parameter in inspect.signature(function.callable).parameters:
        if parameter == "context" and parameter not in declared:
            problems.append(f"function {function.name}: a 'context' parameter is not supported")
        elif parameter not in declared:
            problems.append(f"function {function.name}: parameter {parameter!r} has no binding")


def _trigger_spec(
    function: UserFunction, trigger: Mapping[str, Any], problems: list[str]
) -> TimerFunction | QueueFunction | HttpFunction | None:
    kind = trigger.get("type")
    if kind == "timerTrigger":
        return _timer_spec(function, trigger, problems)
    if kind == "queueTrigger":
        connection = str(trigger.get("connection") or DEFAULT_CONNECTION)
        return QueueFunction(function, str(trigger["queueName"]), connection)
    if kind == "httpTrigger":
        methods = trigger.get("methods")
        return HttpFunction(
            function,
            route=str(trigger.get("route") or function.name).strip("/"),
            methods=frozenset(str(m).upper() for m in methods) if methods else None,
            auth_level=str(trigger.get("authLevel") or "function").lower(),
        )
    problems.append(f"function {function.name}: trigger {kind!r} is not supported ({SUPPORTED})")
    return None


def _timer_spec(
    function: UserFunction, trigger: Mapping[str, Any], problems: list[str]
) -> TimerFunction | None:
    text = str(trigger.get("schedule", ""))
    try:
        schedule = parse_schedule(text)
        schedule.next_after(datetime.now(UTC))  # "0 0 0 30 2 *" parses but never runs
    except ValueError as error:
        problems.append(f"function {function.name}: schedule {text!r}: {error}")
        return None
    return TimerFunction(function, schedule, text, bool(trigger.get("runOnStartup", False)))
