"""Every log line of a tenant job carries its run, tenant and job."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.logcontext import JobContextFilter, job_context

log = logging.getLogger("xtenant.test")


async def test_concurrent_tenant_jobs_log_their_own_ids(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(JobContextFilter())

    async def job(tenant: str) -> None:
        with job_context("run-1", tenant, "guest-cleanup"):
            await asyncio.sleep(0)
            log.warning("working")

    with caplog.at_level(logging.INFO):
        await asyncio.gather(job("tenant-a"), job("tenant-b"))
        log.warning("outside")

    lines = caplog.messages
    assert "[run_id=run-1 tenant_id=tenant-a job=guest-cleanup] working" in lines
    assert "[run_id=run-1 tenant_id=tenant-b job=guest-cleanup] working" in lines
    assert "outside" in lines
    tagged = [r for r in caplog.records if getattr(r, "tenant_id", None) == "tenant-a"]
    assert tagged[0].run_id == "run-1"  # type: ignore[attr-defined]
