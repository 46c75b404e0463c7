"""End to end through the real Prometheus and Alertmanager (Debian packages), on 127.0.0.1.

A toy service exposes `http_requests_total` with a growing 5xx count while its Deployment runs
the bad version; Prometheus scrapes it and fires the shipped HighErrorRate rule; the real
Alertmanager routes it to remediator; remediator rolls the fake cluster's Deployment back; the
errors stop and the alert resolves; Prometheus scrapes remediator's /metrics and sees the
decision. Then every PromQL expression of the shipped dashboard and PrometheusRule is run
against that Prometheus: it parses, and names only metrics remediator exports.

Time is compressed in a copy of the shipped alert rules (`for:` 0s, 1m windows 10s): the
expressions are otherwise the shipped ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from remediator.api import build_web_app
from remediator.app import Application, open_app
from remediator.config import Settings
from remediator.testing.fake_kube import FakeKubeServer
from tests.realbin import free_port, prometheus_config, start_alertmanager, start_prometheus
from tests.scenarios.conftest import TOKEN
from tests.ship.conftest import all_on_values, one, render
from tests.ship.promql import dashboard_expressions, metric_names, rule_expressions

REPO = Path(__file__).resolve().parents[2]


def compressed_alert_rules() -> str:
    text = (REPO / "config" / "prometheus" / "alerts.yaml").read_text()
    text = re.sub(r"for: \S+", "for: 0s", text)
    return text.replace("[1m]", "[10s]").replace("[5m]", "[10s]")


ALERTMANAGER = """
route:
  receiver: remediator
  group_by: [alertname, namespace]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1m
receivers:
  - name: remediator
    webhook_configs:
      - url: http://127.0.0.1:{port}/webhook/alertmanager
        send_resolved: true
        max_alerts: 100
        http_config:
          authorization: {{credentials: {token}}}
