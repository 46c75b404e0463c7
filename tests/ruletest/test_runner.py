"""`remediator test`: the shipped rule tests, failure diffs, invalid files, simulated time."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

import remediator.ruletest
from remediator.model import ExecutionStatus, Outcome
from remediator.ruletest import run_rule_tests, run_rule_tests_async
from remediator.ruletest.decisions import GotDecision, RowKind, align
from remediator.ruletest.loader import load_test_file
from remediator.ruletest.playback import payload
from remediator.ruletest.runner import EPOCH, _leaves, find_test_files, run_case
from remediator.ruletest.schema import AlertSpec, ExpectedDecision
from remediator.testing.fake_kube import FakeKubeServer

REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(__file__).parent / "testdata"
ACTING = (Outcome.ACT, Outcome.DRY_RUN)


async def run(*paths: Path, verbose: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_rule_tests_async(list(paths), out=out, verbose=verbose)
    return code, out.getvalue()


# --- the shipped rule tests ---------------------------------------------------------------------------


async def test_every_shipped_rule_test_passes() -> None:
    code, out = await run(REPO / "rules-tests")
    assert code == 0, out
    assert out.splitlines()[-1].endswith(" passed, 0 failed"), out


def test_shipped_rule_tests_cover_every_rule_acting_and_skipping() -> None:
    """One test file per rule file; each rule acts in one case and is skipped, with a reason, in another."""
    rule_files = sorted((REPO / "rules").glob("*.yaml"))
    assert rule_files
    acts: set[str] = set()
    skips: set[str] = set()
    names: set[str] = set()
    for rule_file in rule_files:
        test_file = REPO / "rules-tests" / rule_file.name
        assert test_file.is_file(), f"no rule tests for {rule_file.name} in rules-tests/"
        loaded = load_test_file(test_file)
        assert [p.resolve() for p in loaded.cases[0].rule_paths] == [rule_file.resolve()]
        names.update(loaded.rules.names())
        for case in loaded.cases:
            for d in case.expect.decisions or ():
                executed = d.execution not in (ExecutionStatus.SKIPPED, ExecutionStatus.FAILED)
                if d.outcome in ACTING and executed:
                    acts.add(d.rule)
                skipped = d.outcome not in ACTING and d.reason is not None
                precondition = d.execution is ExecutionStatus.SKIPPED and d.execution_reason is not None
                if skipped or precondition:
                    skips.add(d.rule)
    assert names - acts == set(), "rules with no test where they act"
    assert names - skips == set(), "rules with no test where they are skipped with a reason"


def test_rule_tests_live_outside_the_rules_directory() -> None:
    """The rule loader reads every *.yaml under rules/ recursively: test files there would be rules."""
    assert not list((REPO / "rules").rglob("*test*"))


async def test_the_documented_example_passes(tmp_path: Path) -> None:
    doc = remediator.ruletest.__doc__ or ""
    examples = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert len(examples) == 2, "the format, and incidents over time"
    for i, example in enumerate(examples):
        (tmp_path / f"example{i}.yaml").write_text(example.replace("../rules/", f"{REPO}/rules/"))
    code, out = await run(tmp_path / "example0.yaml", tmp_path / "example1.yaml")
    assert code == 0, out
    assert out.splitlines()[-1] == "3 passed, 0 failed"


# --- failures and invalid files -------------------------------------------------------------------------


async def test_a_failing_test_exits_1_with_an_aligned_diff() -> None:
    code, out = await run(TESTDATA / "failing.yaml")
    assert code == 1, out
    lines = out.splitlines()
    assert (
        f"  FAIL  latency below the threshold is expected to scale (wrongly)  ({TESTDATA}/failing.yaml:6)"
        in lines
    )
    [i] = [n for n, line in enumerate(lines) if line.strip().startswith("expected ")]
    expected, got = lines[i], lines[i + 1]
    assert got.strip().startswith("got ")
    assert "scale-on-latency" in expected and re.search(r"\bact\b", expected)
    assert "scale-on-latency" in got and "condition_false" in got and "value 3s is not > 5s" in got
    assert expected.index("scale-on-latency") == got.index("scale-on-latency"), "columns are aligned"
    assert expected.index(" act ") == got.index(" condition_false ")
    assert "Deployment shop/search: replicas: expected 4, got 2" in out
    assert "  ok    latency above the threshold scales" in lines
    assert lines[-1] == "1 passed, 1 failed"


async def test_an_invalid_test_file_exits_2_with_file_and_line() -> None:
    path = TESTDATA / "invalid.yaml"
    code, out = await run(path)
    assert code == 2, out
    assert (
        f"{path}:4: cluster.deployments['shop/search']: unknown key 'imagee' (did you mean 'image'?)" in out
    )
    assert f"{path}:8: tests[0].alerts[0].at: '5 minutes' is not a duration" in out
    assert (
        f"{path}:13: tests[0].expect.decisions[1].outcome: 'acted' is not a valid value (did you mean 'act'?)"
        in out
    )
    assert out.splitlines()[-1] == "0 passed, 0 failed, 1 invalid test file"


async def test_references_config_and_names_are_checked_with_lines() -> None:
    path = TESTDATA / "invalid-references.yaml"
    code, out = await run(path)
    assert code == 2, out
    assert f"{path}:1: rule_files[1]: no such rule file or directory" in out
    assert f"{path}:3: config.journal: set by the test runner (a test may set: " in out
    assert f"{path}:4: config.guards: unknown key 'cooldwn' (did you mean 'cooldown'?)" in out
    assert f"{path}:11: tests[1]: duplicate test name 'a test' (first: tests[0])" in out


async def test_expectations_must_name_loaded_rules_and_seeded_objects(tmp_path: Path) -> None:
    path = tmp_path / "refs.yaml"
    path.write_text(
        f"rule_files: [{TESTDATA}/rules.yaml]\n"
        "cluster:\n"
        "  deployments: {shop/search: {}}\n"
        "tests:\n"
        "  - name: refs\n"
        "    alerts: [{at: 0s, labels: {alertname: HighLatency}}]\n"
        "    expect:\n"
        "      decisions:\n"
        "        - {rule: scale-on-latenci, outcome: act}\n"
        "      cluster:\n"
        "        deployments: {shop/serach: {replicas: 4}}\n"
        "        pods: {shop/search-abc: absent}\n"
    )
    code, out = await run(path)
    assert code == 2, out
    assert (
        f"{path}:9: tests[0].expect.decisions[0].rule: unknown rule 'scale-on-latenci' (did you mean" in out
    )
    assert (
        f"{path}:11: tests[0].expect.cluster.deployments['shop/serach']: no Deployment 'shop/serach'" in out
    )
    assert f"{path}:12: tests[0].expect.cluster.pods['shop/search-abc']: only pods listed under" in out


async def test_broken_rule_files_and_yaml_are_invalid(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: x\n    match: ['alertname = \"A\"']\n")
    (tmp_path / "t.yaml").write_text(
        "rule_files: [rules.yaml]\n"
        "tests: [{name: t, alerts: [{at: 0s, labels: {alertname: A}}], expect: {decisions: []}}]\n"
    )
    code, out = await run(tmp_path / "t.yaml", TESTDATA / "invalid-yaml.yaml")
    assert code == 2, out
    assert f"{tmp_path}/rules.yaml:2: rule 'x': missing required key 'target'" in out
    assert f"{tmp_path}/t.yaml:1: rule_files: " in out
    assert f"{TESTDATA}/invalid-yaml.yaml:5: invalid YAML: " in out
    assert out.splitlines()[-1] == "0 passed, 0 failed, 2 invalid test files"


async def test_an_invalid_file_does_not_stop_the_others(tmp_path: Path) -> None:
    code, out = await run(TESTDATA / "invalid.yaml", TESTDATA / "cooldown.yaml", tmp_path / "missing.yaml")
    assert code == 2
    assert f"{tmp_path}/missing.yaml: no such test file or directory" in out
    assert out.splitlines()[-1] == "2 passed, 0 failed, 2 invalid test files"


# --- simulated time ---------------------------------------------------------------------------------


async def test_cooldown_follows_simulated_time() -> None:
    loaded = load_test_file(TESTDATA / "cooldown.yaml")
    result = await run_case(loaded.cases[0])
    assert result.passed, result
    assert [(d.at_s, d.outcome) for d in result.got] == [(0.0, "act"), (300.0, "cooldown"), (960.0, "act")]
    second_global = await run_case(loaded.cases[1])
    assert [(d.at_s, d.outcome) for d in second_global.got] == [
        (0.0, "act"),
        (1800.0, "cooldown"),
        (3660.0, "act"),
    ]


def test_alerts_keep_starts_at_across_repeats_like_alertmanager() -> None:
    episodes: dict[tuple[tuple[str, str], ...], datetime] = {}
    alert = AlertSpec.model_validate({"at": "0s", "labels": {"alertname": "A"}})
    resolved = AlertSpec.model_validate({"at": "0s", "labels": {"alertname": "A"}, "status": "resolved"})

    def send(spec: AlertSpec, minutes: int) -> dict[str, str]:
        body = json.loads(payload(spec, sent=EPOCH + timedelta(minutes=minutes), episodes=episodes))
        assert body["version"] == "4"
        return dict(body["alerts"][0])

    assert send(alert, 0)["startsAt"] == "2026-01-01T00:00:00Z"
    assert send(alert, 5)["startsAt"] == "2026-01-01T00:00:00Z", "a repeat keeps its startsAt"
    gone = send(resolved, 7)
    assert (gone["startsAt"], gone["endsAt"]) == ("2026-01-01T00:00:00Z", "2026-01-01T00:07:00Z")
    again = send(alert, 9)
    assert (again["startsAt"], again["endsAt"]) == ("2026-01-01T00:09:00Z", "0001-01-01T00:00:00Z")


# --- pieces -----------------------------------------------------------------------------------------------


def _got(rule: str, outcome: str, at_s: float = 0.0) -> GotDecision:
    return GotDecision(
        at_s=at_s,
        rule=rule,
        target="shop/Deployment/x",
        outcome=outcome,
        reason="because",
        execution=None,
        execution_error=None,
        execution_summary="",
    )


def test_align_ignores_order_and_pairs_strict_expectations_first() -> None:
    loose = ExpectedDecision.model_validate({"rule": "r", "outcome": "act"})
    strict = ExpectedDecision.model_validate({"rule": "r", "outcome": "act", "at": "0s"})
    rows = align([loose, strict], [_got("r", "act", 0.0), _got("r", "act", 300.0)])
    assert [r.kind for r in rows] == [RowKind.OK, RowKind.OK]
    assert rows[0].expected is strict


def test_align_shows_a_wrong_outcome_as_one_pair() -> None:
    rows = align(
        [
            ExpectedDecision.model_validate({"rule": "a", "outcome": "act"}),
            ExpectedDecision.model_validate({"rule": "gone", "outcome": "act"}),
        ],
        [_got("b", "act"), _got("a", "cooldown")],
    )
    assert [(r.kind, r.got and r.got.rule) for r in rows] == [
        (RowKind.UNEXPECTED, "b"),
        (RowKind.DIFFERS, "a"),
        (RowKind.MISSING, None),
    ]


def test_directories_are_searched_skipping_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    files, missing = find_test_files([tmp_path, tmp_path / "b.yaml", tmp_path / "nope"])
    assert files == [tmp_path / "b.yaml", tmp_path / "sub" / "a.yml"]
    assert missing == [tmp_path / "nope"]


async def test_verbose_shows_passing_decisions_and_a_failing_tests_engine_log() -> None:
    code, out = await run(TESTDATA / "failing.yaml", verbose=True)
    assert code == 1
    assert "engine log:" in out and "decided" in out
    passing = out.split("  ok    latency above the threshold scales")[1]
    assert "scale-on-latency" in passing and "succeeded" in passing


def test_run_rule_tests_is_the_synchronous_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert run_rule_tests([TESTDATA / "cooldown.yaml"], out=out) == 0
    assert out.getvalue().splitlines()[-1] == "2 passed, 0 failed"
    assert capsys.readouterr().out == "", "the engine's log lines do not leak onto stdout"


def test_testdata_is_valid_yaml() -> None:
    for path in TESTDATA.glob("*.yaml"):
        if path.name != "invalid-yaml.yaml":
            yaml.safe_load(path.read_text())


async def test_executions_waiting_on_the_clock_finish_in_simulated_time() -> None:
    """Retry backoff sleeps on the clock: the runner moves time on instead of hanging or timing out."""
    loaded = load_test_file(TESTDATA / "cooldown.yaml")
    case = loaded.cases[0]

    def two_api_errors(kube: FakeKubeServer) -> None:
        kube.inject(status=503, method="PATCH", path="/deployments/cart", times=2)

    result = await run_case(case, prepare=two_api_errors)
    assert result.passed, result
    first = result.got[0]
    assert first.execution == "succeeded" and first.outcome == "act"
    assert [d.at_s for d in result.got] == [0.0, 300.0, 960.0], "alert times are kept while retries sleep"


async def test_a_rule_file_given_as_a_test_file_says_so() -> None:
    code, out = await run(TESTDATA / "rules.yaml")
    assert code == 2
    assert f"{TESTDATA}/rules.yaml:2: this is a rule file, not a rule test file" in out


def test_an_engine_error_names_its_cause_not_the_task_group() -> None:
    group = ExceptionGroup("unhandled errors in a TaskGroup", [TypeError("bad argument 'comms'")])
    assert _leaves(group) == ["TypeError: bad argument 'comms'"]
