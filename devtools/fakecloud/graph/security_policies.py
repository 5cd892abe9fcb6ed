"""A tenant's Conditional Access policies and its security defaults, kept mutually exclusive.

Entra refuses to turn security defaults on while a Conditional Access policy is enabled, and to
enable a policy (create it `enabled`, or PATCH it to `enabled`) while security defaults are on;
report-only and disabled policies are allowed alongside security defaults
(https://learn.microsoft.com/entra/fundamentals/security-defaults, "Conditional Access").
The wording of both refusals: the first as reported by administrators who met it, the second
the emulator's own (Microsoft documents the rule, not the message).

The state lives inside the tenant's directory and takes the directory's lock.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from devtools.fakecloud.graph import conditional_access as ca
from devtools.fakecloud.graph.errors import GraphError, bad_request, not_found

SECURITY_DEFAULTS_ON = (
    "Security Defaults is enabled in the tenant. You must disable Security defaults before "
    "enabling a Conditional Access policy."
)
POLICIES_ENABLED = (
    "Security defaults cannot be enabled while Conditional Access policies are enabled in the "
    "tenant. Disable the Conditional Access policies first."
)
SECURITY_DEFAULTS_ID = "00000000-0000-0000-0000-000000000005"
SECURITY_DEFAULTS_DESCRIPTION = (
    "Security defaults is a set of basic identity security mechanisms recommended by Microsoft. "
    "When enabled, these recommendations will be automatically enforced in your organization. "
    "Administrators and users will be better protected from common identity related attacks."
)


class SecurityPolicies:
    """Conditional Access policies (by id) and the security defaults flag of one tenant."""

    def __init__(self, lock: threading.RLock, load: Callable[[], None]) -> None:
        self._lock = lock
        self._load = load
        self._policies: dict[str, dict[str, Any]] = {}
        self._security_defaults = False

    # --- Conditional Access -------------------------------------------------------------

    def policies(self) -> list[dict[str, Any]]:
        """Every policy, in ascending id order (copies)."""
        with self._lock:
            self._load()
            return [copy.deepcopy(self._policies[i]) for i in sorted(self._policies)]

    def policy(self, policy_id: str) -> dict[str, Any]:
        with self._lock:
            self._load()
            return copy.deepcopy(self._required(policy_id))

    def create(self, body: Mapping[str, Any], *, has_p2: bool) -> dict[str, Any]:
        """Validate and store a new policy; 400 if it is enforced while security defaults are on."""
        with self._lock:
            self._load()
            policy = ca.new_policy(body, now=datetime.now(UTC), has_p2=has_p2)
            return self.add(policy)

    def add(self, policy: dict[str, Any]) -> dict[str, Any]:
        """Store an already-shaped policy (a create, or a scenario's)."""
        with self._lock:
            self._load()
            self._refuse_enforced_with_defaults(policy)
            if policy["id"] in self._policies:
                raise ValueError(f"policy {policy['id']} already exists")
            self._policies[policy["id"]] = policy
            return copy.deepcopy(policy)

    def update(self, policy_id: str, body: Mapping[str, Any], *, has_p2: bool) -> dict[str, Any]:
        with self._lock:
            self._load()
            current = self._required(policy_id)
            policy = ca.patched_policy(current, body, now=datetime.now(UTC), has_p2=has_p2)
            self._refuse_enforced_with_defaults(policy)
            self._policies[current["id"]] = policy
            return copy.deepcopy(policy)

    def delete(self, policy_id: str) -> None:
        with self._lock:
            self._load()
            del self._policies[self._required(policy_id)["id"]]

    def set_state(self, policy_id: str, state: str) -> None:
        """Change a policy's state behind Graph's back (tests: "someone else" changed it)."""
        with self._lock:
            self._load()
            self._required(policy_id)["state"] = state

    def rename(self, policy_id: str, display_name: str) -> None:
        """Rename a policy behind Graph's back (tests: the customer renamed it)."""
        with self._lock:
            self._load()
            self._required(policy_id)["displayName"] = display_name

    def _required(self, policy_id: str) -> dict[str, Any]:
        policy = self._policies.get(policy_id.lower())
        if policy is None:
            raise not_found(policy_id)
        return policy

    def _refuse_enforced_with_defaults(self, policy: Mapping[str, Any]) -> None:
        if policy["state"] == "enabled" and self._security_defaults:
            raise bad_request(SECURITY_DEFAULTS_ON)

    # --- security defaults --------------------------------------------------------------

    @property
    def security_defaults(self) -> bool:
        with self._lock:
            self._load()
            return self._security_defaults

    def set_security_defaults(self, enabled: bool) -> None:
        """Turn security defaults on or off; 400 to turn them on over an enabled policy."""
        with self._lock:
            self._load()
            if enabled and any(p["state"] == "enabled" for p in self._policies.values()):
                raise GraphError(400, "BadRequest", POLICIES_ENABLED)
            self._security_defaults = enabled

    def security_defaults_policy(self) -> dict[str, Any]:
        """identitySecurityDefaultsEnforcementPolicy as Graph returns it."""
        return {
            "id": SECURITY_DEFAULTS_ID,
            "displayName": "Security Defaults",
            "description": SECURITY_DEFAULTS_DESCRIPTION,
            "isEnabled": self.security_defaults,
        }
