"""4. Storm: 20,000 distinct alerts over 500 targets, against the daemon acting on a fake cluster.

The daemon runs as its own process (`remediator serve`, 1,000 rules) with a kubeconfig for a
FakeKubeServer in this process that holds the 500 Deployments, so real writes happen. The storm
is 200 webhooks of 100 crash-loop alerts (Alertmanager's `max_alerts: 100`), target after
target, spread evenly over the storm's 60 s divided by `storm_compression` (the same payloads
in the same order, only faster; the daemon's clock is not touched). A 503 is retried after a
short pause, as Alertmanager would. Then the journal is polled until every payload is
processed and every execution finished.

Checks: alerts lost (sent minus journal rows, must be 0), decisions (must equal alerts times
matching rules: 2 storm rules match each alert), Kubernetes writes (guards allow one restart per
target per cooldown, so exactly one PATCH per Deployment), and the daemon's peak RSS (VmHWM).
The rate limits and the storm brake are off for this run (config.RELAXED_GUARDS): with the
shipped defaults a storm acts at most 10 times, and there would be nothing to count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench import _kube, procs, workload
from bench.config import RELAXED_GUARDS, BenchConfig
from remediator.receivers import alertmanager
from remediator.rules import load_rules
from remediator.testing.fake_kube import FakeKubeServer

TARGET_RSS_MIB = 250.0
_RETRY_PAUSE_S = 0.5
_MAX_TRIES = 20


async def send_paced(
    url: str, bodies: list[bytes], *, spacing_s: float, on_ack: Callable[[int, float], None] | None = None
) -> dict[str, Any]:
    """POST each body at its slot (`spacing_s` apart), concurrently; retry 503s like Alertmanager."""
    codes: dict[int, int] = {}
    retries = 0
    headers = {"Authorization": f"Bearer {procs.TOKEN}", "Content-Type": "application/json"}

    async def send(session: aiohttp.ClientSession, i: int, body: bytes) -> None:
        nonlocal retries
        for _ in range(_MAX_TRIES):
            async with session.post(url, data=body, headers=headers) as r:
                await r.read()
                acked = time.perf_counter()
                codes[r.status] = codes.get(r.status, 0) + 1
                if 200 <= r.status < 300:
                    if on_ack is not None:
                        on_ack(i, acked)
                    return
                if r.status != 503:
                    return
            retries += 1
            await asyncio.sleep(_RETRY_PAUSE_S)

    started = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session, asyncio.TaskGroup() as tg:
        for i, body in enumerate(bodies):
            delay = started + i * spacing_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tg.create_task(send(session, i, body), name=f"send-{i}")
    return {
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "retries": retries,
        "send_s": time.perf_counter() - started,
    }


async def _sample_rss(server: procs.Server, stop: asyncio.Event, samples: list[float]) -> None:
    while not stop.is_set():
        rss = server.rss_mib()
        if rss is not None:
            samples.append(rss)
        try:
            async with asyncio.timeout(0.1):
                await stop.wait()
        except TimeoutError:
            pass


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rules_dir = workload.make_rules(workdir / "rules", config.storm_rules)
    rules = load_rules([rules_dir])
    targets = workload.targets(config.storm_targets)
    bodies = workload.storm_payloads(alerts=config.storm_alerts, target_count=config.storm_targets)
    alerts = [a for b in bodies for a in alertmanager.normalize(alertmanager.validate(b))]
    expected_decisions = sum(len(rules.match(a)) for a in alerts)
    wall_s = config.storm_window_s / config.storm_compression
    spacing = wall_s / len(bodies)
    async with FakeKubeServer() as kube:
        _kube.seed(kube, targets)
        _kube.scope_reconcile(kube)
        requests = _kube.timed(kube)
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig")
        async with procs.remediator_server(
            workdir / "daemon", rules=rules_dir, kubeconfig=kubeconfig, guards=RELAXED_GUARDS
        ) as server:
            rss_at_start = server.rss_mib()
            baseline_requests = len(requests)
            samples: list[float] = []
            stop = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                sampler = tg.create_task(_sample_rss(server, stop, samples), name="rss-sampler")
                started = time.perf_counter()
                sent = await send_paced(server.url + "/webhook/alertmanager", bodies, spacing_s=spacing)
                acked = time.perf_counter()
                counts = await procs.wait_processed(server.journal_path or Path(), timeout_s=180.0)
                done = time.perf_counter()
                stop.set()
                await sampler
            peak_rss = server.peak_rss_mib()
        writes = _kube.write_counts(kube)
    counts = procs.journal_counts(workdir / "daemon" / "journal.sqlite")
    recorded_alerts = counts["alerts"]
    acts = counts["outcomes"].get("act", 0)
    result = {
        "alerts": len(alerts),
        "payloads": len(bodies),
        "targets": config.storm_targets,
        "rules": len(rules),
        "guards": "relaxed: rate limits and storm brake off, cooldown 15m per rule and target",
        "storm_window_s": config.storm_window_s,
        "compression": config.storm_compression,
        "wall_s_sending": sent["send_s"],
        "seconds_to_ack_all": acked - started,
        "seconds_to_drain": done - started,
        "webhook_codes": sent["codes"],
        "webhook_retries": sent["retries"],
        "alerts_recorded": recorded_alerts,
        "alerts_lost": len(alerts) - recorded_alerts,
        "decisions_expected": expected_decisions,
        "decisions_recorded": counts["decisions"],
        "outcomes": counts["outcomes"],
        "execution_statuses": counts["execution_statuses"],
        "acts": acts,
        "kube": writes,
        "kube_requests_during_storm": writes["requests"] - baseline_requests,
        "rss_at_start_mib": rss_at_start,
        "rss_max_sampled_mib": max(samples, default=None),
        "peak_rss_mib": peak_rss,
    }
    say(
        f"  storm: {len(alerts)} alerts, lost {result['alerts_lost']}, decisions "
        f"{counts['decisions']}/{expected_decisions}, deployment patches {writes['deployment_patches']} "
        f"for {config.storm_targets} targets, peak RSS {peak_rss:.0f} MiB"
    )
    return result


def checks(result: dict[str, Any]) -> dict[str, bool]:
    kube = result["kube"]
    return {
        "no_alert_lost": result["alerts_lost"] == 0,
        "decisions_complete": result["decisions_recorded"] == result["decisions_expected"],
        "one_patch_per_target": kube["deployment_patches"] == result["targets"]
        and kube["deployments_patched"] == result["targets"]
        and result["acts"] == result["targets"],
        "every_payload_acknowledged": sum(
            n for code, n in result["webhook_codes"].items() if code.startswith("2")
        )
        == result["payloads"],
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    c = checks(result)
    peak = result["peak_rss_mib"] or 0.0
    kube = result["kube"]
    return [
        {
            "name": "storm: daemon peak RSS (VmHWM)",
            "value": peak,
            "display": f"{peak:.0f} MiB",
            "target": f"< {TARGET_RSS_MIB:.0f} MiB",
            "met": peak < TARGET_RSS_MIB,
        },
        {
            "name": "storm: alerts lost / decisions / Kubernetes writes",
            "value": result["alerts_lost"],
            "display": (
                f"lost {result['alerts_lost']}, decisions {result['decisions_recorded']:,}/"
                f"{result['decisions_expected']:,}, patches {kube['deployment_patches']} "
                f"on {kube['deployments_patched']} Deployments"
            ),
            "target": f"0 lost, all decisions, 1 patch per target ({result['targets']})",
            "met": all(c.values()),
        },
    ]
