"""Fixtures of the fake API server's contract tests: a realistic fake on a clock the test moves.

The clock never moves by itself (`autojump=False` and nobody sleeps on it), so the cluster
is frozen between `advance` calls: a test reads exactly the state a real cluster would
show that many seconds after its writes.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from remediator.clock import FakeClock
from remediator.testing import FakeKubeServer

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START, autojump=False)


@pytest.fixture
async def kube(clock: FakeClock) -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(clock=clock, rollout="realistic") as server:
        yield server


async def client_for(server: FakeKubeServer, path: pathlib.Path) -> ApiClient:
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(server.write_kubeconfig(path)), client_configuration=cfg)
    return ApiClient(configuration=cfg)


@pytest.fixture
async def api(kube: FakeKubeServer, tmp_path: pathlib.Path) -> AsyncIterator[ApiClient]:
    async with await client_for(kube, tmp_path / "kubeconfig") as api_client:
        yield api_client


@pytest.fixture
def apps(api: ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def core(api: ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def policy(api: ApiClient) -> client.PolicyV1Api:
    return client.PolicyV1Api(api)


@pytest.fixture
def batch(api: ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)


def status_of(exc: ApiException) -> dict[str, Any]:
    """The metav1.Status body of a failed call, checked for the envelope every failure has."""
    body: dict[str, Any] = json.loads(exc.body or "")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def terminating(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o["metadata"].get("deletionTimestamp")]
