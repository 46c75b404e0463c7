"""2. Processing (sustained): alerts/s from the journal to recorded decisions, draining a backlog.

In-process, with the daemon's own wiring: `open_app(settings, process=False)` accepts the
payloads straight into the journal (`journal.accept`, no HTTP), then the clock starts,
`open_app(settings)` starts the processor and `app.drained()` waits until every payload is
normalized, matched, guarded, decided and recorded, and every dry-run plan is journaled
(`kubernetes.mode: none`). Logging is configured as the daemon's (JSON lines, info), to a file.

Two backlogs. The headline is the realistic path: rate limits relaxed (`RELAXED_GUARDS`), so every
first (rule, target) pair gets its own dry-run plan and execution record, the expensive path. Beside
it the full backlog under the shipped guard defaults (in a storm most decisions are then rate-limit
skips: what the daemon really does). Checked: no alert lost, and every (alert, matching rule) pair
decided (a deferred decision is decided again when its slot frees, so rows may exceed pairs).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import procs, workload
from bench._logs import daemon_logging
from bench.config import RELAXED_GUARDS, BenchConfig
from remediator.app import open_app
from remediator.config import Settings
from remediator.receivers import alertmanager
from remediator.rules import RuleSet, load_rules
from remediator.store import Intake

TARGET_ALERTS_PER_S = 20_000
REALISTIC = "realistic path (rate limits relaxed, plans made)"
"""The headline: every routed alert decided with guards that let it through to a dry-run plan."""
_ACCEPT_CONCURRENCY = 256


def expected_decisions(rules: RuleSet, bodies: list[bytes]) -> tuple[int, int]:
    """(alerts, decisions the engine must record): one decision per matching rule per alert."""
    alerts = decisions = 0
    for body in bodies:
        for a in alertmanager.normalize(alertmanager.validate(body)):
            alerts += 1
            decisions += len(rules.match(a))
    return alerts, decisions


async def accept_bodies(journal: Intake, bodies: Iterable[bytes]) -> None:
    """Accept `bodies` through the webhook's own write (`journal.accept`, no HTTP), a few hundred at a
    time, so each group commit takes many."""
    it = iter(bodies)
    while chunk := list(itertools.islice(it, _ACCEPT_CONCURRENCY)):
        await asyncio.gather(*(journal.accept("alertmanager", b) for b in chunk))


async def _accept_all(settings: Settings, bodies: list[bytes]) -> dict[str, Any]:
    async with open_app(settings, process=False) as app:
        journal = app.journal
        commits0 = journal.commits
        started = time.perf_counter()
        await accept_bodies(journal, bodies)
        elapsed = time.perf_counter() - started
        return {
            "payloads": len(bodies),
            "seconds": elapsed,
            "payloads_per_s": len(bodies) / elapsed,
            "commits": journal.commits - commits0,
            "backlog": journal.backlog(),
        }


async def drain(
    workdir: Path,
    *,
    rules_dir: Path,
    rules: RuleSet,
    payload_count: int,
    alerts_per_payload: int,
    guards: dict[str, Any] | None,
    mix: workload.Mix,
) -> dict[str, Any]:
    procs.ensure_dir(workdir)
    journal_path = workdir / "journal.sqlite"
    settings = Settings.model_validate(
        procs.daemon_config(port=0, journal=journal_path, rules=rules_dir, guards=guards)
    )
    bodies = workload.payloads(mix, count=payload_count, alerts_per_payload=alerts_per_payload)
    alerts, decisions = expected_decisions(rules, bodies)
    with daemon_logging(workdir / "daemon.log"):
        accepted = await _accept_all(settings, bodies)
        t0 = time.perf_counter()
        async with open_app(settings) as app:
            t1 = time.perf_counter()
            await app.drained(timeout_s=900.0)
            t2 = time.perf_counter()
            commits = app.journal.commits
    del bodies
    counts = procs.journal_counts(journal_path)
    log_lines = sum(1 for _ in (workdir / "daemon.log").open())
    return {
        "guards": REALISTIC if guards else "shipped defaults",
        "payloads": payload_count,
        "alerts_per_payload": alerts_per_payload,
        "alerts": alerts,
        "accept": accepted,
        "startup_s": t1 - t0,
        "drain_s": t2 - t1,
        "total_s": t2 - t0,
        "alerts_per_s": alerts / (t2 - t0),
        "alerts_per_s_after_startup": alerts / (t2 - t1),
        "journal_commits_while_draining": commits,
        "alerts_recorded": counts["alerts"],
        "alerts_lost": alerts - counts["alerts"],
        "decisions_expected": decisions,
        "decisions_recorded": counts["decisions"],
        # A deferred decision is decided again when its slot frees: one more row for the same pair.
        "alert_rule_pairs_decided": counts["alert_rule_pairs_decided"],
        "outcomes": counts["outcomes"],
        "execution_statuses": counts["execution_statuses"],
        "unprocessed_payloads": counts["unprocessed_payloads"],
        "log_lines": log_lines,
    }


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rules_dir = workload.make_rules(workdir / "rules", config.processing_rules)
    rules = load_rules([rules_dir])
    mix = workload.Mix(
        rules=config.processing_rules, active_alertnames=20, targets=5000, unrouted_fraction=0.2
    )
    runs: list[dict[str, Any]] = []
    for name, guards, count in (
        ("relaxed", RELAXED_GUARDS, config.processing_relaxed_payloads),
        ("default", None, config.processing_payloads),
    ):
        row = await drain(
            workdir / name,
            rules_dir=rules_dir,
            rules=rules,
            payload_count=count,
            alerts_per_payload=config.processing_alerts_per_payload,
            guards=guards,
            mix=mix,
        )
        runs.append(row)
        top = Counter(row["outcomes"]).most_common(3)
        say(
            f"  processing ({row['guards']}): {row['alerts']} alerts in {row['total_s']:.1f} s = "
            f"{row['alerts_per_s']:.0f} alerts/s; outcomes {top}"
        )
    return {"rules": config.processing_rules, "mix": dataclasses.asdict(mix), "runs": runs}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for row in result["runs"]:
        # Every alert decided by every rule it matches (each pair once at least), nothing lost.
        pairs = row.get("alert_rule_pairs_decided", row["decisions_recorded"])
        ok = (
            row["alerts_lost"] == 0
            and pairs == row["decisions_expected"]
            and row["decisions_recorded"] >= row["decisions_expected"]
        )
        out.append(
            {
                "name": f"processing, {row['guards']}: alerts/s journal -> decision",
                "value": row["alerts_per_s"],
                "display": (
                    f"{row['alerts_per_s']:,.0f}/s = "
                    f"{row['alerts_per_s'] / TARGET_ALERTS_PER_S:.0%} of target "
                    f"({row['alerts']:,} alerts, lost {row['alerts_lost']}, "
                    f"decided {pairs:,}/{row['decisions_expected']:,})"
                ),
                "target": f">= {TARGET_ALERTS_PER_S:,}/s, 0 lost",
                "met": row["alerts_per_s"] >= TARGET_ALERTS_PER_S and ok,
            }
        )
    return out
