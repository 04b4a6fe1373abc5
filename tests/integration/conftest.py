"""Integration tests run against the real test cluster, over SSH as the ordinary user."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hpcbridge.config import load_settings
from hpcbridge.models import JobDetails
from hpcbridge.services.cluster import Cluster
from hpcbridge.services.registry import Registry

from ..conftest import cluster_env


@pytest.fixture(scope="session")
def tc_env() -> dict[str, str]:
    return cluster_env()


@pytest.fixture(scope="session")
async def registry(tc_env: dict[str, str]) -> AsyncIterator[Registry]:
    reg = Registry(load_settings({**tc_env, "HPCBRIDGE_CONFIG": "", "SLURM_ALLOW_SHELL": "true"}))
    yield reg
    await reg.close()


@pytest.fixture(scope="session")
def cluster(registry: Registry) -> Cluster:
    return registry.get()


async def wait_final(cluster: Cluster, job_id: str, timeout: float = 90) -> JobDetails:
    deadline = time.monotonic() + timeout
    while True:
        details = await cluster.job_details(job_id)
        if details.job.state.final:
            return details
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {details.job.state} after {timeout}s")
        await asyncio.sleep(1)


async def wait_in_accounting(cluster: Cluster, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = await cluster.history(job_ids=[job_id])
        if records and records[0].state.final:
            return
        await asyncio.sleep(1)
    raise AssertionError(f"job {job_id} did not reach accounting in {timeout}s")
