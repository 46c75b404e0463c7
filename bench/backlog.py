"""9. Backlog memory: the daemon's RSS with 1,000,000 alerts waiting on disk, against 10,000.

The claim under test: the backlog lives on disk, so its size does not grow the daemon's memory.
Two journals are filled intake-only, in-process, through the daemon's own wiring
(`open_app(settings, process=False)` and `journal.accept`, the webhook's write: group commits,
no HTTP), with 100-alert Alertmanager payloads: `backlog_payloads` of them (10,000 = 1,000,000
alerts) and `backlog_small_payloads` (100 = 10,000 alerts). Generating a million distinct alerts
in Python would take longer than the rest of the row, so `backlog_distinct_bodies` bodies are
generated once and cycled, each copy with its own `startsAt` (a new episode of the same alerts,
as a restarted Alertmanager would send): every row is its own payload, every alert its own row.

Then `remediator serve` (1,000 rules, shipped guard defaults, `kubernetes.mode: none`) starts
on each journal in turn, as its own process, and its RSS (`VmRSS` from /proc) is sampled every
100 ms from ready for `backlog_window_s` while it drains; `VmHWM` (the kernel's peak) is read
at the end. The small backlog is two full batches (5,000 alerts a batch), so both daemons make
batches of the same size: what differs is only what waits on disk.

Bound: the big backlog's peak within 10% + 20 MiB of the small one's. Memory that grows with
the backlog grows in proportion (a per-payload index, a start-up read of pending rows: at 100
times the backlog, hundreds of MiB); 10% + 20 MiB leaves room for what is noise, not growth:
allocator arenas and the guards' state (which is bounded by targets and windows, not by the
backlog) after a longer drain, and SQLite's page cache (2 MiB a connection).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import procs, workload
from bench._logs import daemon_logging
from bench.config import BenchConfig
from bench.processing import accept_bodies
from remediator.app import open_app
from remediator.config import Settings

ALERTS_PER_PAYLOAD = 100
BOUND_RATIO = 1.10
BOUND_SLACK_MIB = 20.0
_SAMPLE_S = 0.1


def _copies(distinct: list[bytes], count: int) -> Iterator[bytes]:
    """`count` bodies cycling through `distinct`, copy k with every `startsAt` moved k ms back."""
    stamp = _starts_at(distinct[0])
    base = datetime.fromisoformat(stamp.decode().replace("Z", "+00:00"))
    for k in range(count):
        body = distinct[k % len(distinct)]
        new = (base - timedelta(milliseconds=k)).astimezone(UTC).isoformat().replace("+00:00", "Z")
        yield body.replace(stamp, new.encode()) if k >= len(distinct) else body


def _starts_at(body: bytes) -> bytes:
    """The `startsAt` every alert in a generated body shares (workload.alert_stream stamps one)."""
    key = b'"startsAt":"'
    start = body.index(key) + len(key)
    return body[start : body.index(b'"', start)]


async def fill(settings: Settings, bodies: Iterator[bytes], count: int) -> dict[str, Any]:
    """Accept `count` bodies into the journal through the webhook's write, 256 at a time."""
    started = time.perf_counter()
    async with open_app(settings, process=False) as app:
        await accept_bodies(app.journal, itertools.islice(bodies, count))
        backlog = app.journal.backlog()
    return {"payloads": count, "seconds": time.perf_counter() - started, "backlog_payloads": backlog}


async def _sample(server: procs.Server, stop: asyncio.Event, samples: list[tuple[float, float]]) -> None:
    t0 = time.perf_counter()
    while not stop.is_set():
        rss = server.rss_mib()
        if rss is not None:
            samples.append((time.perf_counter() - t0, rss))
        try:
            async with asyncio.timeout(_SAMPLE_S):
                await stop.wait()
        except TimeoutError:
            pass


