"""A broader Graph permission covers the narrower ones it includes."""

from __future__ import annotations

import pytest

from shared.permissions import covered, missing


@pytest.mark.parametrize(
    ("granted", "needed"),
    [
        ("User.ReadWrite.All", "User.Read.All"),
        ("User.ReadWrite.All", "User.ReadBasic.All"),
        ("Directory.ReadWrite.All", "User.ReadWrite.All"),
        ("Directory.ReadWrite.All", "GroupMember.Read.All"),
        ("Directory.Read.All", "Group.Read.All"),
        ("Group.ReadWrite.All", "GroupMember.ReadWrite.All"),
        ("Group.ReadWrite.All", "Group.Read.All"),
    ],
)
def test_a_broader_permission_covers_a_narrower_one(granted: str, needed: str) -> None:
    assert missing([needed], [granted]) == []


@pytest.mark.parametrize(
    ("granted", "needed"),
    [
        ("User.Read.All", "User.ReadWrite.All"),
        ("Directory.Read.All", "User.ReadWrite.All"),
        ("Policy.Read.All", "Policy.ReadWrite.Authorization"),
        ("GroupMember.ReadWrite.All", "Group.ReadWrite.All"),
    ],
)
def test_a_narrower_permission_never_covers_a_broader_one(granted: str, needed: str) -> None:
    assert missing([needed], [granted]) == [needed]


def test_missing_keeps_the_order_of_what_is_needed() -> None:
    needed = ["Group.ReadWrite.All", "AuditLog.Read.All", "User.Read.All"]

    assert missing(needed, ["User.ReadWrite.All"]) == ["Group.ReadWrite.All", "AuditLog.Read.All"]
    assert "User.Read.All" in covered(["Directory.ReadWrite.All"])
