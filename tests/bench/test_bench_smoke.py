"""The benchmarks' code paths, at tiny sizes: they must run and produce well-formed results.

No timing assertions (that is what `python -m bench` is for); only that every benchmark ran,
that the results have their shape, that no alert was lost and that every answer was 2xx.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import report, workload
from bench.config import SMOKE
from bench.runner import BENCHMARKS, run_all
from remediator.receivers import alertmanager
from remediator.rules import load_rules


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import asyncio

    out = tmp_path_factory.mktemp("bench") / "results.json"
    lines: list[str] = []
    results = asyncio.run(run_all(SMOKE, output=out, say=lines.append))
    assert json.loads(out.read_text())["targets"] == results["targets"]
    return results


def test_every_benchmark_ran(results: dict[str, Any]) -> None:
    for name in BENCHMARKS:
        assert name in results, name
        assert "error" not in results[name], results[name].get("traceback")
    assert results["machine"]["cores"] and results["machine"]["python"]
    assert all({"name", "display", "target", "met"} <= set(t) for t in results["targets"])
    assert "benchmark" in report.render(results)


def test_ingest_answers_only_2xx(results: dict[str, Any]) -> None:
    runs = results["ingest"]["runs"]
    assert {r["server"] for r in runs} == {"bare", "remediator", "remediator (intake process)"}
    assert {r["alerts_per_payload"] for r in runs} == set(SMOKE.ingest_sizes)
    for r in runs:
        assert r["requests"] > 0 and r["non_2xx"] == 0, r
        if r["server"].startswith("remediator"):
            assert r["server_non_2xx"] == 0 and set(r["server_codes"]) == {"202"}, r
            assert r["journal_payloads"] >= r["requests"]
    assert set(results["ingest"]["ratios"]) == {str(s) for s in SMOKE.ingest_sizes}


def test_processing_loses_nothing(results: dict[str, Any]) -> None:
    for row in results["processing"]["runs"]:
        assert row["alerts"] > 0 and row["alerts_lost"] == 0, row
        assert row["decisions_recorded"] == row["decisions_expected"] > 0
        assert row["alert_rule_pairs_decided"] == row["decisions_expected"]
        assert row["unprocessed_payloads"] == 0


def test_matching_rows(results: dict[str, Any]) -> None:
    rows = results["matching"]["rows"]
    assert [r["rules"] for r in rows] == list(SMOKE.matching_rule_counts)
    assert all(r["us_per_alert"] > 0 and 0.5 < r["matches_per_alert"] < 1.0 for r in rows)


def test_storm_counts(results: dict[str, Any]) -> None:
    storm = results["storm"]
    assert storm["alerts"] == SMOKE.storm_alerts and storm["alerts_lost"] == 0
    assert storm["decisions_recorded"] == storm["decisions_expected"] == 2 * SMOKE.storm_alerts
    assert storm["kube"]["deployment_patches"] == storm["kube"]["deployments_patched"] == SMOKE.storm_targets
    assert set(storm["webhook_codes"]) == {"202"}
    assert storm["peak_rss_mib"] > 0


def test_latency_measured_for_every_alert(results: dict[str, Any]) -> None:
    lat = results["latency"]
    assert lat["without_kube_request"] == 0 and set(lat["webhook_codes"]) == {"202"}
    assert lat["to_first_request"]["n"] == SMOKE.latency_alerts


def test_journal_modes(results: dict[str, Any]) -> None:
    modes = results["journal"]["modes"]
    assert modes["group_commit"]["accepts"] == SMOKE.journal_accepts
    assert (
        modes["sequential"]["commits"] == modes["sequential"]["accepts"] == SMOKE.journal_sequential_accepts
    )
    assert modes["one_transaction_per_request"]["accepts"] == SMOKE.journal_sequential_accepts


def test_generated_alerts_match_one_rule_or_none(tmp_path: Path) -> None:
    """The workload's promise that processing's expected decisions rely on."""
    rules = load_rules([workload.make_rules(tmp_path / "rules", 40)])
    assert len(rules) == 40 and rules.index.scan_size == 2
    mix = workload.Mix(rules=40, active_alertnames=10, targets=100, unrouted_fraction=0.3)
    for body in workload.payloads(mix, count=5, alerts_per_payload=40):
        for a in alertmanager.normalize(alertmanager.validate(body)):
            unrouted = a.name.startswith(workload.UNROUTED_PREFIX)
            assert len(rules.match(a)) == (0 if unrouted else 1), a.name


def test_replicas_rows_lose_nothing(results: dict[str, Any]) -> None:
    rows = results["replicas"]["rows"]
    assert [(r["journal"], r["replicas"]) for r in rows] == [
        ("sqlite", 1),
        ("postgresql", 1),
        ("postgresql", 3),
    ]
    for r in rows:
        assert r["ingest"]["requests"] > 0 and r["ingest"]["non_2xx"] == 0, r
        assert r["ingest"]["journal_payloads"] >= r["ingest"]["requests"], "every 2xx is in the journal"
        p = r["processing"]
        assert p["alerts_lost"] == 0 and p["alerts_recorded"] == p["alerts"] > 0, r
        # Every alert decided once for each matching rule, however many replicas shared the backlog.
        assert p["decisions"] == p["decisions_expected"] > 0, r
        assert p["window_s"] > 1e-3 and p["wall_s"] >= p["window_s"], r
    assert "Replicas" in report.render(results)


def test_drivers_rows(results: dict[str, Any]) -> None:
    modes = results["drivers"]["modes"]
    assert set(modes) == {"fsync on", "fsync off"}
    for drivers in modes.values():
        assert set(drivers) == {"asyncpg", "psycopg"}
        for d in drivers.values():
            assert 0 < d["lone_p50_ms"] <= d["lone_p99_ms"] and d["grouped_accepts_per_s"] > 0, d
    assert "PostgreSQL drivers" in report.render(results)


def test_backlog_rows_drained_and_sampled(results: dict[str, Any]) -> None:
    backlog = results["backlog"]
    for name, payloads in (("small", SMOKE.backlog_small_payloads), ("big", SMOKE.backlog_payloads)):
        row = backlog[name]
        assert row["fill"]["backlog_payloads"] == row["backlog_payloads"] == payloads, row
        assert row["alerts_processed_in_window"] > 0 and row["decisions_in_window"] > 0, row
        assert 0 < row["rss_at_ready_mib"] <= row["peak_rss_mib"], row
    assert "Backlog memory" in report.render(results)


def test_the_request_path_bench_measures_accepted_webhooks() -> None:
    """`python -m bench.request_path` (not part of the run above): both servers answer every request
    2xx, so what it measures is the accepting path, not a refusal."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "bench.request_path", "--sizes", "1", "--duration", "1", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = [line.split() for line in out.splitlines() if "alerts/payload" in line]
    assert [row[0] for row in rows] == ["bare", "intake"], out
    assert all("non-2xx 0" in line for line in out.splitlines() if "alerts/payload" in line), out
