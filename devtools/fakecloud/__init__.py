"""A local Entra ID + managed identity + Microsoft Graph emulator over HTTPS, with fault injection.

    from devtools.fakecloud import FakeCloud, load_scenario

    scenario = load_scenario(Path("devtools/fakecloud/scenarios/demo.json"))
    with FakeCloud(scenario, workdir=workdir) as cloud:
        os.environ.update(cloud.app_env())  # the app's SDKs now talk to the fake

or from a shell: `python -m devtools.fakecloud --scenario devtools/fakecloud/scenarios/demo.json`.

FakeCloud is imported lazily, so that scenario tools do not pay for the server's imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devtools.fakecloud.faults import Fault
from devtools.fakecloud.scenario import Scenario, ScenarioError, load_scenario, make_scenario

if TYPE_CHECKING:
    from devtools.fakecloud.server import FakeCloud

__all__ = ["FakeCloud", "Fault", "Scenario", "ScenarioError", "load_scenario", "make_scenario"]


def __getattr__(name: str) -> Any:
    if name == "FakeCloud":
        from devtools.fakecloud.server import FakeCloud

        return FakeCloud
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
