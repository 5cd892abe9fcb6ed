"""The session's shared fixtures, for every test directory that needs the running app.

One fake cloud, one Azurite and one `stack` (function_app in the local host) per test run: the
app module and its process-wide clients are global, so two stacks in one process would fight.
tests/integration and tests/fuzz both use them.
"""

from tests.integration.azurite_fixture import azurite
from tests.integration.fakecloud_fixture import fakecloud
from tests.integration.stack_fixture import receiver, stack

__all__ = ["azurite", "fakecloud", "receiver", "stack"]
