"""Tenant ids are checked before they can reach a URL."""

from __future__ import annotations

import pytest

from shared.errors import InvalidTenantId
from shared.identity import validate_tenant_id


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
    ],
)
def test_malformed_tenant_id_is_refused_with_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidTenantId, match="tenant id must be a GUID"):
        validate_tenant_id(bad)


def test_tenant_id_is_canonicalised_to_lower_case() -> None:
    assert (
        validate_tenant_id(" ABCDEF01-2345-6789-ABCD-EF0123456789 ")
        == "abcdef01-2345-6789-abcd-ef0123456789"
    )
