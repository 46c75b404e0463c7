"""The Grafana dashboard (loaded back with grafana-foundation-sdk) and the PromQL of the dashboard
and of the chart's PrometheusRule, checked against remediator's metric contract."""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import pytest

from tests.ship.conftest import CHART_DIR, REPO, all_on_values, one, render
from tests.ship.promql import (
    CONTRACT_COUNTERS,
    CONTRACT_GAUGES,
    CONTRACT_HISTOGRAMS,
    contract_series_names,
    dashboard_expressions,
    metric_names,
    rule_expressions,
)

CANONICAL = CHART_DIR / "dashboards" / "remediator.json"
ROOT_COPY = REPO / "dashboards" / "remediator.json"


def _dashboard() -> dict[str, Any]:
    data = json.loads(CANONICAL.read_text())
    assert isinstance(data, dict)
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for p in dashboard["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))  # collapsed rows keep their panels inside
    return panels


def _exposed_series() -> set[str]:
    """Series names remediator/metrics.py actually exposes."""
    from remediator.metrics import Metrics

    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
        "summary": ("", "_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


# ------------------------------------------------------------------------------ the JSON itself


def test_root_copy_is_identical() -> None:
    assert ROOT_COPY.read_bytes() == CANONICAL.read_bytes(), (
        "dashboards/remediator.json must be a byte-for-byte copy of "
        "helm/remediator/dashboards/remediator.json"
    )


def test_sdk_loads_it_back_losslessly() -> None:
    """Decode with the SDK's Dashboard model and encode again: nothing may be lost or changed,
    so every field the JSON has is one the SDK's schema (Grafana 11.6) knows."""
    pytest.importorskip("grafana_foundation_sdk", reason="PyPI package grafana-foundation-sdk")
    # The SDK publishes one release per Grafana version, ordered by an epoch; a bare install picks
    # the Grafana 10.1 schema, which does not know fields Grafana 11 writes.
    version = importlib.metadata.version("grafana-foundation-sdk")
    assert version.endswith("!11.6.0"), f"need grafana-foundation-sdk==1769699379!11.6.0, have {version}"
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel
    from grafana_foundation_sdk.models.prometheus import Dataquery

    register_default_plugins()
    original = _dashboard()
    model = Dashboard.from_json(original)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == original
    assert model.title == "remediator"
    assert model.uid == "remediator-overview"
    assert model.panels
    for panel in model.panels:
        assert isinstance(panel, Panel | RowPanel)
        if isinstance(panel, Panel):
            assert panel.targets, panel.title
            # The SDK decoded the targets as Prometheus queries (by the datasource type).
            assert all(isinstance(t, Dataquery) for t in panel.targets), panel.title


def test_panels_cover_the_brief() -> None:
    titles = {p["title"] for p in _panels(_dashboard())}
    assert {
        "Alerts received",
        "Decisions by outcome",
        "Actions by rule",
        "Time to remediate",
        "Circuit breakers",
        "Queue depth",
        "Webhook latency p99",
        "Webhook errors",
        "Escalations",
    } <= titles


def test_datasource_is_a_variable() -> None:
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    for name in ("namespace", "job"):
        assert variables[name]["datasource"]["uid"] == "${datasource}"


def test_layout() -> None:
    panels = _panels(_dashboard())
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]


def test_time_to_remediate_shows_quantiles() -> None:
    panel = next(p for p in _panels(_dashboard()) if p["title"] == "Time to remediate")
    exprs = [t["expr"] for t in panel["targets"]]
    assert [e.split(",")[0] for e in exprs] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.9",
        "histogram_quantile(0.99",
    ]


# ------------------------------------------------------------------------------ PromQL contract


def test_dashboard_queries_use_only_contract_metrics() -> None:
    allowed = contract_series_names()
    exprs = dashboard_expressions(_dashboard())
    assert len(exprs) >= 20
    used: set[str] = set()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= allowed, f"{sorted(names - allowed)} not in the contract: {expr}"
        used |= names
    # And it shows every metric of the contract.
    expected = set(CONTRACT_COUNTERS) | set(CONTRACT_GAUGES) | {f"{h}_bucket" for h in CONTRACT_HISTOGRAMS}
    assert expected <= used, f"not on the dashboard: {sorted(expected - used)}"


def test_prometheus_rule_uses_only_contract_metrics() -> None:
    rule = one(render(all_on_values()), "PrometheusRule")
    exprs = rule_expressions(rule["spec"]["groups"])
    assert len(exprs) >= 6
    allowed = contract_series_names()
    for expr in exprs:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        assert names <= allowed, f"{sorted(names - allowed)} not in the contract: {expr}"


def test_the_daemon_exposes_every_metric_used() -> None:
    """Cross-check with the code: every series queried exists in remediator/metrics.py's registry."""
    exposed = _exposed_series()
    rule = one(render(all_on_values()), "PrometheusRule")
    exprs = dashboard_expressions(_dashboard()) + rule_expressions(rule["spec"]["groups"])
    used = set().union(*(metric_names(e) for e in exprs))
    assert used <= exposed, f"queried but not exposed by remediator.metrics: {sorted(used - exposed)}"


# ------------------------------------------------------------------------------ the tokenizer


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (namespace) (rate(http_requests_total{status=~"5.."}[1m])) * 60 > 10',
            {"http_requests_total"},
        ),
        ('label_values(remediator_build_info{namespace=~"$namespace"}, job)', {"remediator_build_info"}),
        ("label_values(remediator_build_info, namespace)", {"remediator_build_info"}),
        ("label_values(job)", set()),
        (
            'histogram_quantile(0.99, sum by (le) (rate(x_seconds_bucket{job=~"$job"}[$__rate_interval])))',
            {"x_seconds_bucket"},
        ),
        ('count(a{r="b"} == 2) or vector(0)', {"a"}),
        ("time() - max(ts_seconds) > 86400", {"ts_seconds"}),
        ('{__name__="foo_total", job="x"}', {"foo_total"}),
        (
            'a * on (ns, pod) group_left (rs) max by (ns) (label_replace(b, "rs", "$1", "o", "(.*)"))',
            {"a", "b"},
        ),
        ("rate(x[5m] offset 1h) and bool y unless z @ start()", {"x", "y", "z"}),
        ("sum(rate(job:requests:rate5m[5m:1m]))", {"job:requests:rate5m"}),
        ("1e3 * 2 > Inf", set()),
        ("# a comment\nup", {"up"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
