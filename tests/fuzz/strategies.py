"""What the fuzz tests send: any JSON, near-valid bodies with a wrong value in any field, and the
inputs that broke the app before (deep nesting, ids ending in a newline, huge strings).

A "field" strategy draws the valid value or something else in its place: another JSON type, an
id with a trailing newline, a huge string. Drawn per field, so one body can be wrong anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

#: Bounded and repeatable: the same examples on every run, no shrinking (a failing property
#: shows the first failing input instead of searching for a smaller one, which would cost
#: minutes of storage calls), and no example database written into the checkout.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)

#: The tenant the fuzz fixtures register (tests/fuzz/conftest.py) and the bodies name.
FUZZ_TENANT = "f0220000-0000-4000-8000-00000000f022"
JOB_NAMES = ("guest-cleanup", "ensure-group", "tenant-baseline")
VALID_PARAMS: dict[str, dict[str, Any]] = {
    "guest-cleanup": {"days": 90},
    "ensure-group": {
        "mail_nickname": "fuzz-helpdesk",
        "display_name": "Helpdesk",
        "members": ["adele@contoso.example"],
    },
    "tenant-baseline": {},
}
#: Deeper than Python's recursion limit: json.loads raises RecursionError, not ValueError.
DEEP = 5_000
HUGE = 1_100_000  # past the 64 KiB of a queue message and a Table string property


@dataclass(frozen=True)
class Body:
    """A request or queue message body; its repr is short, as a failing example prints it."""

    data: bytes

    @classmethod
    def of(cls, value: bytes | str) -> Body:
        return cls(value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value)

    @property
    def text(self) -> str:
        """As the host hands a queue message to the worker: UTF-8, bad bytes replaced."""
        return self.data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        more = f"... {len(self.data)} bytes" if len(self.data) > 120 else ""
        return f"Body({self.data[:120]!r}{more})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis prints a failing example: the short repr."""
        printer.text(repr(self))


