"""Everything that talks to the network, built once per worker process and reused by every
invocation (docs/decisions.md#event-loop): triggers, the API, onboarding and the worker take it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from shared.app_health import AppBreaker, HomeCheck
from shared.auth.audit import TABLE as AUDIT_TABLE
from shared.auth.audit import AuditTrail
from shared.auth.tokens import OperatorTokens
from shared.claims import Claims
from shared.compliance import TABLE as COMPLIANCE_TABLE
from shared.compliance import ComplianceStore
from shared.consent_states import ConsentStates
from shared.console.sessions import TABLE as CONSOLE_TABLE
from shared.console.sessions import SessionStore
from shared.graph import GraphPool
from shared.groups import GroupStore
from shared.idempotency import IdempotencyKeys
from shared.identity import TenantCredentialCache
from shared.jobs.applicability import LicenceCache
from shared.ledger import TABLE as RUNS_TABLE
from shared.ledger import Ledger
from shared.locks import ApplyLocks
from shared.messages import QUEUE
from shared.notify import EVENTS_QUEUE, FailedDeliveries, Notifier, sinks_from
from shared.run_views import RunViews
from shared.settings import Settings
from shared.storage import Storage, storage_config
from shared.tenants import TABLE as TENANTS_TABLE
from shared.tenants import TenantRegistry

if TYPE_CHECKING:
    from azure.storage.queue.aio import QueueClient


@dataclass
class Services:
    settings: Settings
    storage: Storage
    credentials: TenantCredentialCache
    pool: GraphPool
    registry: TenantRegistry
    consent_states: ConsentStates
    ledger: Ledger
    runs: RunViews
    queue: QueueClient
    operator_tokens: OperatorTokens
    audit: AuditTrail
    claims: Claims
    locks: ApplyLocks
    app_breaker: AppBreaker
    idempotency: IdempotencyKeys
    compliance: ComplianceStore
    #: whether "the app is disabled" comes from the home tenant (app-wide) or one tenant
    home_check: HomeCheck
    #: tenant groups, in the tenants table (shared/groups.py)
    groups: GroupStore
    #: the operator console's sessions and pending sign-ins (shared/console)
    sessions: SessionStore
    #: events out: one queue message per (event, sink); their delivery (shared/notify)
    notifier: Notifier
    #: each (run, tenant)'s licences, read once in this process (shared/jobs/applicability.py)
    licences: LicenceCache = field(default_factory=LicenceCache)
    _ready: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Services:
        env = os.environ if env is None else env
        settings = Settings.from_env(env)
        storage = Storage(storage_config(env))
        credentials = TenantCredentialCache(settings)
        tenants_table, runs_table = storage.table(TENANTS_TABLE), storage.table(RUNS_TABLE)
        notifier = Notifier(
            storage.queue(EVENTS_QUEUE),
            sinks_from(settings),
            public_url=settings.public_url,
            failures=FailedDeliveries(tenants_table),
            timeout_s=settings.webhook_timeout_seconds,
        )
        return cls(
            settings=settings,
            storage=storage,
            credentials=credentials,
            pool=GraphPool(settings, credentials),
            registry=TenantRegistry(tenants_table, notify=notifier.emit),
            consent_states=ConsentStates(
                tenants_table, ttl=timedelta(days=settings.consent_link_days)
            ),
            ledger=Ledger(runs_table),
            runs=RunViews(runs_table),
            queue=storage.queue(QUEUE),
            operator_tokens=OperatorTokens(settings),
            audit=AuditTrail(storage.table(AUDIT_TABLE)),
            claims=Claims(runs_table),
            locks=ApplyLocks(tenants_table),
            app_breaker=AppBreaker(
                tenants_table,
                pause=timedelta(seconds=settings.app_pause_seconds),
                notify=notifier.emit,
            ),
            idempotency=IdempotencyKeys(runs_table),
            compliance=ComplianceStore(storage.table(COMPLIANCE_TABLE)),
            home_check=HomeCheck(lambda: _home_token(credentials, settings)),
            groups=GroupStore(tenants_table, cloud=settings.cloud.value),
            sessions=SessionStore(storage.table(CONSOLE_TABLE)),
            notifier=notifier,
        )

    async def ready(self) -> Services:
        """Create the tables and queue on first use (idempotent; cheap after the first call)."""
        if not self._ready:
            from azure.core.exceptions import ResourceExistsError

            await self.registry.ensure_table()
            await self.ledger.ensure_table()
            await self.audit.ensure_table()
            await self.compliance.ensure_table()
            await self.sessions.ensure_table()
            with contextlib.suppress(ResourceExistsError):
                await self.queue.create_queue()
            await self.notifier.ensure_queue()
            self._ready = True
        return self

    async def close(self) -> None:
        await self.notifier.close()
        await self.operator_tokens.close()
        await self.pool.close()
        await self.credentials.close()
        await self.storage.close()


async def _home_token(credentials: TenantCredentialCache, settings: Settings) -> object:
    """A new token in the app's home tenant (none cached): raises the typed refusal, if any."""
    await credentials.forget_token(settings.home_tenant_id)
    return await credentials.token(settings.home_tenant_id)
