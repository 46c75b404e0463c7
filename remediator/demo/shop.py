"""The demo's shop: a few Deployments in namespace `shop`, one of them deployed 20 minutes ago.

Seeded through FakeKubeServer's helpers, which build what a real cluster holds (a ReplicaSet per
revision, Running pods), so the actions read and change the same objects they would in production.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from remediator.testing import FakeKubeServer

NAMESPACE = "shop"


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    name: str
    image: str
    previous: tuple[str, ...]
    """Images of older revisions, oldest first (what `rollout undo` goes back to)."""
    replicas: int
    deployed_ago_s: float
    env: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        ago = self.deployed_ago_s
        when = f"{ago / 60:.0f}m ago" if ago < 7200 else f"{ago / 86400:.0f}d ago"
        history = f", before it {self.previous[-1]}" if self.previous else ""
        return f"{self.name:<17} {self.image:<18} {self.replicas} replicas, deployed {when}{history}"


SHOP = (
    Workload(
        name="checkout",
        image="checkout:v2",
        previous=("checkout:v1",),
        replicas=3,
        deployed_ago_s=20 * 60,
    ),
    Workload(name="search", image="search:v7", previous=("search:v6",), replicas=2, deployed_ago_s=3 * 86400),
    Workload(
        name="image-gen",
        image="image-gen:v4",
        previous=("image-gen:v3",),
        replicas=2,
        deployed_ago_s=2 * 86400,
        env=(("RATE_LIMIT_MODE", "direct"), ("FALLBACK_ENABLED", "false")),
    ),
    Workload(
        name="image-gen-worker", image="image-gen:v4", previous=(), replicas=2, deployed_ago_s=2 * 86400
    ),
)


def seed_shop(kube: FakeKubeServer, *, now: datetime) -> None:
    kube.add_namespace(NAMESPACE, labels={"team": "shop"})
    for w in SHOP:
        kube.add_deployment(
            NAMESPACE,
            w.name,
            image=w.image,
            revisions=list(w.previous),
            replicas=w.replicas,
            env=dict(w.env) or None,
            rolled_out_at=now - timedelta(seconds=w.deployed_ago_s),
        )