def deep_json(depth: int = DEEP, opener: str = "[") -> str:
    """`[[[...]]]` or `{"a":{"a":...}}`, `depth` levels deep."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)
guids = st.uuids(version=4).map(str)
odd_ids = st.one_of(
    guids.map(lambda g: g + "\n"),
    guids.map(str.upper),
    guids.map(lambda g: " " + g),
    guids.map(lambda g: g.replace("-", "")),
    st.sampled_from(["", "all", "../x", "a" * 37, "00000000-0000-0000-0000-00000000000\n"]),
    st.text(max_size=40),
)
huge_strings = st.sampled_from([70_000, HUGE]).map(lambda n: "x" * n)


def field(valid: Any) -> st.SearchStrategy[Any]:
    """The valid value, or anything in its place (another type, an odd id, a huge string)."""
    return st.one_of(st.just(valid), json_values, odd_ids, huge_strings)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


deeply_nested = st.sampled_from(["[", "{"]).map(lambda opener: deep_json(DEEP, opener))
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    deeply_nested.map(str.encode),
    json_values.map(encoded),
)


MODES = st.sampled_from(["plan", "apply"])
NO_SUCH_RUN = "20260101T000000Z-0badc0de"
#: What a host hands the worker as text: anything (a body it could not base64-decode, too).
raw_texts = st.one_of(
    st.text(max_size=64),
    st.sampled_from(["%%% not base64 %%%", "eyJ2Ijo", "nul \x00 and \x01 bytes"]),
    deeply_nested,
    json_values.map(json.dumps),
)


def run_requests(tenant_id: str = FUZZ_TENANT) -> st.SearchStrategy[Body]:
    """POST /api/runs bodies: near-valid ones (a job, its params, one registered tenant) with
    any field wrong or extra, and raw bodies."""
    near_valid = st.sampled_from(JOB_NAMES).flatmap(
        lambda job: st.fixed_dictionaries(
            {
                "job": field(job),
                "mode": field("plan"),
                "tenants": field([tenant_id]),
                "params": field(VALID_PARAMS[job]),
            },
            optional={"requested_by": json_values, "extra": json_values},
        )
    )
    return st.one_of(near_valid.map(encoded), raw_bodies).map(Body.of)


def enrolments() -> st.SearchStrategy[Any]:
    spec = st.sampled_from(JOB_NAMES).flatmap(
        lambda job: st.fixed_dictionaries(
            {"mode": field("apply"), "params": field(VALID_PARAMS[job])},
            optional={"schedule": json_values},
        ).map(lambda body: (job, body))
    )
    valid_shape = st.lists(spec, max_size=3).map(dict)
    return st.one_of(valid_shape, st.dictionaries(st.text(max_size=20), json_values, max_size=3))


def tenant_bodies() -> st.SearchStrategy[Body]:
    """PUT and PATCH /api/tenants/{id} bodies: near-valid tenants with any field wrong or extra,
    and raw bodies."""
    near_valid = st.fixed_dictionaries(
        {"name": field("Contoso"), "enabled": field(True), "enrolments": enrolments()},
        optional={
            "tenant_id": odd_ids,
            "tags": field(["tier:gold", "region:eu"]),
            "health": json_values,
            "job_health": json_values,
            "extra": json_values,
        },
    )
    return st.one_of(near_valid.map(encoded), raw_bodies).map(Body.of)


def group_bodies(tenant_id: str = FUZZ_TENANT) -> st.SearchStrategy[Body]:
    """PUT /api/groups/{name} bodies: near-valid static or dynamic groups with any field wrong
    or extra, and raw bodies."""
    rule = st.fixed_dictionaries(
        {},
        optional={
            "tags_all": field(["tier:gold"]),
            "tags_any": field(["region:eu"]),
            "plans_any": field(["AAD_PREMIUM"]),
            "cloud": field("public"),
            "extra": json_values,
        },
    )
    near_valid = st.fixed_dictionaries(
        {"enrolments": enrolments()},
        optional={
            "description": field("pilot tenants"),
            "tenants": field([tenant_id]),
            "rule": st.one_of(rule, json_values),
            "name": odd_ids,
            "extra": json_values,
        },
    )
    return st.one_of(near_valid.map(encoded), raw_bodies).map(Body.of)


def queue_messages(run_id: str, tenant_id: str) -> st.SearchStrategy[Body]:
    """Queue message bodies: near-valid messages (for the known run and tenant, or for a run or
    tenant no one asked for) with any field wrong or extra, and raw text."""
    near_valid = st.sampled_from(JOB_NAMES).flatmap(
        lambda job: st.fixed_dictionaries(
            {
                "v": field(2),
                "run_id": st.one_of(field(run_id), st.just(NO_SUCH_RUN)),
                "tenant_id": st.one_of(field(tenant_id), guids),
                "job": field(job),
                "mode": field("plan"),
                "params": field(VALID_PARAMS[job]),
                "origin": field("manual"),
                "requested_at": field("2026-01-01T00:00:00+00:00"),
                "requested_by": field("api"),
            },
            optional={"extra": json_values},
        )
    )
    return st.one_of(near_valid.map(json.dumps), raw_texts).map(Body.of)


@dataclass(frozen=True)
class UnaskedMessage:
    """A well-formed message (every field valid) for a tenant the run never recorded."""

    tenant_id: str
    job: str
    run_id: str
    mode: str

    @property
    def body(self) -> Body:
        message = {
            "v": 2,
            "run_id": self.run_id,
            "tenant_id": self.tenant_id,
            "job": self.job,
            "mode": self.mode,
            "params": VALID_PARAMS[self.job],
            "origin": "manual",
            "requested_at": "2026-01-01T00:00:00+00:00",
            "requested_by": "api",
        }
        return Body.of(json.dumps(message))


def unasked_messages(run_id: str, registered: str) -> st.SearchStrategy[UnaskedMessage]:
    """Rows `run_id` never recorded: a fresh tenant in it (or in a run that does not exist),
    and the registered tenant in a job the run did not ask of it (the run has its
    guest-cleanup only) or in a run that does not exist."""
    return st.one_of(
        st.builds(
            UnaskedMessage,
            tenant_id=guids,
            job=st.sampled_from(JOB_NAMES),
            run_id=st.sampled_from([run_id, NO_SUCH_RUN]),
            mode=MODES,
        ),
        st.builds(
            UnaskedMessage,
            tenant_id=st.just(registered),
            job=st.sampled_from(["ensure-group", "tenant-baseline"]),
            run_id=st.just(run_id),
            mode=MODES,
        ),
        st.builds(
            UnaskedMessage,
            tenant_id=st.just(registered),
            job=st.sampled_from(JOB_NAMES),
            run_id=st.just(NO_SUCH_RUN),
            mode=MODES,
        ),
    )
