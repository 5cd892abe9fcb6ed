"""Tenant ids are checked before they can reach a URL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import InvalidTenantId
from shared.ids import InvalidRunId, new_run_id, validate_run_id, validate_tenant_id


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "evil.example/",
        "",
        "a" * 37,
        "contoso.onmicrosoft.com",
        "33333333-3333-3333-3333-33333333333g",
        "33333333-3333-3333-3333-333333333333/../common",
        "{33333333-3333-3333-3333-333333333333}",
        "33333333-3333-3333-3333-333333333333\n",
        " 33333333-3333-3333-3333-333333333333",
        None,
        42,
    ],
)
def test_malformed_tenant_id_is_refused_with_a_clear_error(bad: object) -> None:
    with pytest.raises(InvalidTenantId, match="tenant id must be a GUID"):
        validate_tenant_id(bad)


def test_tenant_id_is_canonicalised_to_lower_case() -> None:
    assert (
        validate_tenant_id("ABCDEF01-2345-6789-ABCD-EF0123456789")
        == "abcdef01-2345-6789-abcd-ef0123456789"
    )


@pytest.mark.parametrize("bad", ["", "a" * 65, "run/x", "20261128T220000Z-1234abcd\n", None])
def test_malformed_run_id_is_refused(bad: object) -> None:
    with pytest.raises(InvalidRunId, match="run id must be"):
        validate_run_id(bad)


def test_a_new_run_id_is_a_valid_run_id_and_sorts_by_time() -> None:
    early = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    late = new_run_id(datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC))
    assert validate_run_id(early) == early
    assert early.startswith("20260102T030405Z-")
    assert sorted([late, early]) == [early, late]
