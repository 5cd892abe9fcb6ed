"""Job parameters: each job's JSON Schema, every bad field in one error, JSON types as declared."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared import api
from shared.jobs import JOBS, InvalidParams, get_job

ROOT = Path(__file__).resolve().parents[2]


def problems(job: str, raw: Any) -> list[str]:
    with pytest.raises(InvalidParams) as caught:
        get_job(job).parse_params(raw)
    return caught.value.problems


def test_every_schema_lists_each_field_with_a_description_and_refuses_unknown_fields() -> None:
    for job in JOBS.values():
        schema = job.params_schema()

        fields = [f.name for f in dataclasses.fields(job.params_type)]
        assert schema["type"] == "object"
        assert list(schema["properties"]) == fields
        assert all(len(p["description"]) > 20 for p in schema["properties"].values())
        assert schema["additionalProperties"] is False


def test_guest_cleanup_schema_gives_days_with_its_default_and_range() -> None:
    properties = get_job("guest-cleanup").params_schema()["properties"]

    days = properties["days"]
    assert (days["type"], days["default"], days["minimum"], days["maximum"]) == (
        "integer",
        90,
        1,
        3650,
    )
    for name in ("exclude_upns", "exclude_domains"):
        assert properties[name]["type"] == "array"
        assert properties[name]["items"] == {"type": "string"}
        assert properties[name]["default"] == []


def test_ensure_group_schema_requires_nickname_and_name() -> None:
    schema = get_job("ensure-group").params_schema()
    properties = schema["properties"]

    assert schema["required"] == ["mail_nickname", "display_name"]
    assert properties["display_name"]["maxLength"] == 256
    assert properties["description"]["default"] == ""
    assert properties["members"]["type"] == "array"
    assert properties["members"]["default"] == []


def test_tenant_baseline_schema_gives_the_choices_and_null_for_unmanaged() -> None:
    properties = get_job("tenant-baseline").params_schema()["properties"]

    invites = properties["allow_invites_from"]
    assert invites["default"] == "adminsAndGuestInviters"
    assert {"type": "null"} in invites["anyOf"]
    assert {"enum": ["none", "low_risk", "all"], "type": "string"} in properties["user_consent"][
        "anyOf"
    ]
    assert properties["user_consent"]["default"] == "low_risk"
    apps = properties["users_can_create_apps"]
    assert apps["default"] is False
    assert {"type": "boolean"} in apps["anyOf"]


def test_types_ranges_and_formats_are_reported_together() -> None:
    found = problems(
        "guest-cleanup", {"days": 0, "exclude_upns": "ceo@contoso.com", "exclude_domains": ["a@b"]}
    )

    assert found == [
        "days must be between 1 and 3650",
        "exclude_upns must be a list",
        "exclude_domains items must be bare domains like fabrikam.com",
    ]


def test_every_bad_ensure_group_field_is_named_once_in_one_error() -> None:
    found = problems(
        "ensure-group",
        {
            "mail_nickname": "has space",
            "display_name": "  ",
            "description": 7,
            "members": ["bob", "carol", "dave@contoso.com"],
            "owner": "alice",
        },
    )

    assert found == [
        "mail_nickname must be 1-64 ASCII letters, digits or -_. (no spaces, @)",
        "display_name must not be blank",
        "description must be a string",
        "members must be user principal names like alice@contoso.com, at most 256 characters",
        "unknown field 'owner'",
    ]


def test_every_bad_tenant_baseline_field_is_named_in_one_error() -> None:
    found = problems(
        "tenant-baseline",
        {"allow_invites_from": "anyone", "users_can_create_tenants": "no", "user_consent": 1},
    )

    assert found == [
        "allow_invites_from must be one of 'none', 'adminsAndGuestInviters', "
        "'adminsGuestInvitersAndAllMembers' or 'everyone'",
        "users_can_create_tenants must be true or false",
        "user_consent must be one of 'none', 'low_risk' or 'all'",
    ]


@pytest.mark.parametrize("days", ["90", 90.0, True])
def test_an_integer_must_be_a_json_integer(days: Any) -> None:
    assert problems("guest-cleanup", {"days": days}) == ["days must be an integer"]


@pytest.mark.parametrize("value", [1, "true"])
def test_a_boolean_must_be_json_true_or_false(value: Any) -> None:
    found = problems("tenant-baseline", {"users_can_create_apps": value})

    assert found == ["users_can_create_apps must be true or false"]


def test_list_items_of_the_wrong_type_are_named_by_their_field() -> None:
    assert problems("guest-cleanup", {"exclude_upns": ["a@b.com", 7]}) == [
        "exclude_upns items: must be a string"
    ]


def test_params_that_are_not_an_object_are_refused() -> None:
    assert problems("guest-cleanup", ["days", 30]) == ["params must be a JSON object, got list"]


def test_null_leaves_a_baseline_setting_unmanaged() -> None:
    params = get_job("tenant-baseline").parse_params({"user_consent": None})

    assert params.user_consent is None
    assert params.users_can_create_apps is False


def test_long_display_name_is_refused_with_the_limit() -> None:
    found = problems("ensure-group", {"mail_nickname": "ops", "display_name": "x" * 257})

    assert found == ["display_name must be at most 256 characters"]


async def test_jobs_endpoint_lists_name_description_permissions_and_schema() -> None:
    response = await api.list_jobs()

    assert response.status == 200
    assert isinstance(response.body, dict)
    listed = {job["name"]: job for job in response.body["jobs"]}
    assert set(listed) == set(JOBS)
    for name, job in JOBS.items():
        assert listed[name]["description"] == job.description
        assert listed[name]["permissions"] == list(job.permissions)
        assert listed[name]["params_schema"] == job.params_schema()


def test_importing_the_app_leaves_pydantic_for_the_first_parse() -> None:
    """Every cold start imports function_app; pydantic costs ~50 ms more if it comes along."""
    code = "import sys, function_app; print(sorted(m for m in sys.modules if 'pydantic' in m))"

    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )

    assert loaded.stdout.strip() == "[]"
