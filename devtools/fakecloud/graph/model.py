"""The directory objects the emulator keeps: users and groups, as Graph shapes them.

Objects are frozen; the directory replaces them on update, so a reader never sees half a
change. `*_record` gives the Graph property bag with Python values (datetimes stay datetimes,
for $filter); `to_json` turns a record into what goes on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"


@dataclass(frozen=True)
class SignInActivity:
    """signInActivity (https://learn.microsoft.com/graph/api/resources/signinactivity)."""

    last_sign_in: datetime | None
    last_non_interactive: datetime | None = None
    last_successful: datetime | None = None


@dataclass(frozen=True)
class User:
    id: str
    user_principal_name: str
    display_name: str
    mail: str | None
    mail_nickname: str
    user_type: str  # "Member" | "Guest"
    account_enabled: bool
    created: datetime
    external_user_state: str | None = None
    sign_in: SignInActivity | None = None


@dataclass(frozen=True)
class Group:
    id: str
    display_name: str
    mail_nickname: str
    description: str | None
    security_enabled: bool
    mail_enabled: bool
    created: datetime
    group_types: tuple[str, ...] = ()
    visibility: str | None = None
    member_ids: tuple[str, ...] = field(default=())


def iso(moment: datetime) -> str:
    """Graph's DateTimeOffset form: UTC, whole seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: str) -> datetime:
    """ISO 8601 with `Z`, an offset, or a bare date (taken as midnight UTC)."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def sign_in_record(activity: SignInActivity | None) -> dict[str, Any] | None:
    if activity is None:
        return None
    return {
        "lastSignInDateTime": activity.last_sign_in,
        "lastSignInRequestId": None,
        "lastNonInteractiveSignInDateTime": activity.last_non_interactive,
        "lastNonInteractiveSignInRequestId": None,
        "lastSuccessfulSignInDateTime": activity.last_successful,
        "lastSuccessfulSignInRequestId": None,
    }


def user_record(user: User) -> dict[str, Any]:
    """Every user property the emulator knows; unmodelled profile fields are null."""
    return {
        "id": user.id,
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": None,
        "jobTitle": None,
        "mail": user.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": None,
        "userPrincipalName": user.user_principal_name,
        "accountEnabled": user.account_enabled,
        "createdDateTime": user.created,
        "creationType": "Invitation" if user.user_type == "Guest" else None,
        "externalUserState": user.external_user_state,
        "mailNickname": user.mail_nickname,
        "userType": user.user_type,
        "signInActivity": sign_in_record(user.sign_in),
    }


def group_record(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": group.created,
        "description": group.description,
        "displayName": group.display_name,
        "groupTypes": list(group.group_types),
        "isAssignableToRole": None,
        "mail": None,
        "mailEnabled": group.mail_enabled,
        "mailNickname": group.mail_nickname,
        "proxyAddresses": [],
        "securityEnabled": group.security_enabled,
        "visibility": group.visibility,
    }


def to_json(value: Any) -> Any:
    """A record (or any part of one) as JSON-ready data."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value
