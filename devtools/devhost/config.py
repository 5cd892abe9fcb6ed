"""What the dev host reads before it runs anything: app settings and host.json, checked once.

Settings are `local.settings.json`'s `Values` (Core Tools' file). host.json options follow the
Functions host's names and defaults (host.json reference, "queues" and "functionTimeout"):
https://learn.microsoft.com/azure/azure-functions/functions-host-json
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Flex Consumption's default functionTimeout; host.json usually sets its own.
DEFAULT_FUNCTION_TIMEOUT_S = 30 * 60.0
# The dev host polls an empty queue at most this often by default (Azure's default is 1 min,
# which would make a local run wait for nothing).
DEFAULT_MAX_POLLING_INTERVAL_S = 1.0
MAX_BATCH_SIZE = 32  # Queue service: at most 32 messages per Get Messages call

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")
_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


class DevHostError(RuntimeError):
    """The app or its configuration cannot run on the dev host; `problems` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    message_encoding: str = "base64"
    max_polling_interval_s: float = DEFAULT_MAX_POLLING_INTERVAL_S


@dataclass(frozen=True)
class HostOptions:
    queues: QueueOptions
    function_timeout_s: float | None  # None: "-1", no limit
    route_prefix: str = "api"


def load_settings_file(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json file, every value as a string."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DevHostError([f"cannot read settings file {path}: {error}"]) from error
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise DevHostError([f"{path}: 'Values' must be an object of setting names to strings"])
    return {str(name): _setting_text(value) for name, value in values.items()}


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def resolve_setting_references(text: str, settings: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` with each `%NAME%` replaced by the setting NAME, as the host resolves binding
    properties; and the names that no setting has (those stay as they were)."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            missing.append(name)
            return match.group(0)
        return settings[name]

    return _SETTING_REFERENCE.sub(replace, text), missing


def parse_timespan(text: str) -> float:
    """Seconds in a .NET TimeSpan string: `hh:mm:ss[.fffffff]` or `d.hh:mm:ss`."""
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a TimeSpan like 00:05:00")
    days, hours, minutes, seconds, fraction = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


def load_host_json(path: Path) -> HostOptions:
    """host.json's queue options, functionTimeout and HTTP route prefix, or every problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DevHostError([f"cannot read host.json {path}: {error}"]) from error
    problems: list[str] = []
    extensions = _object(document, "extensions", problems)
    queues = _queue_options(_object(extensions, "queues", problems), problems)
    timeout = _function_timeout(document.get("functionTimeout"), problems)
    http = _object(extensions, "http", problems)
    route_prefix = str(http.get("routePrefix", "api")).strip("/")
    if problems:
        raise DevHostError([f"{path}: {problem}" for problem in problems])
    return HostOptions(queues=queues, function_timeout_s=timeout, route_prefix=route_prefix)


def _object(parent: Mapping[str, Any], key: str, problems: list[str]) -> Mapping[str, Any]:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"'{key}' must be an object")
        return {}
    return value


def _function_timeout(value: Any, problems: list[str]) -> float | None:
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT_S
    if str(value).strip() == "-1":
        return None
    try:
        return parse_timespan(str(value))
    except ValueError as error:
        problems.append(f"functionTimeout: {error}")
        return DEFAULT_FUNCTION_TIMEOUT_S


def _queue_options(section: Mapping[str, Any], problems: list[str]) -> QueueOptions:
    batch_size = _integer(section, "batchSize", 16, problems, low=1, high=MAX_BATCH_SIZE)
    threshold = _integer(section, "newBatchThreshold", batch_size // 2, problems, low=0)
    max_dequeue = _integer(section, "maxDequeueCount", 5, problems, low=1)
    visibility = _timespan(section, "visibilityTimeout", 0.0, problems)
    polling = _timespan(section, "maxPollingInterval", DEFAULT_MAX_POLLING_INTERVAL_S, problems)
    encoding = str(section.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        problems.append(f"messageEncoding must be base64 or none, not {encoding!r}")
    return QueueOptions(batch_size, threshold, max_dequeue, visibility, encoding, polling)


def _integer(
    section: Mapping[str, Any],
    key: str,
    default: int,
    problems: list[str],
    *,
    low: int,
    high: int | None = None,
) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        problems.append(f"queues.{key} must be an integer >= {low}, not {value!r}")
        return default
    if high is not None and value > high:
        problems.append(f"queues.{key} must be at most {high}, not {value}")
        return default
    return value


def _timespan(section: Mapping[str, Any], key: str, default: float, problems: list[str]) -> float:
    value = section.get(key)
    if value is None:
        return default
    try:
        return parse_timespan(str(value))
    except ValueError as error:
        problems.append(f"queues.{key}: {error}")
        return default
