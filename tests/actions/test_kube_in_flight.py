"""The daemon's own pressure on the API server is bounded: at most `kubernetes.max_in_flight` calls
in flight at once, the rest queued in the daemon, and the queue does not fail a call by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.kube import KubeClient
from remediator.kube.connect import open_client
from remediator.model import Target
from remediator.testing.fake_kube import FakeKubeServer

DEPLOYMENTS = r"/deployments/"


def target(n: int) -> Target:
    return Target(kind="Deployment", namespace="shop", name=f"d{n}")


@pytest.fixture
def deployments(fake_kube: FakeKubeServer) -> FakeKubeServer:
    for n in range(12):
        fake_kube.add_deployment("shop", f"d{n}", replicas=1)
    return fake_kube


async def client(kubeconfig: Path, clock: FakeClock, **settings: float) -> AsyncIterator[KubeClient]:
    async with open_client(
        KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, **settings), clock=clock
    ) as k:
        assert k is not None
        yield k


async def test_no_more_calls_than_the_bound_reach_a_slow_api_server(
    deployments: FakeKubeServer, kubeconfig: Path, clock: FakeClock
) -> None:
    """Twelve reads at once against a server that holds them: three reach it, the others wait in
    the daemon until one answers; every one of them is answered."""
    release = asyncio.Event()
    held = deployments.inject(status=0, method="GET", path=DEPLOYMENTS, times=100, hold=release)
    async for kube in client(kubeconfig, clock, max_in_flight=3, call_timeout=20.0):
        reads = [asyncio.ensure_future(kube.read_workload(target(n))) for n in range(12)]
        for _ in range(50):  # give the other nine every chance to be sent
            await asyncio.sleep(0.02)
        assert held.hits == 3
        release.set()
        answers = await asyncio.gather(*reads)
        assert [a["metadata"]["name"] for a in answers] == [f"d{n}" for n in range(12)]
        assert held.hits == 12


async def test_the_wait_for_a_slot_does_not_count_against_the_calls_timeout(
    deployments: FakeKubeServer, kubeconfig: Path, clock: FakeClock
) -> None:
    """One slot, a server that takes 0.8s a call, a 2s timeout: the third call waits 1.6s for its
    slot and is answered 0.8s after it is sent (2.4s in all), not failed at 2s."""
    deployments.inject(status=0, method="GET", path=DEPLOYMENTS, times=3, delay=0.8)
    async for kube in client(kubeconfig, clock, max_in_flight=1, call_timeout=2.0):
        started = time.monotonic()
        answers = await asyncio.gather(*(kube.read_workload(target(n)) for n in range(3)))
        assert [a["metadata"]["name"] for a in answers] == ["d0", "d1", "d2"]
        assert time.monotonic() - started >= 2.4
