"""Fixtures for the actions: the fake API server, and KubeActions opened on it the way app.py opens it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator.actions.kube import KubeActions, open_kube
from remediator.clock import FakeClock
from remediator.config import KubeSettings
from remediator.testing.fake_kube import FakeKubeServer

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """One clock for the server's timestamps and the actions' `now`, so ages and windows line up."""
    return FakeClock(START)


@pytest.fixture
async def fake_kube(clock: FakeClock) -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer(clock=clock.now) as server:
        server.add_namespace("shop")
        yield server


@pytest.fixture
def kubeconfig(fake_kube: FakeKubeServer, tmp_path: Path) -> Path:
    return fake_kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")


@pytest.fixture
async def kube_actions(kubeconfig: Path, clock: FakeClock) -> AsyncIterator[KubeActions]:
    settings = KubeSettings(mode="kubeconfig", kubeconfig=kubeconfig, call_timeout=2.0)
    async with open_kube(settings, clock=clock) as kube:
        assert kube is not None, "the fake API server should be reachable"
        yield kube
