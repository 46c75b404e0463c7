"""6. Journal: what group commit buys, with synchronous=FULL (an fsync per transaction), in one run.

Three ways to journal the same 1-alert payloads, each on a fresh SQLite file in WAL mode:

* group commit: `SqliteJournal.accept` from `journal_concurrency` concurrent requests, which
  is what the webhook does; concurrent accepts share a transaction;
* one transaction per request, concurrent: the same concurrency, but each request runs its own
  BEGIN / INSERT / COMMIT on one aiosqlite connection (written here, the naive design);
* sequential: `SqliteJournal.accept` awaited one at a time, so every accept is its own commit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from bench import workload
from bench.config import BenchConfig
from bench.procs import ensure_dir
from remediator.store.sqlite import SqliteJournal
from remediator.store.sqlite_schema import V1


async def _concurrent(n: int, concurrency: int, accept: Callable[[int], Any]) -> float:
    counter = iter(range(n))

    async def request_loop() -> None:
        for i in counter:
            await accept(i)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for k in range(concurrency):
            tg.create_task(request_loop(), name=f"journal-client-{k}")
    return time.perf_counter() - started


async def group_commit(path: Path, bodies: list[bytes], n: int, concurrency: int) -> dict[str, Any]:
    async with SqliteJournal.open(path, synchronous="full", max_pending=1_000_000) as j:
        seconds = await _concurrent(
            n, concurrency, lambda i: j.accept("alertmanager", bodies[i % len(bodies)])
        )
        return {"accepts": j.accepted, "commits": j.commits, "seconds": seconds}


async def sequential(path: Path, bodies: list[bytes], n: int) -> dict[str, Any]:
    async with SqliteJournal.open(path, synchronous="full", max_pending=1_000_000) as j:
        started = time.perf_counter()
        for i in range(n):
            await j.accept("alertmanager", bodies[i % len(bodies)])
        return {"accepts": j.accepted, "commits": j.commits, "seconds": time.perf_counter() - started}


async def one_transaction_per_request(
    path: Path, bodies: list[bytes], n: int, concurrency: int
) -> dict[str, Any]:
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.executescript(";\n".join(V1))
        lock = asyncio.Lock()
        commits = 0

        async def accept(i: int) -> None:
            nonlocal commits
            async with lock:
                await db.execute("BEGIN IMMEDIATE")
                await db.execute(
                    "INSERT INTO payloads(source, received_at, body) VALUES (?, ?, ?)",
                    ("alertmanager", time.time(), bodies[i % len(bodies)]),
                )
                await db.execute("COMMIT")
                commits += 1

        seconds = await _concurrent(n, concurrency, accept)
        return {"accepts": commits, "commits": commits, "seconds": seconds}
    finally:
        await db.close()


def _rates(row: dict[str, Any], alerts_per_payload: int) -> dict[str, Any]:
    return {
        **row,
        "accepts_per_s": row["accepts"] / row["seconds"],
        "alerts_per_s": row["accepts"] * alerts_per_payload / row["seconds"],
        "accepts_per_commit": row["accepts"] / max(row["commits"], 1),
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    ensure_dir(workdir)
    mix = workload.Mix(rules=1000, active_alertnames=50, targets=5000, unrouted_fraction=0.2)
    per = config.journal_alerts_per_payload
    bodies = workload.payloads(mix, count=1000, alerts_per_payload=per)
    c = config.journal_concurrency
    rows = {
        "group_commit": _rates(
            await group_commit(workdir / "group.sqlite", bodies, config.journal_accepts, c), per
        ),
        "one_transaction_per_request": _rates(
            await one_transaction_per_request(
                workdir / "per-request.sqlite", bodies, config.journal_sequential_accepts, c
            ),
            per,
        ),
        "sequential": _rates(
            await sequential(workdir / "sequential.sqlite", bodies, config.journal_sequential_accepts), per
        ),
    }
    for name, row in rows.items():
        say(
            f"  journal {name:<28} {row['alerts_per_s']:>9.0f} alerts/s "
            f"({row['accepts_per_commit']:.1f} accepts per commit)"
        )
    group = rows["group_commit"]["alerts_per_s"]
    return {
        "concurrency": c,
        "alerts_per_payload": per,
        "synchronous": "full",
        "modes": rows,
        "speedup_vs_one_transaction_per_request": group / rows["one_transaction_per_request"]["alerts_per_s"],
        "speedup_vs_sequential": group / rows["sequential"]["alerts_per_s"],
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    speedup = result["speedup_vs_one_transaction_per_request"]
    return [
        {
            "name": f"journal: group commit / one commit per request ({result['concurrency']} concurrent)",
            "value": speedup,
            "display": f"{speedup:.1f}x ({result['modes']['group_commit']['alerts_per_s']:,.0f} alerts/s)",
            "target": "> 1x (report)",
            "met": speedup > 1.0,
        }
    ]
