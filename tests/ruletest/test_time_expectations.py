"""Rule tests that expect things over time: pages, notifications, incidents, acknowledgements, `until`."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from remediator.ruletest import run_rule_tests_async

RULES = """
rules:
  - name: restart-checkout
    severity: P1
    match: ['alertname = "HighErrorRate"']
    target: {kind: Deployment, namespace: shop, name: checkout}
    actions: [rollout_restart]
    verify: {resolved_within: 10m}
    updates: {every: 30m, channel: ops}
"""
HEAD = """
rule_files: [rules.yaml]
config:
  incidents:
    escalation:
      P1: [{after: 0m, page: primary}, {after: 15m, page: secondary}]
  pagerduty:
    events_url: http://203.0.113.7/v2/enqueue          # never used: the runner's stand-in gets it
    routing_keys: {primary: {env: PD_PRIMARY}, secondary: {env: PD_SECONDARY}}
  notify:
    channels: {ops: {kind: slack, url: {env: SLACK_OPS}}}
cluster:
  deployments:
    shop/checkout: {}
tests:
"""


async def run(tmp_path: Path, tests: str) -> tuple[int, str]:
    (tmp_path / "rules.yaml").write_text(textwrap.dedent(RULES))
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(HEAD) + textwrap.indent(textwrap.dedent(tests), "  "))
    out = io.StringIO()
    code = await run_rule_tests_async([path], out=out)
    return code, out.getvalue()


ALERT = "alerts: [{at: 0s, labels: {alertname: HighErrorRate}}]\n"


async def test_the_ladder_and_updates_at_their_times_pass(tmp_path: Path) -> None:
    code, out = await run(
        tmp_path,
        "- name: ladder\n  "
        + ALERT
        + textwrap.indent(
            textwrap.dedent("""\
            until: 31m
            expect:
              pages:
                - {at: 10m, page: primary, action: trigger, severity: critical}
                - {at: 25m, page: secondary}
              notifications: [{at: 30m, channel: ops, text: "[P1] Update"}]
              incidents:
                - {state: open, severity: P1,
                   events: [opened, acting, failed, escalated, paged, paged, update]}
            """),
            "  ",
        ),
    )
    assert code == 0, out


async def test_a_page_at_another_time_or_an_unexpected_message_fails_with_a_diff(tmp_path: Path) -> None:
    code, out = await run(
        tmp_path,
        "- name: wrong\n  "
        + ALERT
        + textwrap.indent(
            textwrap.dedent("""\
            until: 31m
            expect:
              pages: [{at: 11m, page: primary}]
              notifications: []
              incidents: [{state: mitigated}]
            """),
            "  ",
        ),
    )
    assert code == 1, out
    lines = [line.strip() for line in out.splitlines()]
    assert "expected trigger primary at 11m" in lines
    assert "got      trigger primary (critical) at 10m" in lines
    assert "got      trigger secondary (critical) at 25m" in lines  # one more page than expected
    assert "expected (no more messages)" in lines
    assert "got      ops at 30m '[P1] Update: HighErrorRate on shop/Deployment/checkout'" in lines
    assert any(line.startswith("got      open rule=restart-checkout severity=P1") for line in lines)


async def test_without_until_the_clock_stops_when_the_executions_end(tmp_path: Path) -> None:
    code, out = await run(
        tmp_path,
        "- name: no until\n  " + ALERT + "  expect:\n    pages: [{at: 10m, page: primary}]\n",
    )
    assert code == 0, out  # secondary (+15m) would come later: the test ended at the failed verification


async def test_an_acknowledgement_stops_the_ladder(tmp_path: Path) -> None:
    code, out = await run(
        tmp_path,
        "- name: ack\n  "
        + ALERT
        + "  acknowledge: [{at: 12m, rule: restart-checkout, by: dana}]\n"
        + "  until: 40m\n"
        + "  expect:\n    pages: [{at: 10m, page: primary}]\n"
        + "    incidents: [{state: open, acknowledged_by: dana}]\n",
    )
    assert code == 0, out


async def test_an_acknowledgement_needs_a_loaded_rule_and_an_incident(tmp_path: Path) -> None:
    code, out = await run(
        tmp_path,
        "- name: unknown\n  " + ALERT + "  acknowledge: [{at: 1m, rule: nope}]\n  expect: {}\n",
    )
    assert code == 2 and "t.yaml:18: tests[0].acknowledge[0].rule: unknown rule 'nope'" in out, out
    code, out = await run(
        tmp_path,
        "- name: too early\n  "
        + ALERT.replace("0s", "5m")
        + "  acknowledge: [{at: 1m, rule: restart-checkout}]\n  expect: {}\n",
    )
    assert code == 1 and "acknowledge at 60s: no incident of rule 'restart-checkout'" in out, out
