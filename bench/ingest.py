"""1. Ingest (acknowledge): the daemon's webhook against the bare-aiohttp limit, same generator, same run.

For each payload size (1 and 100 alerts) the same load generator, in its own process, drives
a fresh server process for the same time with the same distinct bodies: first the bare handler
(read, parse JSON, 200), then `remediator serve` (1,000 rules, journal with synchronous=full,
`kubernetes.mode: none`, so every action is a dry-run plan), then the same daemon with an intake
process of its own (`intake.processes: 1`: webhooks acknowledged on one core, decisions on the
other). The daemon processes off the request path while it acknowledges: its backlog at the end says
how far processing fell behind. CPU and peak RSS are the server's processes' together.
Non-2xx answers are counted by the generator and, for the daemon, from its own
`remediator_webhook_requests_total{code}`.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import loadgen, procs, workload
from bench.config import BenchConfig

WEBHOOK = "/webhook/alertmanager"
TARGET_RATIO = 0.5
INTAKE = "remediator (intake process)"


def _uvloop_available() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def _generator(config: BenchConfig) -> str:
    if config.loadgen == "auto":
        return "wrk" if loadgen.wrk_available() else "aiohttp"
    if config.loadgen == "wrk" and not loadgen.wrk_available():
        raise RuntimeError("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    return config.loadgen


async def _load(
    generator: str, *, url: str, inputs: dict[str, Path], connections: int, duration_s: float
) -> loadgen.LoadResult:
    if generator == "wrk":
        return await loadgen.run_wrk(
            url=url, script=inputs["wrk"], connections=connections, duration_s=duration_s
        )
    return await loadgen.run_python(
        url=url,
        bodies_file=inputs["bodies"],
        connections=connections,
        duration_s=duration_s,
        token=procs.TOKEN,
    )


async def _drive(
    server: procs.Server, *, generator: str, inputs: dict[str, Path], config: BenchConfig, size: int
) -> dict[str, Any]:
    url = server.url + WEBHOOK
    if config.ingest_warmup_s > 0:
        await _load(
            generator,
            url=url,
            inputs=inputs,
            connections=config.ingest_connections,
            duration_s=config.ingest_warmup_s,
        )
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    result = await _load(
        generator,
        url=url,
        inputs=inputs,
        connections=config.ingest_connections,
        duration_s=config.ingest_duration_s,
    )
    cpu1, t1 = server.cpu_seconds(), time.perf_counter()
    row: dict[str, Any] = {
        "server": server.name,
        "alerts_per_payload": size,
        **result.to_dict(),
        "alerts_per_s": result.requests_per_s * size,
        "server_cpu_cores": (cpu1 - cpu0) / (t1 - t0) if cpu0 is not None and cpu1 is not None else None,
        "server_peak_rss_mib": server.peak_rss_mib(),
        "server_rss_by_process_mib": server.rss_by_process_mib(),
    }
    if server.journal_path is not None:
        codes = procs.webhook_codes(await server.metrics())
        counts = procs.journal_counts(server.journal_path)
        row["server_codes"] = codes
        row["server_non_2xx"] = sum(n for code, n in codes.items() if not code.startswith("2"))
        row["journal_payloads"] = counts["payloads"]
        row["backlog_payloads_at_end"] = counts["unprocessed_payloads"]
        row["backlog_alerts_at_end"] = counts["unprocessed_payloads"] * size
        row["processed_alerts_at_end"] = counts["alerts"]
        row["decisions_at_end"] = counts["decisions"]
    return row


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    generator = _generator(config)
    rules = workload.make_rules(workdir / "rules", config.ingest_rules)
    mix = workload.Mix(rules=config.ingest_rules, active_alertnames=50, targets=5000, unrouted_fraction=0.2)
    variants: list[tuple[str, bool]] = [("bare", False), ("remediator", False), (INTAKE, False)]
    if config.ingest_uvloop and _uvloop_available():
        variants += [("bare+uvloop", True), ("remediator+uvloop", True)]
    runs: list[dict[str, Any]] = []
    for size in config.ingest_sizes:
        bodies = workload.payloads(
            mix,
            count=config.ingest_distinct_bodies.get(size, 100),
            alerts_per_payload=size,
            first_serial=size * 10_000_000,
        )
        inputs = {"bodies": loadgen.write_bodies(workdir / f"bodies-{size}.jsonl", bodies)}
        if generator == "wrk":
            inputs["wrk"] = loadgen.write_wrk_script(
                workdir / f"post-{size}.lua", bodies=bodies, url_path=WEBHOOK, token=procs.TOKEN
            )
        for name, uvloop in variants:
            where = workdir / f"{name}-{size}"
            server_cm = (
                procs.bare_server(where, uvloop=uvloop, name=name)
                if name.startswith("bare")
                else procs.remediator_server(
                    where, rules=rules, uvloop=uvloop, name=name, intake_process=name == INTAKE
                )
            )
            async with server_cm as server:
                row = await _drive(server, generator=generator, inputs=inputs, config=config, size=size)
            runs.append(row)
            say(
                f"  ingest {name:<27} {size:>3} alerts/payload: {row['requests_per_s']:>8.0f} req/s "
                f"p99 {row['p99_ms']:.1f} ms non-2xx {row['non_2xx']}"
            )
    return {
        "generator": generator,
        "connections": config.ingest_connections,
        "duration_s": config.ingest_duration_s,
        "warmup_s": config.ingest_warmup_s,
        "rules": config.ingest_rules,
        "distinct_bodies": {str(k): v for k, v in config.ingest_distinct_bodies.items()},
        "runs": runs,
        "ratios": _ratios(runs),
    }


def _ratios(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """remediator / bare requests per second, per payload size and event loop."""
    by = {(r["server"], r["alerts_per_payload"]): r for r in runs}
    ratios: dict[str, dict[str, float]] = {}
    for (server, size), row in by.items():
        if not server.startswith("remediator"):
            continue
        suffix = "" if server == INTAKE else server.removeprefix("remediator")
        for bare_name in (f"bare{suffix}", "bare"):
            bare = by.get((bare_name, size))
            if bare and bare["requests_per_s"]:
                key = f"{server}/{bare_name}"
                ratios.setdefault(str(size), {})[key] = row["requests_per_s"] / bare["requests_per_s"]
    return ratios


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for size, ratios in result["ratios"].items():
        for server in ("remediator", INTAKE):
            ratio = ratios.get(f"{server}/bare")
            if ratio is None:
                continue
            rows = [
                r
                for r in result["runs"]
                if str(r["alerts_per_payload"]) == size and r["server"] in (server, "bare")
            ]
            non_2xx = sum(r["non_2xx"] + r.get("server_non_2xx", 0) for r in rows)
            rps = {r["server"]: r["requests_per_s"] for r in rows}
            out.append(
                {
                    "name": f"ingest {size}-alert payloads: {server} / bare req/s",
                    "value": ratio,
                    "display": (
                        f"{ratio:.0%} ({rps.get(server, 0):,.0f} / {rps.get('bare', 0):,.0f} req/s, "
                        f"non-2xx {non_2xx})"
                    ),
                    "target": f">= {TARGET_RATIO:.0%}, 0 non-2xx",
                    "met": ratio >= TARGET_RATIO and non_2xx == 0,
                }
            )
    return out
