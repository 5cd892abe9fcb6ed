"""Build a tenant's directory from its scenario `graph` object.

Keys (all optional):
  domain                     initial domain; default `t<first 8 hex of tid>.onmicrosoft.com`
  as_of                      ISO time the generated sign-in ages are relative to (default: now)
  skus                       the tenant's subscriptions by SKU part number (graph/licences.py);
                             default ["SPB"] (Microsoft 365 Business Premium: Entra ID P1)
  sign_in_activity_licensed  false (and no skus) = ["O365_BUSINESS_ESSENTIALS"]: no Entra ID
                             P1/P2, so signInActivity answers 403
  authorization_policy       partial authorizationPolicy, merged over Graph's defaults
  conditional_access_policies  [Conditional Access policy as Graph shapes it: displayName,
                             state, conditions, grantControls, sessionControls?; id? (GUID),
                             createdDateTime?] — validated as a create is (graph/
                             conditional_access.py); risk conditions need an Entra ID P2 SKU
  security_defaults          whether security defaults are on (default false); true with an
                             `enabled` policy is refused, as Entra refuses it
  role_assignments           [{principal: userPrincipalName (domain optional) | object id,
                             roleDefinitionId: role template id, directoryScopeId?: "/"}]
  authentication_methods     {policy?: partial authenticationMethodsPolicy (policyMigrationState,
                             registrationEnforcement, reconfirmationInDays), methods?: {<method
                             id, e.g. sms, fido2>: partial configuration (state, includeTargets,
                             excludeTargets, the method's own settings)}}, merged over a new
                             tenant's (graph/auth_methods.py), validated as a PATCH would be
  sharepoint_settings        partial /admin/sharepoint/settings, merged over a new tenant's
                             (graph/sharepoint.py); the tenant's skus must include a SharePoint
                             Online plan
  users   [{userPrincipalName, displayName?, userType?, accountEnabled?, createdDateTime?,
            lastSignInDateTime?, lastNonInteractiveSignInDateTime?, mail?, mailNickname?,
            externalUserState?, id?}]   (no lastSignInDateTime = never signed in)
  groups  [{displayName, mailNickname, description?, securityEnabled?, mailEnabled?,
            members?: [userPrincipalName (domain optional) | object id], id?}]
  generate {members, guests, stale_guests, never_signed_in_guests, seed, guest_domain}
           `guests` is the total number of guests; the first `stale_guests` of them last signed
           in 200-500 days ago, the next `never_signed_in_guests` never did, the rest within the
           last 10 days. Members all signed in within 10 days. Same seed and domain, same ids.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from devtools.fakecloud.graph import auth_methods, conditional_access, licences, sharepoint
from devtools.fakecloud.graph.directory import TenantDirectory, graph_time, utc_now
from devtools.fakecloud.graph.errors import GraphError
from devtools.fakecloud.graph.model import Group, SignInActivity, User, parse_datetime

_KEYS = {
    "domain",
    "as_of",
    "sign_in_activity_licensed",
    "skus",
    "authorization_policy",
    "conditional_access_policies",
    "security_defaults",
    "role_assignments",
    "authentication_methods",
    "sharepoint_settings",
    "users",
    "groups",
    "generate",
}
_GENERATE_KEYS = {
    "members",
    "guests",
    "stale_guests",
    "never_signed_in_guests",
    "seed",
    "guest_domain",
}
_SIGN_IN_AGE_DAYS = {"stale": (200, 500), "fresh": (0, 10)}
_NAMESPACE = uuid.UUID("6f1c1a55-7a4e-4d2b-9c55-0a1fa6ec0d11")


def directory_from_scenario(
    spec: Mapping[str, Any], *, tenant_id: str | None = None
) -> TenantDirectory:
    """A directory that fills itself from `spec` on first use (after `bind(tenant_id)`)."""
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValueError(f"unknown graph scenario keys: {sorted(unknown)}")
    generate = spec.get("generate") or {}
    if set(generate) - _GENERATE_KEYS:
        raise ValueError(f"unknown generate keys: {sorted(set(generate) - _GENERATE_KEYS)}")
    if "skus" in spec:
        licences.check_skus(spec["skus"])
    _check_security_keys(spec)
    _check_settings(spec)
    frozen = dict(spec)
    return TenantDirectory(
        lambda directory: _load(directory, frozen), tenant_id=tenant_id, domain=spec.get("domain")
    )


def _load(directory: TenantDirectory, spec: Mapping[str, Any]) -> None:
    as_of = parse_datetime(spec["as_of"]) if spec.get("as_of") else utc_now()
    if "skus" in spec:
        directory.set_skus(spec["skus"])
    else:
        directory.set_sign_in_licensed(bool(spec.get("sign_in_activity_licensed", True)))
    if spec.get("authorization_policy"):
        _apply_policy(directory, spec["authorization_policy"])
    if spec.get("authentication_methods"):
        _apply_auth_methods(directory, spec["authentication_methods"])
    if spec.get("sharepoint_settings"):
        directory.update_sharepoint_settings(spec["sharepoint_settings"])
    for entry in spec.get("users") or []:
        directory.add_user(_explicit_user(entry, directory.domain, as_of))
    if spec.get("generate"):
        for user in generated_users(spec["generate"], directory.domain, as_of):
            directory.add_user(user)
    for index, entry in enumerate(spec.get("groups") or []):
        _add_group(directory, entry, index, as_of)
    _load_security(directory, spec)


_ROLE_ASSIGNMENT_KEYS = {"principal", "roleDefinitionId", "directoryScopeId"}


def _check_security_keys(spec: Mapping[str, Any]) -> None:
    """The shapes of the security keys, checked when the scenario is read (not first used)."""
    policies = spec.get("conditional_access_policies") or []
    if not isinstance(policies, list) or not all(isinstance(p, Mapping) for p in policies):
        raise ValueError("conditional_access_policies must be a list of policy objects")
    for index, entry in enumerate(policies):
        conditional_access.seeded_policy(entry, now=utc_now(), has_p2=True, index=index)
    if not isinstance(spec.get("security_defaults", False), bool):
        raise ValueError("security_defaults must be true or false")
    for entry in spec.get("role_assignments") or []:
        if not isinstance(entry, Mapping) or not {"principal", "roleDefinitionId"} <= set(entry):
            raise ValueError("role_assignments items need principal and roleDefinitionId")
        if set(entry) - _ROLE_ASSIGNMENT_KEYS:
            unknown = sorted(set(entry) - _ROLE_ASSIGNMENT_KEYS)
            raise ValueError(f"unknown role_assignments keys: {unknown}")


def _load_security(directory: TenantDirectory, spec: Mapping[str, Any]) -> None:
    has_p2 = directory.has_plan("AAD_PREMIUM_P2")
    for index, entry in enumerate(spec.get("conditional_access_policies") or []):
        default_id = uuid.uuid5(_NAMESPACE, f"{directory.domain}/policy/{index}")
        seeded = {"id": str(default_id), **entry}
        policy = conditional_access.seeded_policy(seeded, now=utc_now(), has_p2=has_p2, index=index)
        directory.security.add(policy)
    try:
        directory.security.set_security_defaults(bool(spec.get("security_defaults", False)))
    except GraphError as error:
        raise ValueError(f"security_defaults: {error.message}") from error
    for entry in spec.get("role_assignments") or []:
        principal = _member_id(directory, str(entry["principal"]))  # a UPN or an object id
        scope = str(entry.get("directoryScopeId", "/"))
        directory.role_assignments.add(principal, str(entry["roleDefinitionId"]), scope)


def _apply_policy(directory: TenantDirectory, policy: Mapping[str, Any]) -> None:
    try:
        directory.update_authorization_policy(policy)
    except GraphError as error:
        raise ValueError(f"authorization_policy: {error.message}") from error


def _check_settings(spec: Mapping[str, Any]) -> None:
    """The settings keys as Graph would take them, found wrong now rather than at first use."""
    if spec.get("authentication_methods"):
        probe = auth_methods.AuthMethodsState(graph_time())
        auth_methods.apply_scenario(probe, spec["authentication_methods"], graph_time())
    if spec.get("sharepoint_settings"):
        sharepoint.check_scenario(spec["sharepoint_settings"])
        licensed = spec.get("sign_in_activity_licensed", True)
        default = licences.DEFAULT_SKUS if licensed else licences.NO_P1_SKUS
        skus = spec.get("skus", default)
        if licences.plans_of(tuple(skus)).isdisjoint(licences.SHAREPOINT_PLANS):
            raise ValueError("sharepoint_settings: the tenant's skus have no SharePoint plan")


def _apply_auth_methods(directory: TenantDirectory, spec: Mapping[str, Any]) -> None:
    directory.update_authentication_methods_policy(spec.get("policy") or {})
    for method_id, changes in (spec.get("methods") or {}).items():
        directory.update_authentication_method(method_id, changes)


def _explicit_user(entry: Mapping[str, Any], domain: str, as_of: datetime) -> User:
    upn = str(entry["userPrincipalName"])
    upn = upn if "@" in upn else f"{upn}@{domain}"
    user_type = entry.get("userType", "Member")
    guest = user_type == "Guest"
    default_id = uuid.uuid5(_NAMESPACE, f"{domain}/user/{upn.casefold()}")
    return User(
        id=str(entry.get("id") or default_id).lower(),
        user_principal_name=upn,
        display_name=entry.get("displayName") or upn.split("@")[0],
        mail=entry.get("mail", None if guest else upn),
        mail_nickname=entry.get("mailNickname") or upn.split("@")[0],
        user_type=user_type,
        account_enabled=bool(entry.get("accountEnabled", True)),
        created=_optional_time(entry.get("createdDateTime")) or as_of - timedelta(days=365),
        external_user_state=entry.get("externalUserState", "Accepted" if guest else None),
        sign_in=_explicit_sign_in(entry),
    )


def _explicit_sign_in(entry: Mapping[str, Any]) -> SignInActivity | None:
    last = _optional_time(entry.get("lastSignInDateTime"))
    non_interactive = _optional_time(entry.get("lastNonInteractiveSignInDateTime"))
    if last is None and non_interactive is None:
        return None
    return SignInActivity(last, non_interactive, last)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else parse_datetime(str(value))


def generated_users(generate: Mapping[str, Any], domain: str, as_of: datetime) -> list[User]:
    """Deterministic members and guests (see the module docstring for the mix)."""
    guests = int(generate.get("guests", 0))
    stale = int(generate.get("stale_guests", 0))
    never = int(generate.get("never_signed_in_guests", 0))
    if stale + never > guests:
        raise ValueError("stale_guests + never_signed_in_guests exceeds guests")
    rng = random.Random(f"{generate.get('seed', 0)}:{domain}")
    home = str(generate.get("guest_domain", "fabrikam.com"))
    members = [
        _member(rng, i, domain, as_of) for i in range(1, int(generate.get("members", 0)) + 1)
    ]
    kinds = ["stale"] * stale + ["never"] * never + ["fresh"] * (guests - stale - never)
    guest_users = [_guest(rng, i, kind, domain, home, as_of) for i, kind in enumerate(kinds, 1)]
    return members + guest_users


def _member(rng: random.Random, index: int, domain: str, as_of: datetime) -> User:
    upn = f"user{index}@{domain}"
    return User(
        id=_random_id(rng),
        user_principal_name=upn,
        display_name=f"User {index}",
        mail=upn,
        mail_nickname=f"user{index}",
        user_type="Member",
        account_enabled=True,
        created=_days_ago(rng, as_of, 400, 1400),
        sign_in=_activity(_days_ago(rng, as_of, 0, 10)),
    )


def _guest(
    rng: random.Random, index: int, kind: str, domain: str, home: str, as_of: datetime
) -> User:
    nickname = f"ext_user{index}_{home}#EXT#"
    last = None if kind == "never" else _days_ago(rng, as_of, *_SIGN_IN_AGE_DAYS[kind])
    return User(
        id=_random_id(rng),
        user_principal_name=f"{nickname}@{domain}",
        display_name=f"External User {index}",
        mail=f"ext_user{index}@{home}",
        mail_nickname=nickname,
        user_type="Guest",
        account_enabled=True,
        created=_days_ago(rng, as_of, 520, 1200)
        if kind == "stale"
        else _days_ago(rng, as_of, 30, 600),
        external_user_state="PendingAcceptance" if kind == "never" else "Accepted",
        sign_in=_activity(last),
    )


def _activity(last: datetime | None) -> SignInActivity | None:
    return None if last is None else SignInActivity(last, last, last)


def _days_ago(rng: random.Random, as_of: datetime, low: int, high: int) -> datetime:
    seconds = rng.randint(low * 86_400, high * 86_400)
    return (as_of - timedelta(seconds=seconds)).replace(microsecond=0)


def _random_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _add_group(
    directory: TenantDirectory, entry: Mapping[str, Any], index: int, as_of: datetime
) -> None:
    nickname = str(entry["mailNickname"])
    default_id = uuid.uuid5(_NAMESPACE, f"{directory.domain}/group/{index}/{nickname}")
    group = Group(
        id=str(entry.get("id") or default_id).lower(),
        display_name=str(entry.get("displayName") or nickname),
        mail_nickname=nickname,
        description=entry.get("description"),
        security_enabled=bool(entry.get("securityEnabled", True)),
        mail_enabled=bool(entry.get("mailEnabled", False)),
        created=as_of - timedelta(days=90),
    )
    directory.add_group(group)
    member_ids = [_member_id(directory, ref) for ref in entry.get("members") or []]
    if member_ids:
        directory.add_members(group.id, member_ids)


def _member_id(directory: TenantDirectory, reference: str) -> str:
    upn = reference if "@" in reference else f"{reference}@{directory.domain}"
    found = directory.find_user(upn) or directory.find_object(reference)
    if found is None:
        raise ValueError(f"{reference!r} is not a user or group of this tenant")
    return found.id
