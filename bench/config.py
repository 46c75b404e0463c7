"""Benchmark sizes: the full run (`python -m bench`) and the smoke run (`--smoke`, the test's)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

RELAXED_GUARDS: dict[str, Any] = {
    "max_actions_per_target": None,
    "max_actions_per_rule": None,
    "max_actions_global": None,
    "storm_brake": None,
    "max_in_flight": 100_000,
    "max_in_flight_per_namespace": 100_000,
}
"""Guard settings for the storm and latency runs: rate limits and the storm brake off, concurrency
unbounded, so what remains is one act per rule and target per cooldown and the Kubernetes writes
are countable (500 targets -> 500 restarts). The shipped defaults would cap a storm at 10 acts."""


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    name: str
    # 1. ingest
    ingest_rules: int = 1000
    ingest_sizes: tuple[int, ...] = (1, 100)
    ingest_distinct_bodies: dict[int, int] = field(default_factory=lambda: {1: 2000, 100: 200})
    ingest_connections: int = 64
    ingest_warmup_s: float = 2.0
    ingest_duration_s: float = 10.0
    ingest_uvloop: bool = True
    """Also run the daemon and the bare handler on uvloop (if installed)."""
    loadgen: str = "auto"
    """wrk, aiohttp (this package's client in a subprocess) or auto (wrk when installed)."""
    # 2. processing
    processing_rules: int = 1000
    processing_payloads: int = 2000
    processing_alerts_per_payload: int = 100
    processing_relaxed_payloads: int = 500
    """A second, smaller backlog with RELAXED_GUARDS: every routed alert gets its own dry-run plan."""
    # 3. matching
    matching_rule_counts: tuple[int, ...] = (10, 100, 1000, 10_000)
    matching_alerts: int = 20_000
    matching_repeats: int = 3
    # 4. storm
    storm_rules: int = 1000
    storm_alerts: int = 20_000
    storm_targets: int = 500
    storm_window_s: float = 60.0
    storm_compression: float = 10.0
    """The storm's 60 s are replayed this many times faster (same payloads, same order)."""
    # 5. reaction latency
    latency_rules: int = 1000
    latency_alerts: int = 200
    latency_interval_s: float = 0.02
    # 7. replicas: SQLite x1, PostgreSQL x1 and x3 (ingest uses the ingest_* sizes, 1-alert payloads)
    replicas_rules: int = 1000
    replicas_payloads: int = 300
    replicas_alerts_per_payload: int = 100
    # 6. journal group commit
    journal_concurrency: int = 64
    journal_accepts: int = 10_000
    journal_sequential_accepts: int = 1000
    journal_alerts_per_payload: int = 1
    # 8. PostgreSQL drivers on the accept statement (`journal_concurrency` accepts per commit)
    drivers_rounds: int = 3
    drivers_lone_accepts: int = 1000
    drivers_grouped_accepts: int = 20_000
    # 9. backlog memory: 100-alert payloads on disk, the daemon sampled while it drains
    backlog_rules: int = 1000
    backlog_payloads: int = 10_000
    backlog_small_payloads: int = 100
    backlog_distinct_bodies: int = 200
    backlog_window_s: float = 20.0


FULL = BenchConfig(name="full")

SMOKE = BenchConfig(
    name="smoke",
    ingest_rules=20,
    ingest_distinct_bodies={1: 50, 100: 5},
    ingest_connections=8,
    ingest_warmup_s=0.0,
    ingest_duration_s=1.0,
    ingest_uvloop=False,
    loadgen="aiohttp",
    processing_rules=20,
    processing_payloads=10,
    processing_alerts_per_payload=20,
    processing_relaxed_payloads=5,
    matching_rule_counts=(10, 40),
    matching_alerts=500,
    matching_repeats=1,
    storm_rules=20,
    storm_alerts=300,
    storm_targets=20,
    storm_window_s=1.0,
    storm_compression=1.0,
    latency_rules=20,
    latency_alerts=10,
    latency_interval_s=0.02,
    journal_concurrency=8,
    journal_accepts=200,
    journal_sequential_accepts=50,
    replicas_rules=20,
    replicas_payloads=10,
    replicas_alerts_per_payload=20,
    drivers_rounds=1,
    drivers_lone_accepts=20,
    drivers_grouped_accepts=64,
    backlog_rules=20,
    backlog_payloads=20,
    backlog_small_payloads=4,
    backlog_distinct_bodies=4,
    backlog_window_s=2.0,
)


def with_overrides(config: BenchConfig, **changes: Any) -> BenchConfig:
    return replace(config, **changes)
