"""7. Replicas: ingest and processing on SQLite (one replica) beside PostgreSQL with 1 and 3 replicas.

One run, one machine, the same daemon (`python -m remediator serve`, `kubernetes.mode: none`, the
same generated rules) on three journals: the embedded SQLite file (`synchronous: full`), and a
PostgreSQL started here (Debian's binaries, fsync and synchronous commits on, a Unix socket) shared
by one and by three daemon processes.

* ingest: the load generator drives every replica at once (the connections split evenly), for the
  same time, with the same distinct 1-alert payloads; acknowledged = a 2xx = durably written.
* processing: a backlog accepted into the journal beforehand (through the journal's own `accept`),
  then the replicas start together and drain it. Reported twice: from spawn to drained (start-up
  included), and over the processing window (from the first decision to the last batch
  committed, both read from the journal).

Deciding takes turns across replicas (one decision transaction at a time holds the journal's lock),
so three replicas are not expected to decide three times faster: receiving and executing scale out,
deciding does not. On a 2-core machine the three daemons, the load generator and PostgreSQL also
share two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import ingest, loadgen, procs, workload
from bench.config import BenchConfig
from bench.processing import expected_decisions
from remediator.rules import load_rules
from remediator.store.postgres import PostgresJournal
from remediator.store.sqlite import SqliteJournal
from remediator.testing.postgres import DURABLE_SETTINGS, PASSWORD_ENV, PgCluster, running_cluster

VARIANTS: tuple[tuple[str, int], ...] = (("sqlite", 1), ("postgresql", 1), ("postgresql", 3))


class Journal:
    """Where one variant's journal is, and how to count it from outside the daemons."""

    def __init__(self, *, path: Path | None = None, url: str | None = None, password: str = "") -> None:
        self.path, self.url, self.password = path, url, password

    def config(self) -> dict[str, Any]:
        if self.url is not None:
            return {"url": self.url, "password": {"env": PASSWORD_ENV}}
        assert self.path is not None
        return {"path": str(self.path), "synchronous": "full"}

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        if self.url is not None:
            async with PostgresJournal.open(self.url, password=self.password) as j:
                yield j
        else:
            assert self.path is not None
            async with SqliteJournal.open(self.path, synchronous="full", max_pending=1_000_000) as j:
                yield j

    async def counts(self) -> dict[str, Any]:
        sql = (
            "SELECT (SELECT count(*) FROM payloads),"
            " (SELECT count(*) FROM payloads WHERE processed_at IS NULL),"
            " (SELECT count(*) FROM alerts), (SELECT count(*) FROM decisions),"
            " (SELECT count(*) FROM executions WHERE status IN ('pending', 'running')),"
            " (SELECT min(decided_at) FROM decisions), (SELECT max(processed_at) FROM payloads)"
        )
        if self.url is not None:
            conn = await asyncpg.connect(self.url, password=self.password)
            try:
                row = tuple(await conn.fetchrow(sql))
            finally:
                await conn.close()
        else:
            import sqlite3

            assert self.path is not None
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
            try:
                row = db.execute(sql).fetchone()
            finally:
                db.close()
        keys = ("payloads", "unprocessed", "alerts", "decisions", "unfinished", "first_decided_at", "last_at")
        return dict(zip(keys, row, strict=True))


@contextlib.asynccontextmanager
async def daemons(
    workdir: Path, n: int, *, journal: Journal, rules: Path
) -> AsyncIterator[list[procs.Server]]:
    """`n` daemons on one journal, started together, stopped at exit."""
    async with contextlib.AsyncExitStack() as stack:
        starts = [
            stack.enter_async_context(
                procs.remediator_server(
                    workdir / f"replica-{i}",
                    rules=rules,
                    name=f"replica-{i}",
                    journal=journal.config(),
                    env={PASSWORD_ENV: journal.password, "POD_NAME": f"replica-{i}"},
                )
            )
            for i in range(n)
        ]
        yield list(await asyncio.gather(*starts))


