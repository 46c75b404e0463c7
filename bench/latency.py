"""5. Reaction latency: from the webhook's 2xx to the first Kubernetes API request for that target.

The daemon runs as its own process with a kubeconfig for a FakeKubeServer in this process;
alerts arrive under light load (one single-alert webhook every 20 ms, each for a different
Deployment, each Deployment in a namespace of its own). The bench stamps `perf_counter()` when
each 2xx arrives and the fake's recorded requests are stamped as they arrive
(bench._kube.TimedRequests), both on this process's clock.
The first request for a target is the target guard's GET of the Deployment; the PATCH that
restarts it is reported too. Rate limits are off (config.RELAXED_GUARDS) so every alert acts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import _kube, procs, workload
from bench.config import RELAXED_GUARDS, BenchConfig
from bench.loadgen import percentile
from bench.storm import send_paced
from remediator.testing.fake_kube import FakeKubeServer

TARGET_P99_MS = 50.0


def _stats(values_ms: list[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else 0.0,
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rules_dir = workload.make_rules(workdir / "rules", config.latency_rules)
    # One Deployment a namespace: the fake's controller passes cost what its namespace holds, and
    # they run in this process, between the requests whose arrival is timed (bench/_kube.py).
    targets = workload.targets(config.latency_alerts, per_namespace=1)
    starts_at = workload.now_rfc3339()
    bodies = [
        workload.payload([workload.alert(i, workload.STORM_ALERTNAME, t, value="5", starts_at=starts_at)])
        for i, t in enumerate(targets)
    ]
    acks: dict[int, float] = {}
    async with FakeKubeServer() as kube:
        _kube.seed(kube, targets)
        _kube.scope_reconcile(kube)
        requests = _kube.timed(kube)
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig")
        async with procs.remediator_server(
            workdir / "daemon", rules=rules_dir, kubeconfig=kubeconfig, guards=RELAXED_GUARDS
        ) as server:
            sent = await send_paced(
                server.url + "/webhook/alertmanager",
                bodies,
                spacing_s=config.latency_interval_s,
                on_ack=lambda i, at: acks.__setitem__(i, at),
            )
            counts = await procs.wait_processed(server.journal_path or Path(), timeout_s=60.0)
        first: dict[str, float] = {}
        patched: dict[str, float] = {}
        for r, at in zip(requests, requests.times, strict=True):
            first.setdefault(r.path, at)
            if r.method == "PATCH":
                patched.setdefault(r.path, at)
    to_first: list[float] = []
    to_patch: list[float] = []
    missing = 0
    for i, t in enumerate(targets):
        path = _kube.deployment_path(t)
        if i not in acks or path not in first:
            missing += 1
            continue
        to_first.append((first[path] - acks[i]) * 1000)
        if path in patched:
            to_patch.append((patched[path] - acks[i]) * 1000)
    result = {
        "alerts": len(bodies),
        "interval_ms": config.latency_interval_s * 1000,
        "webhook_codes": sent["codes"],
        "without_kube_request": missing,
        "to_first_request": _stats(to_first),
        "to_patch": _stats(to_patch),
        "outcomes": counts["outcomes"],
    }
    s = result["to_first_request"]
    say(
        f"  latency: 2xx -> first API request p50 {s['p50_ms']:.1f} ms p99 {s['p99_ms']:.1f} ms; "
        f"-> PATCH p99 {result['to_patch']['p99_ms']:.1f} ms ({missing} without a request)"
    )
    return result


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    s = result["to_first_request"]
    ok = result["without_kube_request"] == 0 and s["p99_ms"] < TARGET_P99_MS
    return [
        {
            "name": "reaction latency: webhook 2xx -> first Kubernetes request",
            "value": s["p99_ms"],
            "display": f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms",
            "target": f"p99 < {TARGET_P99_MS:.0f} ms",
            "met": ok,
        }
    ]
