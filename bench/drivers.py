"""8. PostgreSQL drivers: asyncpg beside psycopg 3 on the journal's accept statement.

Why the PostgreSQL journal uses asyncpg, measured rather than assumed. Both drivers run the very
statement `PostgresJournal` commits for a group of webhooks (`postgres_intake.INSERT_PAYLOADS`:
one `INSERT ... SELECT FROM unnest(...)` with its NOTIFY, ids returned) against the journal's real
schema, on a PostgreSQL started here (a Unix socket) twice: with durability as shipped (fsync on,
synchronous commits: what a webhook waits for) and with it off (what is left is the drivers' own
cost). One connection each, in autocommit (each statement is its own commit, as the journal's
group commit is):

* lone accept: one payload per statement, one after the other: the round trip a single webhook
  waits for (p50 and p99 over the calls);
* group commit: `journal_concurrency` payloads per statement (what 64 concurrent webhooks share):
  accepts/s.

psycopg runs with binary parameters and results (`binary=True`) and its automatic prepared
statements; asyncpg prepares and caches statements itself. The drivers alternate, best of
`drivers_rounds` rounds each, so a burst of load on the shared machine hits both alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg

from bench import procs
from bench.config import BenchConfig
from remediator.store import postgres_schema
from remediator.store.postgres_intake import INSERT_PAYLOADS
from remediator.testing.postgres import DURABLE_SETTINGS, TEST_SETTINGS, running_cluster

_BODY = b'{"alerts": [' + b'{"labels": {"alertname": "HighErrorRate"}},' * 14 + b"{}]}"
"""About 600 bytes, the size of a 1-alert Alertmanager webhook."""

Insert = Callable[[int], Awaitable[None]]


def _psycopg_sql() -> str:
    """The same statement with psycopg's placeholders (`%b`: a binary parameter)."""
    sql = INSERT_PAYLOADS
    for n in (1, 2, 3):
        sql = sql.replace(f"${n}::", "%b::")
    return sql


async def _asyncpg(url: str, password: str) -> tuple[Insert, Callable[[], Awaitable[None]]]:
    conn = await asyncpg.connect(url, password=password)

    async def insert(n: int) -> None:
        rows = await conn.fetch(INSERT_PAYLOADS, ["alertmanager"] * n, [time.time()] * n, [_BODY] * n)
        assert len(rows) == n

    return insert, conn.close


async def _psycopg(url: str, password: str) -> tuple[Insert, Callable[[], Awaitable[None]]]:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(url, password=password, autocommit=True)
    sql = _psycopg_sql()

    async def insert(n: int) -> None:
        cur = await conn.execute(sql, (["alertmanager"] * n, [time.time()] * n, [_BODY] * n), binary=True)
        assert len(await cur.fetchall()) == n

    return insert, conn.close


MODES: dict[str, Mapping[str, str]] = {"fsync on": DURABLE_SETTINGS, "fsync off": TEST_SETTINGS}
"""Durability as shipped (what a webhook waits for), and off: what is left is the drivers' own cost."""

DRIVERS: dict[str, Callable[[str, str], Awaitable[tuple[Insert, Callable[[], Awaitable[None]]]]]] = {
    "asyncpg": _asyncpg,
    "psycopg": _psycopg,
}


async def _round(insert: Insert, config: BenchConfig) -> dict[str, float]:
    lone: list[float] = []
    for _ in range(config.drivers_lone_accepts):
        t0 = time.perf_counter()
        await insert(1)
        lone.append(time.perf_counter() - t0)
    group = config.journal_concurrency
    batches = max(1, config.drivers_grouped_accepts // group)
    t0 = time.perf_counter()
    for _ in range(batches):
        await insert(group)
    grouped_s = time.perf_counter() - t0
    lone.sort()
    return {
        "lone_p50_ms": statistics.median(lone) * 1000,
        "lone_p99_ms": lone[min(len(lone) - 1, int(len(lone) * 0.99))] * 1000,
        "grouped_accepts_per_s": batches * group / grouped_s,
    }


async def _measure(settings: Mapping[str, str], config: BenchConfig) -> dict[str, Any]:
    """Both drivers on one fresh cluster with these settings, alternating, best of the rounds."""
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in DRIVERS}
    with running_cluster(settings) as cluster:
        url = cluster.create_database("drivers")
        conn = await asyncpg.connect(url, password=cluster.password)
        try:
            await postgres_schema.migrate(conn, where="bench", now=time.time())
        finally:
            await conn.close()
        opened = {name: await open_(url, cluster.password) for name, open_ in DRIVERS.items()}
        try:
            for _ in range(config.drivers_rounds):
                for name, (insert, _close) in opened.items():
                    rounds[name].append(await _round(insert, config))
        finally:
            for _insert, close in opened.values():
                await close()
    return {
        name: {
            "lone_p50_ms": min(r["lone_p50_ms"] for r in rs),
            "lone_p99_ms": min(r["lone_p99_ms"] for r in rs),
            "grouped_accepts_per_s": max(r["grouped_accepts_per_s"] for r in rs),
            "rounds": rs,
        }
        for name, rs in rounds.items()
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    import psycopg

    procs.ensure_dir(workdir)
    versions = {"asyncpg": asyncpg.__version__, "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})"}
    modes: dict[str, Any] = {}
    for mode, settings in MODES.items():
        modes[mode] = await _measure(settings, config)
        for name, d in modes[mode].items():
            say(
                f"  {mode:<9} {name:<8} lone accept p50 {d['lone_p50_ms']:.2f} ms"
                f" p99 {d['lone_p99_ms']:.2f} ms | {config.journal_concurrency} per commit:"
                f" {d['grouped_accepts_per_s']:,.0f} accepts/s"
            )
    return {
        "group": config.journal_concurrency,
        "lone_accepts": config.drivers_lone_accepts,
        "grouped_accepts": config.drivers_grouped_accepts,
        "body_bytes": len(_BODY),
        "versions": versions,
        "modes": modes,
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """No target: asyncpg is the journal's driver; met while it is not the slower of the two."""
    a, p = result["modes"]["fsync on"]["asyncpg"], result["modes"]["fsync on"]["psycopg"]
    ratio = a["grouped_accepts_per_s"] / p["grouped_accepts_per_s"]
    return [
        {
            "name": f"PostgreSQL driver: asyncpg / psycopg 3 ({result['group']} per commit, fsync on)",
            "value": ratio,
            "display": (
                f"{ratio:.2f}x ({a['grouped_accepts_per_s']:,.0f} vs {p['grouped_accepts_per_s']:,.0f}"
                f" accepts/s); lone p50 {a['lone_p50_ms']:.2f} vs {p['lone_p50_ms']:.2f} ms"
            ),
            "target": ">= 1x (report)",
            "met": ratio >= 1.0,
        }
    ]
