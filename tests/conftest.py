"""The session's shared fixtures, for every test directory that needs the running app.

One fake cloud, one Azurite and one `stack` (function_app in the local host) per test run: the
app module and its process-wide clients are global, so two stacks in one process would fight.
tests/integration and tests/fuzz both use them. `recorded` keeps the app's spans and metrics in
memory for one test (tests/telemetry_fixture.py).
"""

from tests.integration.azurite_fixture import azurite
from tests.integration.fakecloud_fixture import fakecloud
from tests.integration.stack_fixture import receiver, stack
from tests.telemetry_fixture import recorded

__all__ = ["azurite", "fakecloud", "receiver", "recorded", "stack"]
