"""The metrics a dashboard reads: zeros from the start, no `_created` twins."""

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from remediator.metrics import Metrics
from remediator.model import Outcome


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(m.registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_no_created_series() -> None:
    m = Metrics()
    m.declare_rule("restart", ("rollout_restart",))
    m.decisions.labels(rule="restart", action="rollout_restart", outcome="act").inc()
    text = generate_latest(m.registry).decode()
    assert "_created" not in text
    assert 'remediator_decisions_total{action="rollout_restart",outcome="act",rule="restart"} 1.0' in text


def test_known_label_sets_start_at_zero() -> None:
    m = Metrics()
    m.declare_rule("undo-then-scale", ("rollout_undo", "scale"))
    got = samples(m)

    def value(name: str, **labels: str) -> float | None:
        return got.get((name, frozenset(labels.items())))

    for outcome in Outcome:  # every outcome, under the action label the engine uses
        assert (
            value(
                "remediator_decisions_total",
                rule="undo-then-scale",
                action="rollout_undo+scale",
                outcome=outcome,
            )
            == 0.0
        )
    for status in ("succeeded", "failed", "planned", "skipped", "interrupted"):
        assert value("remediator_executions_total", action="rollout_undo+scale", status=status) == 0.0
    assert value("remediator_rule_matches_total", rule="undo-then-scale") == 0.0
    for source in ("alertmanager", "pagerduty"):
        for status in ("firing", "resolved"):
            assert value("remediator_alerts_received_total", source=source, status=status) == 0.0
        for code in ("202", "400", "401", "503"):
            assert value("remediator_webhook_requests_total", route=source, code=code) == 0.0
        assert value("remediator_webhook_request_duration_seconds_count", route=source) == 0.0
