"""`azurite` (session): one in-memory Azurite on free loopback ports for the whole test run.

Installs azurite@3.35.0 under `.xtenant/node` the first time (about 30 s, npm registry), starts
it, yields the running `Azurite` (`.connection_string`, `.endpoint(service)`), stops it at the
end, also when the run is interrupted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.azurite import Azurite, ensure_installed, repo_root


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    executable = ensure_installed(repo_root())
    with Azurite(executable) as emulator:
        yield emulator