"""


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def get_json(url: str, **params: str) -> Any:
    async with aiohttp.ClientSession() as http, http.get(url, params=params) as r:
        return await r.json()


async def wait_for(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


@pytest.fixture
async def toy(fake_kube_real: FakeKubeServer) -> AsyncIterator[str]:
    """/metrics of a service whose 5xx count grows while checkout runs the bad image."""
    errors = {"n": 0.0, "at": time.monotonic()}

    async def metrics(request: web.Request) -> web.Response:
        now = time.monotonic()
        dep = fake_kube_real.get("Deployment", "shop", "checkout")
        bad = dep is not None and dep["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:v2"
        if bad:
            errors["n"] += 5.0 * (now - errors["at"])  # 300 per minute
        errors["at"] = now
        labels = 'namespace="shop",deployment="checkout",service="checkout"'
        body = (
            "# TYPE http_requests_total counter\n"
            f'http_requests_total{{{labels},status="500"}} {errors["n"]}\n'
            f'http_requests_total{{{labels},status="200"}} {100 * now}\n'
        )
        return web.Response(text=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    port = free_port()
    runner = await serve(app, port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def fake_kube_real() -> AsyncIterator[FakeKubeServer]:
    async with FakeKubeServer() as kube:
        kube.add_deployment(
            "shop",
            "checkout",
            image="checkout:v2",
            revisions=["checkout:v1"],
            rolled_out_at=datetime.now(UTC) - timedelta(minutes=10),
        )
        yield kube


async def test_alert_flows_through_prometheus_and_alertmanager_to_a_rollback(
    settings: Settings, tmp_path: Path, toy: str, fake_kube_real: FakeKubeServer
) -> None:
    port = free_port()
    data = settings.model_dump()
    data["kubernetes"]["kubeconfig"] = fake_kube_real.write_kubeconfig(tmp_path / "kc-real")
    data["rules"] = [REPO / "rules"]
    async with start_alertmanager(tmp_path, config=ALERTMANAGER.format(port=port, token=TOKEN)) as am:
        prom_cfg = prometheus_config(
            scrape_targets=[toy, f"127.0.0.1:{port}"],
            alertmanager_urls=[am.url],
            rule_files=["alerts.yaml"],
        )
        async with start_prometheus(
            tmp_path, config=prom_cfg, rules={"alerts.yaml": compressed_alert_rules()}
        ) as prom:
            data["prometheus"] = {"url": prom.url, "timeout": 5}
            async with open_app(Settings.model_validate(data)) as app:
                runner = await serve(build_web_app(app.api_state()), port)
                try:
                    await run_the_story(app, prom.url, am.url, fake_kube_real)
                    await check_promql(prom.url, f"http://127.0.0.1:{port}/metrics")
                finally:
                    await runner.cleanup()


async def run_the_story(app: Application, prom: str, am: str, kube: FakeKubeServer) -> None:
    async def firing_in_prometheus() -> bool:
        alerts = (await get_json(f"{prom}/api/v1/alerts"))["data"]["alerts"]
        return any(a["labels"]["alertname"] == "HighErrorRate" and a["state"] == "firing" for a in alerts)

    await wait_for("Prometheus to fire HighErrorRate", firing_in_prometheus)

    async def in_alertmanager() -> bool:
        return any(a["labels"]["alertname"] == "HighErrorRate" for a in await get_json(f"{am}/api/v2/alerts"))

    await wait_for("Alertmanager to hold the alert", in_alertmanager)

    def image() -> str:
        dep = kube.get("Deployment", "shop", "checkout")
        assert dep is not None
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])

    async def rolled_back() -> bool:
        return image() == "checkout:v1"

    await wait_for("remediator to roll checkout back", rolled_back)
    decisions = await app.journal.decisions(limit=1000)
    acted = [d for d in decisions if d["outcome"] == "act"]
    assert [d["rule"] for d in acted] == ["rollback-on-5xx-after-deploy"], decisions
    assert "/min > 10/min" in acted[0]["reason"]

    async def resolved_received() -> bool:
        counts = await app.journal.decision_counts()
        return counts.get("resolved", 0) > 0

    await wait_for("the resolved alert to reach remediator", resolved_received, timeout_s=60)

    async def prometheus_sees_the_decision() -> bool:
        q = 'remediator_decisions_total{rule="rollback-on-5xx-after-deploy",outcome="act"}'
        result = (await get_json(f"{prom}/api/v1/query", query=q))["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= 1

    await wait_for("Prometheus to scrape the decision", prometheus_sees_the_decision)


GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


async def check_promql(prom: str, metrics_url: str) -> None:
    scraped = set((await get_json(f"{prom}/api/v1/label/__name__/values"))["data"])
    assert "remediator_decisions_total" in scraped, "Prometheus scrapes remediator"
    # What remediator exports: every family in its exposition, with or without samples yet.
    async with aiohttp.ClientSession() as http, http.get(metrics_url) as r:
        text = await r.text()
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    exported |= {f.name for f in text_string_to_metric_families(text)}
    exported |= {f"{f.name}_total" for f in text_string_to_metric_families(text) if f.type == "counter"}
    dashboard = json.loads((REPO / "dashboards" / "remediator.json").read_text())
    exprs = [(e, "dashboard") for e in dashboard_expressions(dashboard)]
    rule = one(render(all_on_values()), "PrometheusRule")  # the chart rendered by a real Helm
    exprs += [(e, "PrometheusRule") for e in rule_expressions(rule["spec"]["groups"])]
    assert len(exprs) > 10
    for expr, where in exprs:
        for name in metric_names(expr):
            assert name in exported or (name.startswith("remediator_") and _histogram_part(name, exported)), (
                f"{where}: {expr!r} names {name!r}, which remediator does not export"
            )
        if expr.strip().startswith(("label_values", "query_result")):
            continue
        query = expr
        for var, value in GRAFANA_VARS.items():
            query = query.replace(var, value)
        query = re.sub(r"\$\{?\w+\}?", ".*", query)
        answer = await get_json(f"{prom}/api/v1/query", query=query)
        assert answer["status"] == "success", f"{where}: {expr!r} does not parse: {answer.get('error')}"


def _histogram_part(name: str, exported: set[str]) -> bool:
    return any(name == f"{base}{suffix}" for base in exported for suffix in ("_bucket", "_sum", "_count"))
