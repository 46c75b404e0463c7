"""The printed table and bench/results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def ingest_table(result: dict[str, Any]) -> str:
    ratios = result.get("ratios", {})
    rows = []
    for r in result.get("runs", []):
        size = str(r["alerts_per_payload"])
        server = r["server"]
        ratio = ""
        if server.startswith("remediator"):
            ratio = ", ".join(
                f"{v:.0%} of {k.split('/')[1]}"
                for k, v in ratios.get(size, {}).items()
                if k.startswith(server + "/")
            )
        rows.append(
            [
                server,
                size,
                f"{r['requests_per_s']:,.0f}",
                f"{r['alerts_per_s']:,.0f}",
                _ms(r["p50_ms"]),
                _ms(r["p99_ms"]),
                str(r["non_2xx"] + r.get("server_non_2xx", 0)),
                "-" if r.get("server_cpu_cores") is None else f"{r['server_cpu_cores']:.2f}",
                "-" if "backlog_alerts_at_end" not in r else f"{r['backlog_alerts_at_end']:,}",
                ratio,
            ]
        )
    headers = [
        "server",
        "alerts/req",
        "req/s",
        "alerts/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "cpu",
        "backlog alerts",
        "ratio",
    ]
    return _table(headers, rows)


def replicas_table(result: dict[str, Any]) -> str:
    headers = [
        "journal",
        "replicas",
        "ingest req/s",
        "p99 ms",
        "non-2xx",
        "processing alerts/s",
        "with start-up",
        "lost",
        "decided once",
    ]
    rows = [
        [
            r["journal"],
            str(r["replicas"]),
            f"{r['ingest']['requests_per_s']:,.0f}",
            _ms(r["ingest"]["p99_ms"]),
            str(r["ingest"]["non_2xx"]),
            f"{r['processing']['alerts_per_s_window']:,.0f}",
            f"{r['processing']['alerts_per_s_wall']:,.0f}",
            str(r["processing"]["alerts_lost"]),
            "yes" if r["processing"]["decisions"] == r["processing"]["decisions_expected"] else "NO",
        ]
        for r in result["rows"]
    ]
    return _table(headers, rows)


def drivers_table(result: dict[str, Any]) -> str:
    headers = [
        "postgresql",
        "driver",
        "lone accept p50 ms",
        "p99 ms",
        f"{result['group']} per commit accepts/s",
    ]
    rows = [
        [
            mode,
            f"{name} {result['versions'][name]}",
            f"{d['lone_p50_ms']:.2f}",
            f"{d['lone_p99_ms']:.2f}",
            f"{d['grouped_accepts_per_s']:,.0f}",
        ]
        for mode, drivers in result["modes"].items()
        for name, d in drivers.items()
    ]
    return _table(headers, rows)


def backlog_table(result: dict[str, Any]) -> str:
    headers = [
        "backlog alerts",
        "on disk MiB",
        "ready s",
        "RSS at ready MiB",
        "peak RSS MiB",
        "drained alerts",
    ]
    rows = [
        [
            f"{r['backlog_alerts']:,}",
            f"{r['journal_mib']:.0f}",
            f"{r['seconds_to_ready']:.1f}",
            f"{r['rss_at_ready_mib']:.0f}",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['alerts_processed_in_window']:,}",
        ]
        for r in (result["small"], result["big"])
    ]
    return _table(headers, rows)


def summary_table(targets: list[dict[str, Any]]) -> str:
    rows = [
        [t["name"], t["display"], t["target"], "yes" if t["met"] else "NO", _load(t.get("load_average"))]
        for t in targets
    ]
    return _table(["benchmark", "measured", "target", "met", "load 1m/5m"], rows)


def _load(load: Any) -> str:
    return "-" if not load else f"{load[0]:.1f}/{load[1]:.1f}"


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [
        f"remediator benchmarks ({results['config']['name']}) on {m['cores']} cores, {m['cpu_model']}, "
        f"Python {m['python']}, in {results['duration_s']:.0f} s; load average "
        f"{_load(m.get('load_average_at_start'))} at the start, "
        f"{_load(m.get('load_average_at_end'))} at the end",
    ]
    if "ingest" in results and "runs" in results["ingest"]:
        ing = results["ingest"]
        parts += [
            "",
            f"Ingest ({ing['generator']}, {ing['connections']} connections, {ing['duration_s']:.0f} s a run;"
            " cpu = server cores used; backlog = alerts acknowledged, not yet processed)",
            ingest_table(ing),
        ]
    if "replicas" in results and "rows" in results["replicas"]:
        rep = results["replicas"]
        parts += [
            "",
            f"Replicas (1-alert webhooks spread over the replicas; a backlog of {rep['backlog_payloads']} x "
            f"{rep['alerts_per_payload']} alerts drained; processing alerts/s over the processing window)",
            replicas_table(rep),
        ]
    if "drivers" in results and "modes" in results["drivers"]:
        drv = results["drivers"]
        parts += [
            "",
            f"PostgreSQL drivers on the journal's accept statement ({drv['body_bytes']}-byte payloads,"
            " best of the rounds)",
            drivers_table(drv),
        ]
    if "backlog" in results and "big" in results["backlog"]:
        blg = results["backlog"]
        parts += [
            "",
            f"Backlog memory (remediator serve on a journal of {blg['alerts_per_payload']}-alert payloads, "
            f"{blg['guards']}; RSS sampled for {blg['big']['window_s']:.0f} s from ready while it drains)",
            backlog_table(blg),
        ]
    parts += ["", summary_table(results["targets"])]
    errors = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    for name, err in errors.items():
        parts.append(f"ERROR in {name}: {err}")
    return "\n".join(parts)


def write(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
