"""The fake cloud: Entra ID (login), Microsoft Graph and the managed identity endpoint.

One process, three listeners on 127.0.0.1 with ports the OS picks:
- login (HTTPS): the authority (token and authorization endpoints, discovery, admin consent)
  and the control API under /_fake/;
- graph (HTTPS): the Graph emulator from devtools.fakecloud.graph;
- msi (plain HTTP, as the platform's local endpoint): IDENTITY_ENDPOINT.
`app_env()` is the environment that points the xtenant app at it, CA bundle included. Clients
in the same process that loaded aiohttp earlier are made to trust the test CA too
(ca.trust_in_this_process).

Run it in a background thread (`start()`/`stop()`, or `with FakeCloud(...) as cloud:`) from sync
code and tests, or inside a running loop with `await start_async()` / `await stop_async()`.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from devtools.fakecloud.ca import TlsFiles, create_tls_files, trust_in_this_process
from devtools.fakecloud.consent import ConsentContext, add_consent_routes
from devtools.fakecloud.control import Controller, add_control_routes
from devtools.fakecloud.entra import EntraContext, create_entra_app
from devtools.fakecloud.faults import Fault, FaultBook
from devtools.fakecloud.graph import (
    GraphContext,
    TenantDirectory,
    WriteLog,
    create_graph_app,
    directory_from_scenario,
)
from devtools.fakecloud.msi import MSI_PATH, MsiContext, create_msi_app, mi_claims
from devtools.fakecloud.operators import OperatorIssuer, OperatorKind
from devtools.fakecloud.requestlog import RequestLog, RequestRecord
from devtools.fakecloud.scenario import (
    TOKEN_EXCHANGE_AUDIENCE,
    FederatedCredentialSpec,
    OperatorSpec,
    Scenario,
)
from devtools.fakecloud.state import CloudState, ConsentAnswer, TenantRecord
from devtools.fakecloud.tokens import SigningKey

_HOST = "127.0.0.1"
_SHUTDOWN_TIMEOUT_S = 2.0


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((_HOST, 0))
    return sock


class _Running:
    """What exists only while the cloud runs (ports, state, servers)."""

    def __init__(self, scenario: Scenario, workdir: Path, log: RequestLog) -> None:
        self.tls: TlsFiles = create_tls_files(workdir)
        self.sockets = {name: _bind() for name in ("login", "graph", "msi")}
        port = {name: sock.getsockname()[1] for name, sock in self.sockets.items()}
        self.authority_url = f"https://{_HOST}:{port['login']}"
        self.graph_url = f"https://{_HOST}:{port['graph']}"
        self.identity_endpoint = f"http://{_HOST}:{port['msi']}{MSI_PATH}"
        self.state = CloudState.from_scenario(scenario, authority=self.authority_url)
        self.directories = {
            t.tenant_id.lower(): directory_from_scenario(t.graph) for t in scenario.tenants
        }
        self.runners: list[web.AppRunner] = []


class FakeCloud:
    """Entra ID + managed identity + Graph emulator for one scenario.

    `clock_offset_s` runs the fake cloud's clock ahead (or behind, negative) of this machine's:
    the times in the tokens it issues and the times it checks tokens against move together.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        workdir: Path,
        clock_offset_s: float = 0.0,
        one_client: bool = True,
    ) -> None:
        self.scenario = scenario
        self.workdir = Path(workdir)
        self.signing_key = SigningKey(clock_offset_s=clock_offset_s)
        self.faults = FaultBook()
        self.log = RequestLog(one_client=one_client)
        self.write_log = WriteLog()
        self._identity_header = secrets.token_urlsafe(24)
        self._running: _Running | None = None
        self._controller: Controller | None = None
        self._msi: MsiContext | None = None
        self._forger: SigningKey | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start_async(self) -> None:
        """Bind all listeners and serve them on the running loop."""
        if self._running is not None:
            raise RuntimeError("FakeCloud is already started")
        running = _Running(self.scenario, self.workdir, self.log)
        self._running = running
        for tenant in self.scenario.tenants:
            for fault in tenant.faults:
                self.faults.add(fault)
        self._controller = Controller(
            state=running.state,
            faults=self.faults,
            log=self.log,
            directories=running.directories,
            placeholders=self._placeholders(),
            operators=OperatorIssuer(
                running.authority_url, self.home_tenant_id, self.app_client_id
            ),
            writes=self.write_log,
        )
        trust_in_this_process(running.tls.ca_cert)
        try:
            await self._serve_all(running)
        except BaseException:
            await self.stop_async()
            raise

    def _placeholders(self) -> dict[str, str]:
        return {
            "authority": self.authority_url,
            "home_tenant_id": self.home_tenant_id,
            "mi_principal_id": self.scenario.managed_identity.principal_id,
        }

    async def _serve_all(self, running: _Running) -> None:
        tls = running.tls.server_context()
        login = create_entra_app(
            EntraContext(
                signing_key=self.signing_key,
                state=running.state,
                faults=self.faults,
                log=self.log,
                authority_url=running.authority_url,
                graph_url=running.graph_url,
            )
        )
        add_consent_routes(
            login,
            ConsentContext(
                state=running.state,
                graph_url=running.graph_url,
                grant=lambda tenant_id, state, roles: self.controller.set_tenant(
                    tenant_id, state=state, roles=roles
                ),
            ),
        )
        add_control_routes(login, self.controller)
        graph = create_graph_app(
            GraphContext(
                signing_key=self.signing_key,
                audience=running.graph_url,
                faults=self.faults,
                log=self.log,
                directories=running.directories,
                writes=self.write_log,
            )
        )
        self._msi = MsiContext(
            signing_key=self.signing_key,
            state=running.state,
            faults=self.faults,
            log=self.log,
            authority_url=running.authority_url,
            identity_header=self._identity_header,
            resources=self._msi_resources(running.graph_url),
        )
        await self._serve(running, login, "login", tls)
        await self._serve(running, graph, "graph", tls)
        await self._serve(running, create_msi_app(self._msi), "msi", None)

    @staticmethod
    def _msi_resources(graph_url: str) -> set[str]:
        """Resources the MSI endpoint issues tokens for (the exchange audiences, Graph, Azure)."""
        return {
            TOKEN_EXCHANGE_AUDIENCE,
            "api://AzureADTokenExchangeUSGov",
            "api://AzureADTokenExchangeChina",
            graph_url,
            "https://graph.microsoft.com",
            "https://management.azure.com",
            "https://storage.azure.com",
            "https://vault.azure.net",
        }

    @staticmethod
    async def _serve(
        running: _Running, app: web.Application, name: str, tls: ssl.SSLContext | None
    ) -> None:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        running.runners.append(runner)
        site = web.SockSite(runner, running.sockets[name], ssl_context=tls)
        await site.start()

    async def stop_async(self) -> None:
        """Stop serving and close every listener."""
        running = self._running
        if running is None:
            return
        for runner in reversed(running.runners):
            await runner.cleanup()
        for sock in running.sockets.values():
            sock.close()
        self._running = None

    def start(self) -> None:
        """Serve from a daemon thread with its own loop; return once every listener is bound."""
        if self._thread is not None:
            raise RuntimeError("FakeCloud is already started")
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="fakecloud", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]

    def stop(self) -> None:
        """Stop the background thread started by `start()`."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = self._loop = None

    def __enter__(self) -> FakeCloud:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- where it is ---------------------------------------------------------------------------

    @property
    def _live(self) -> _Running:
        if self._running is None:
            raise RuntimeError("FakeCloud is not started")
        return self._running

    @property
    def controller(self) -> Controller:
        if self._controller is None:
            raise RuntimeError("FakeCloud is not started")
        return self._controller

    @property
    def authority_url(self) -> str:
        return self._live.authority_url

    @property
    def graph_url(self) -> str:
        return self._live.graph_url

    @property
    def identity_endpoint(self) -> str:
        return self._live.identity_endpoint

    @property
    def identity_header(self) -> str:
        return self._identity_header

    @property
    def ca_bundle(self) -> Path:
        return self._live.tls.ca_bundle

    @property
    def state(self) -> CloudState:
        return self._live.state

    @property
    def home_tenant_id(self) -> str:
        return self.scenario.home_tenant_id.lower()

    @property
    def app_client_id(self) -> str:
        return self.scenario.app.client_id.lower()

    @property
    def mi_client_id(self) -> str:
        return self.scenario.managed_identity.client_id.lower()

    @property
    def mi_principal_id(self) -> str:
        return self.scenario.managed_identity.principal_id.lower()

    def token_endpoint(self, tenant_id: str) -> str:
        return f"{self.authority_url}/{tenant_id}/oauth2/v2.0/token"

    def app_env(self) -> dict[str, str]:
        """The environment that points the xtenant app (and its SDKs) at this fake cloud."""
        bundle = str(self.ca_bundle)
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "AZURE_CLIENT_ID": self.mi_client_id,
            "APP_CLIENT_ID": self.app_client_id,
            "AZURE_TENANT_ID": self.home_tenant_id,
            # The dev host's default address; a host on another port sets its own.
            "XTENANT_PUBLIC_URL": "http://127.0.0.1:7071",
            "AZURE_AUTHORITY_HOST": self.authority_url,
            "GRAPH_ENDPOINT": self.graph_url,
            "AZURE_CLOUD": "public",
            "SSL_CERT_FILE": bundle,
            "REQUESTS_CA_BUNDLE": bundle,
            "CURL_CA_BUNDLE": bundle,
            # A directory with no hashed certificates, so the machine's default adds nothing.
            "SSL_CERT_DIR": str(self.workdir),
        }

    # -- steering (same operations as the HTTP control API) ------------------------------------

    def set_tenant(self, tenant_id: str, **changes: Any) -> TenantRecord:
        return self.controller.set_tenant(tenant_id, **changes)

    def directory(self, tenant_id: str) -> TenantDirectory:
        """The tenant's Graph directory (users, groups, policy), to read back in tests."""
        return self.controller.directory(tenant_id)

    def set_federated_credentials(
        self, credentials: Iterable[FederatedCredentialSpec | Mapping[str, Any]]
    ) -> None:
        self.controller.set_federated_credentials(credentials)

    def add_fault(self, fault: Fault | Mapping[str, Any]) -> Fault:
        return self.controller.add_fault(fault)

    def set_app(
        self,
        *,
        redirect_uris: Iterable[str] | None = None,
        required_roles: Iterable[str] | None = None,
    ) -> None:
        """The app registration's redirect URIs and required Graph application permissions."""
        self.controller.set_app(redirect_uris=redirect_uris, required_roles=required_roles)

    def answer_admin_consent(
        self, tenant_id: str | None = None, roles: Iterable[str] | None = None
    ) -> None:
        """The next admin-consent request is granted (for `tenant_id`, with `roles`)."""
        self.controller.script_consent(
            ConsentAnswer(True, tenant_id, tuple(roles) if roles is not None else None)
        )

    def decline_admin_consent(self, description: str | None = None) -> None:
        """The next admin-consent request is declined by the administrator."""
        answer = ConsentAnswer(False)
        if description is not None:
            answer = ConsentAnswer(False, description=description)
        self.controller.script_consent(answer)

    def clear_faults(self, tenant_id: str | None = None, label: str | None = None) -> list[Fault]:
        return self.controller.clear_faults(tenant_id, label)

    def add_app_secret(self, value: str) -> None:
        self.controller.add_app_secret(value)

    def add_app_certificate(self, pem: str | bytes) -> None:
        self.controller.add_app_certificate(pem)

    def counters(self) -> dict[str, int]:
        return self.controller.counters()

    def writes(self) -> dict[str, Any]:
        """Applied Graph creates and PATCHes: totals and every duplicate (graph/writes.py)."""
        return self.controller.writes()

    def requests(
        self, service: str | None = None, tenant_id: str | None = None
    ) -> list[RequestRecord]:
        return self.controller.requests(service, tenant_id)

    def reset_log(self) -> None:
        self.controller.reset_log()

    # -- tokens for tests ----------------------------------------------------------------------

    def operator_token(
        self,
        name: str,
        roles: Iterable[str],
        *,
        kind: OperatorKind = "user",
        flaw: str | None = None,
        **overrides: Any,
    ) -> str:
        """An operator's access token for xtenant's API, as Entra issues it in the home tenant.

        `name`: a user's UPN (`kind="user"`) or an application's name (`kind="app"`); `roles`:
        app role values; `flaw`: one of operators.FLAWS for a token the app must refuse;
        `overrides`: claims to change (None drops one). The token's `oid` and `azp` are
        operators.operator_object_id(kind, name) and operators.operator_app_id(name).
        """
        return self.controller.operator_token(
            name=name, roles=roles, kind=kind, flaw=flaw, overrides=overrides
        )

    def rotate_operator_keys(self) -> str:
        """Roll the home tenant's operator signing key (new kid published, old one removed)."""
        return self.controller.rotate_operator_keys()

    def set_operators(self, operators: Iterable[OperatorSpec | Mapping[str, Any]]) -> None:
        """Who may sign in to the console: `[{"name": UPN, "roles": [...]}]` (signin.py)."""
        self.controller.set_operators(operators)

    def mint_assertion(self, **claim_overrides: Any) -> str:
        """An MI token for the exchange audience, signed by the fake's key; None drops a claim."""
        return self._assertion(claim_overrides, self.signing_key)

    def forge_assertion(self, **claims: Any) -> str:
        """Like `mint_assertion`, but signed by a key the fake does not trust."""
        if self._forger is None:
            self._forger = SigningKey()
        return self._assertion(claims, self._forger)

    def _assertion(self, overrides: Mapping[str, Any], key: SigningKey) -> str:
        if self._msi is None:
            raise RuntimeError("FakeCloud is not started")
        claims = mi_claims(self._msi, TOKEN_EXCHANGE_AUDIENCE)
        claims.update(overrides)
        return key.sign({k: v for k, v in claims.items() if v is not None})
