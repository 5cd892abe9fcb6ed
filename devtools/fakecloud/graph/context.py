"""What the Graph emulator shares with the rest of the fake cloud."""

from __future__ import annotations

from dataclasses import dataclass, field

from devtools.fakecloud.faults import FaultBook
from devtools.fakecloud.graph.directory import TenantDirectory
from devtools.fakecloud.graph.writes import WriteLog
from devtools.fakecloud.requestlog import RequestLog
from devtools.fakecloud.tokens import SigningKey


@dataclass
class GraphContext:
    """signing_key verifies access tokens whose `aud` is `audience` (the Graph listener's URL,
    e.g. https://127.0.0.1:PORT, also the base of every nextLink and @odata.context);
    `directories` maps tenant id -> that tenant's directory; `writes` counts applied writes."""

    signing_key: SigningKey
    audience: str
    faults: FaultBook
    log: RequestLog
    directories: dict[str, TenantDirectory]
    writes: WriteLog = field(default_factory=WriteLog)

    @property
    def base_url(self) -> str:
        """The audience without a trailing slash: the root of nextLinks and contexts."""
        return self.audience.rstrip("/")

    def directory_for(self, tenant_id: str) -> TenantDirectory | None:
        """The tenant's directory (tenant ids compare case-insensitively), bound to it."""
        directory = self.directories.get(tenant_id)
        if directory is None:
            wanted = tenant_id.casefold()
            matches = (d for t, d in self.directories.items() if t.casefold() == wanted)
            directory = next(matches, None)
        if directory is not None:
            directory.bind(tenant_id)
        return directory