async def _ingest(
    config: BenchConfig, workdir: Path, *, n: int, journal: Journal, rules: Path, inputs: dict[str, Path]
) -> dict[str, Any]:
    generator = ingest._generator(config)
    connections = max(1, config.ingest_connections // n)
    async with daemons(workdir, n, journal=journal, rules=rules) as servers:
        if config.ingest_warmup_s > 0:
            await asyncio.gather(
                *(
                    ingest._load(
                        generator,
                        url=s.url + ingest.WEBHOOK,
                        inputs=inputs,
                        connections=connections,
                        duration_s=config.ingest_warmup_s,
                    )
                    for s in servers
                )
            )
        results: list[loadgen.LoadResult] = await asyncio.gather(
            *(
                ingest._load(
                    generator,
                    url=s.url + ingest.WEBHOOK,
                    inputs=inputs,
                    connections=connections,
                    duration_s=config.ingest_duration_s,
                )
                for s in servers
            )
        )
        codes: dict[str, int] = {}
        for s in servers:
            for code, count in procs.webhook_codes(await s.metrics()).items():
                codes[code] = codes.get(code, 0) + count
    counts = await journal.counts()
    requests = sum(r.requests for r in results)
    return {
        "generator": generator,
        "connections": connections * n,
        "requests": requests,
        "requests_per_s": sum(r.requests_per_s for r in results),
        "p99_ms": max(r.p99_ms for r in results),
        "non_2xx": sum(r.non_2xx for r in results)
        + sum(c for k, c in codes.items() if not k.startswith("2")),
        "journal_payloads": counts["payloads"],
    }


async def _processing(
    config: BenchConfig, workdir: Path, *, n: int, journal: Journal, rules: Path, bodies: list[bytes]
) -> dict[str, Any]:
    async with journal.open() as j:
        for i in range(0, len(bodies), 256):
            await asyncio.gather(*(j.accept("alertmanager", b) for b in bodies[i : i + 256]))
    alerts, decisions = expected_decisions(load_rules([rules]), bodies)
    started = time.perf_counter()
    async with daemons(workdir, n, journal=journal, rules=rules):
        deadline = time.monotonic() + 900
        while True:
            counts = await journal.counts()
            if counts["unprocessed"] == 0 and counts["unfinished"] == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"backlog not drained: {counts}")
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - started
    # From the first decision (its batch claimed and parsed) to the last batch committed.
    window = max(float(counts["last_at"]) - float(counts["first_decided_at"]), 1e-3)
    return {
        "payloads": len(bodies),
        "alerts": alerts,
        "alerts_recorded": counts["alerts"],
        "alerts_lost": alerts - counts["alerts"],
        "decisions": counts["decisions"],
        "decisions_expected": decisions,
        "wall_s": wall,
        "alerts_per_s_wall": alerts / wall,
        "window_s": window,
        "alerts_per_s_window": alerts / window,
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    procs.ensure_dir(workdir)
    rules = workload.make_rules(workdir / "rules", config.replicas_rules)
    mix = workload.Mix(rules=config.replicas_rules, active_alertnames=50, targets=5000, unrouted_fraction=0.2)
    ingest_bodies = workload.payloads(
        mix, count=config.ingest_distinct_bodies.get(1, 100), alerts_per_payload=1
    )
    inputs = {"bodies": loadgen.write_bodies(workdir / "bodies-1.jsonl", ingest_bodies)}
    if ingest._generator(config) == "wrk":
        inputs["wrk"] = loadgen.write_wrk_script(
            workdir / "post-1.lua", bodies=ingest_bodies, url_path=ingest.WEBHOOK, token=procs.TOKEN
        )
    backlog = workload.payloads(
        mix,
        count=config.replicas_payloads,
        alerts_per_payload=config.replicas_alerts_per_payload,
        first_serial=77_000_000,
    )
    rows: list[dict[str, Any]] = []
    with running_cluster(DURABLE_SETTINGS) as cluster:
        for backend, n in VARIANTS:
            name = f"{backend} x{n}"
            row: dict[str, Any] = {"journal": backend, "replicas": n}
            where = workdir / f"{backend}-{n}-ingest"
            journal = _journal(cluster, where, backend=backend, database=f"{backend}_{n}_ingest")
            row["ingest"] = await _ingest(config, where, n=n, journal=journal, rules=rules, inputs=inputs)
            where = workdir / f"{backend}-{n}-processing"
            journal = _journal(cluster, where, backend=backend, database=f"{backend}_{n}_processing")
            row["processing"] = await _processing(
                config, where, n=n, journal=journal, rules=rules, bodies=backlog
            )
            rows.append(row)
            i, p = row["ingest"], row["processing"]
            say(
                f"  {name:<14} ingest {i['requests_per_s']:>7.0f} req/s p99 {i['p99_ms']:.1f} ms non-2xx "
                f"{i['non_2xx']} | processing {p['alerts_per_s_window']:>7.0f} alerts/s "
                f"({p['alerts_per_s_wall']:.0f}/s with start-up), lost {p['alerts_lost']}"
            )
    return {
        "rules": config.replicas_rules,
        "ingest_duration_s": config.ingest_duration_s,
        "backlog_payloads": config.replicas_payloads,
        "alerts_per_payload": config.replicas_alerts_per_payload,
        "rows": rows,
    }


def _journal(cluster: PgCluster, workdir: Path, *, backend: str, database: str) -> Journal:
    procs.ensure_dir(workdir)
    if backend == "sqlite":
        return Journal(path=workdir / "journal.sqlite")
    return Journal(url=cluster.create_database(database), password=cluster.password)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """No speed target: one row per variant, met when nothing was refused or lost and every alert was
    decided exactly once per matching rule (however many replicas shared the backlog)."""
    out = []
    for row in result["rows"]:
        i, p = row["ingest"], row["processing"]
        out.append(
            {
                "name": f"replicas: {row['journal']} x{row['replicas']} ingest / processing",
                "value": i["requests_per_s"],
                "display": f"{i['requests_per_s']:,.0f} req/s / {p['alerts_per_s_window']:,.0f} alerts/s",
                "target": "0 non-2xx, 0 lost, decided once",
                "met": i["non_2xx"] == 0
                and p["alerts_lost"] == 0
                and p["decisions"] == p["decisions_expected"],
            }
        )
    return out
