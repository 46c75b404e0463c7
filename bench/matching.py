"""3. Matching: `RuleSet.match(alert)` cost per alert with 10 to 10,000 rules, in-process.

Every rule set is generated the same way (workload.make_rules: equality, literal-alternation
and real-regex matchers, two rules the index cannot file), and the alerts the same way (80%
carry one of 50 alertnames spread over the whole rule set and match exactly one rule, 20% match
none), so only the rule count changes. Best of `matching_repeats` passes over the same alerts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import workload
from bench.config import BenchConfig
from remediator.model import Alert
from remediator.receivers import alertmanager
from remediator.rules import RuleSet, load_rules

TARGET_RATIO = 2.0


def _alerts(rules: int, count: int) -> list[Alert]:
    mix = workload.Mix(
        rules=rules,
        active_alertnames=min(50, workload.generated_count(rules)),
        targets=5000,
        unrouted_fraction=0.2,
    )
    bodies = workload.payloads(mix, count=max(count // 100, 1), alerts_per_payload=min(count, 100))
    return [a for b in bodies for a in alertmanager.normalize(alertmanager.validate(b))]


def _time_match(rules: RuleSet, alerts: list[Alert], repeats: int) -> tuple[float, int, int]:
    best = float("inf")
    matched = candidates = 0
    for _ in range(repeats):
        started = time.perf_counter()
        for a in alerts:
            rules.match(a)
        best = min(best, time.perf_counter() - started)
    for a in alerts:
        matched += len(rules.match(a))
        candidates += len(rules.index.candidates(a))
    return best, matched, candidates


async def run(config: BenchConfig, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    rows = []
    for n in config.matching_rule_counts:
        directory = workload.make_rules(workdir / f"rules-{n}", n)
        started = time.perf_counter()
        rules = load_rules([directory])
        load_s = time.perf_counter() - started
        alerts = _alerts(n, config.matching_alerts)
        best, matched, candidates = _time_match(rules, alerts, config.matching_repeats)
        row = {
            "rules": len(rules),
            "load_s": load_s,
            "alerts": len(alerts),
            "us_per_alert": best / len(alerts) * 1e6,
            "matches_per_alert": matched / len(alerts),
            "candidates_per_alert": candidates / len(alerts),
            "scanned_rules": rules.index.scan_size,
        }
        rows.append(row)
        say(
            f"  matching {n:>6} rules: {row['us_per_alert']:.2f} us/alert "
            f"({row['candidates_per_alert']:.2f} candidates, load {load_s:.1f} s)"
        )
    smallest, largest = rows[0], rows[-1]
    return {
        "rows": rows,
        "ratio_largest_to_smallest": largest["us_per_alert"] / smallest["us_per_alert"],
        "largest": largest["rules"],
        "smallest": smallest["rules"],
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    ratio = result["ratio_largest_to_smallest"]
    return [
        {
            "name": f"matching: cost per alert, {result['largest']:,} rules / {result['smallest']:,} rules",
            "value": ratio,
            "display": f"{ratio:.2f}x",
            "target": f"<= {TARGET_RATIO:.0f}x",
            "met": ratio <= TARGET_RATIO,
        }
    ]