async def measure(
    workdir: Path,
    *,
    rules_dir: Path,
    distinct: list[bytes],
    payloads: int,
    window_s: float,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Fill a journal with `payloads` x 100 alerts, start the daemon on it, sample its RSS."""
    procs.ensure_dir(workdir)
    journal_path = workdir / "journal.sqlite"  # where procs.remediator_server points the daemon
    settings = Settings.model_validate(procs.daemon_config(port=0, journal=journal_path, rules=rules_dir))
    with daemon_logging(workdir / "fill.log"):
        filled = await fill(settings, _copies(distinct, payloads), payloads)
    say(f"  backlog: {payloads * ALERTS_PER_PAYLOAD:,} alerts accepted in {filled['seconds']:.1f} s")
    journal_mib = journal_path.stat().st_size / 2**20
    spawned = time.perf_counter()
    async with procs.remediator_server(workdir, rules=rules_dir) as server:
        ready_s = time.perf_counter() - spawned
        rss_at_ready = server.rss_mib()
        samples: list[tuple[float, float]] = []
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_sample(server, stop, samples), name="rss-sampler")
            await asyncio.sleep(window_s)
            stop.set()
        peak = server.peak_rss_mib()
        counts = await asyncio.to_thread(procs.journal_counts, journal_path)
    processed = counts["payloads"] - counts["unprocessed_payloads"]
    second_half = [r for t, r in samples if t >= window_s / 2]
    return {
        "backlog_alerts": payloads * ALERTS_PER_PAYLOAD,
        "backlog_payloads": payloads,
        "fill": filled,
        "journal_mib": journal_mib,
        "seconds_to_ready": ready_s,
        "rss_at_ready_mib": rss_at_ready,
        "rss_max_sampled_mib": max((r for _, r in samples), default=None),
        "rss_last_sampled_mib": samples[-1][1] if samples else None,
        # Still draining in the second half: growth there would be growth with the work done.
        "rss_second_half_growth_mib": (second_half[-1] - second_half[0]) if second_half else None,
        "rss_samples": [[round(t, 2), round(r, 1)] for t, r in samples[:: max(1, len(samples) // 50)]],
        "peak_rss_mib": peak,
        "window_s": window_s,
        "alerts_processed_in_window": processed * ALERTS_PER_PAYLOAD,
        "alerts_decided_in_window": counts["alerts"],
        "decisions_in_window": counts["decisions"],
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rules_dir = workload.make_rules(workdir / "rules", config.backlog_rules)
    mix = workload.Mix(rules=config.backlog_rules, active_alertnames=20, targets=5000, unrouted_fraction=0.2)
    distinct = workload.payloads(
        mix, count=config.backlog_distinct_bodies, alerts_per_payload=ALERTS_PER_PAYLOAD
    )
    rows = {}
    for name, payloads in (("small", config.backlog_small_payloads), ("big", config.backlog_payloads)):
        row = await measure(
            workdir / name,
            rules_dir=rules_dir,
            distinct=distinct,
            payloads=payloads,
            window_s=config.backlog_window_s,
            say=say,
        )
        rows[name] = row
        say(
            f"  backlog {row['backlog_alerts']:,} alerts ({row['journal_mib']:.0f} MiB on disk): ready in "
            f"{row['seconds_to_ready']:.1f} s at {row['rss_at_ready_mib']:.0f} MiB, peak "
            f"{row['peak_rss_mib']:.0f} MiB, {row['alerts_processed_in_window']:,} alerts drained "
            f"in {row['window_s']:.0f} s"
        )
    return {
        "rules": config.backlog_rules,
        "alerts_per_payload": ALERTS_PER_PAYLOAD,
        "distinct_bodies": config.backlog_distinct_bodies,
        "guards": "shipped defaults",
        "bound": f"big peak <= small peak x {BOUND_RATIO:.2f} + {BOUND_SLACK_MIB:.0f} MiB",
        **rows,
    }


def bound_mib(small_peak_mib: float) -> float:
    return small_peak_mib * BOUND_RATIO + BOUND_SLACK_MIB


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    small, big = result["small"], result["big"]
    limit = bound_mib(small["peak_rss_mib"])
    drained = big["alerts_processed_in_window"] > 0 and small["alerts_processed_in_window"] > 0
    return [
        {
            "name": f"backlog: daemon peak RSS, {big['backlog_alerts']:,} alerts on disk",
            "value": big["peak_rss_mib"],
            "display": (
                f"{big['peak_rss_mib']:.0f} MiB vs {small['peak_rss_mib']:.0f} MiB with "
                f"{small['backlog_alerts']:,} (ready: {big['rss_at_ready_mib']:.0f} vs "
                f"{small['rss_at_ready_mib']:.0f}; drained {big['alerts_processed_in_window']:,} "
                f"in {big['window_s']:.0f} s)"
            ),
            "target": f"<= {limit:.0f} MiB (small x {BOUND_RATIO:.2f} + {BOUND_SLACK_MIB:.0f})",
            "met": drained and big["peak_rss_mib"] <= limit,
        }
    ]
