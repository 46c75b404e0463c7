"""The `remediator` command as a user runs it: check, and serve on its defaults with no cluster."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from remediator.cli import main
from tests.scenarios.conftest import metric


def test_check_shipped_rules(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(repo / "rules")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_check_reports_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: r\n    match: ['alertname = \"X\"']\n"
        "    target: {kind: Deployment, namespace: a, name: b}\n    actions:\n      - explode: {}\n"
    )
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:6:" in err and "explode" in err


def test_check_names_regex_problems_and_go_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = (
        "  - name: {name}\n    match:\n      - {match}\n"
        "    target: {{kind: Deployment, namespace: a, name: b}}\n    actions: [rollout_restart: {{}}]\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n"
        + rule.format(name="lookahead", match="""'{alertname="X", job=~"(?=api)api"}'""")
        + rule.format(name="any-byte", match="""'job=~"\\\\C"'""")
    )
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:4: rule 'lookahead': match[0]:" in err and "lookahead is not RE2 syntax" in err
    assert (
        f"{bad}:9: rule 'any-byte': match[0]:" in err and "Go's regexp, and so Alertmanager, refuses" in err
    )

    noted = tmp_path / "noted.yaml"
    noted.write_text("rules:\n" + rule.format(name="letters", match="""'team=~"\\\\pL+"'"""))
    assert main(["check", str(noted)]) == 0
    out = capsys.readouterr()
    assert (
        f"{noted}:4: warning: rule 'letters': team=~\"\\\\pL+\": \\p{{L}}: RE2 here uses Unicode 15.1"
        in out.err
    )
    assert out.out == "ok: 1 rules in 1 file(s), 1 warning(s)\n"


def test_check_accepts_delete_pod_force_with_a_warning_and_refuses_other_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = (
        "rules:\n  - name: oom\n    match: ['alertname = \"PodOOMKilled\"']\n"
        "    target: {{kind: Deployment, namespace: a, name: b}}\n"
        '    actions:\n      - delete_pod: {{pod: "{{{{ labels.pod }}}}"{force}}}\n'
    )
    evicts = tmp_path / "evicts.yaml"
    evicts.write_text(rule.format(force=""))
    assert main(["check", str(evicts)]) == 0
    assert capsys.readouterr().out == "ok: 1 rules in 1 file(s)\n"
    forced = tmp_path / "forced.yaml"
    forced.write_text(rule.format(force=", force: delete"))
    assert main(["check", str(forced)]) == 0
    out = capsys.readouterr()
    assert f"{forced}:6: warning: rule 'oom': actions[0].delete_pod.force: delete bypasses" in out.err
    assert "PodDisruptionBudget" in out.err and "actions.deletePodForce" in out.err
    bad = tmp_path / "bad.yaml"
    bad.write_text(rule.format(force=", force: evict"))
    assert main(["check", str(bad)]) == 1
    assert "force: 'evict' is not a valid value (expected one of: delete)" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["--help"], ["serve", "--help"], ["check", "--help"]):
        with pytest.raises(SystemExit):
            main(cmd)
        assert "example:" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


def test_serve_on_defaults_without_a_cluster(repo: Path, tmp_path: Path) -> None:
    """README's promise: start on defaults, post firing.json, see the decision in logs, metrics, journal."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(repo / "config", work / "config")
    shutil.copytree(repo / "rules", work / "rules")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "KUBERNETES_"))}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config: no cluster
    env["PYTHONPATH"] = str(repo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "remediator", "serve", "--listen", f"127.0.0.1:{port}"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # A fresh checkout compiles every module on this first start: give a loaded machine time.
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base + "/healthz")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.1)
        # README "Try it", run as written (from the repository's root, on this test's port)
        readme = (repo / "README.md").read_text()
        start = readme.index("```sh\n# the captured alert, made fresh")
        block = readme[start + len("```sh\n") : readme.index("```", start + 6)]
        command = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
        answer = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command.replace("localhost:8080", f"127.0.0.1:{port}")],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert answer.returncode == 0, answer.stderr
        promised = json.loads(block.splitlines()[-1].removeprefix("# "))
        assert json.loads(answer.stdout) == promised
        metrics = ""
        for _ in range(300):
            metrics = _get(base + "/metrics").decode()
            # every known series exists at 0 from the start: wait for a count, not a name
            planned = metric(metrics, "remediator_executions_total", action="rollout_undo", status="planned")
            if planned >= 1:
                break
            time.sleep(0.1)
        assert 'remediator_alerts_received_total{source="alertmanager",status="firing"} 1.0' in metrics
        assert "_created" not in metrics
        rule = "rollback-on-5xx-after-deploy"
        assert metric(metrics, "remediator_decisions_total", rule=rule, outcome="dry_run") == 1
        assert 'remediator_decisions_total{action="rollout_undo",outcome="cooldown",' in metrics
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"remediator started", "listening", "decided", "execution finished"} <= events
    assert any("every action runs as dry-run" in line["event"] for line in lines)
    started = next(line for line in lines if line["event"] == "remediator started")
    assert started["actions"].startswith("dry-run: no cluster reachable at start-up")
    assert "kubernetes" not in started and "dry_run" not in started  # one statement, not two flags
    no_token = next(line for line in lines if line["event"].startswith("no API token configured"))
    assert no_token["set_one_of"] == "env REMEDIATOR_ADMIN_TOKEN (admin), env REMEDIATOR_READ_TOKEN (read)"
    decided = [line for line in lines if line["event"] == "decided" and line["outcome"] == "dry_run"]
    assert decided and all("no Kubernetes cluster reachable" in d["reason"] for d in decided)
    assert all(d["alert"] == "4cde567b6413872d" for d in decided)
    assert (work / "data" / "remediator.sqlite").exists()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad config", "invalid YAML"),
        ("unknown key", "http.lisen: Extra inputs are not permitted"),
        ("bad rules", "unknown action 'explode'"),
        ("port in use", "address already in use"),
        ("unresolvable host", "cannot resolve host 'no-such-host.invalid'"),
        ("all interfaces without a token", "REMEDIATOR_WEBHOOK_TOKEN"),
    ],
)
def test_start_up_errors_are_one_line_exit_2_no_traceback(
    repo: Path, tmp_path: Path, case: str, expected: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(repo / "rules", work / "rules")
    port = _free_port()
    args = ["serve", "--listen", f"127.0.0.1:{port}"]
    blocker = socket.socket()
    if case == "bad config":
        (work / "c.yaml").write_text("http: {listen: [oops\n")
        args += ["--config", "c.yaml"]
    elif case == "unknown key":
        (work / "c.yaml").write_text("http:\n  lisen: 127.0.0.1:1\n")
        args += ["--config", "c.yaml"]
    elif case == "bad rules":
        (work / "r.yaml").write_text(
            "rules:\n  - name: r\n    match: ['alertname = \"X\"']\n"
            "    target: {kind: Deployment, namespace: a, name: b}\n    actions:\n      - explode: {}\n"
        )
        args += ["--rules", "r.yaml"]
    elif case == "port in use":
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
    elif case == "unresolvable host":
        args[-1] = "no-such-host.invalid:8080"
    else:
        args[-1] = f"0.0.0.0:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "KUBERNETES_"))}
    env["HOME"] = str(tmp_path)
    env["PYTHONPATH"] = str(repo)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "remediator", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        blocker.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("remediator: ") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    if case == "all interfaces without a token":
        assert "--insecure" in lines[0]
        assert "listening" not in proc.stdout  # it did not quietly bind somewhere else


def test_check_warns_of_pages_and_channels_the_config_does_not_define(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page to an undefined service is skipped when the incident needs it: `check` says so first."""
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "rules:\n  - name: r\n    match: ['alertname = \"X\"']\n"
        "    target: {kind: Deployment, namespace: a, name: b}\n    actions: [{rollout_restart: {}}]\n"
        "    notify: {channel: chat}\n"
        "    escalation: [{after: 0m, page: primary}, {after: 15m, page: nobody}]\n"
    )
    config = tmp_path / "remediator.yaml"
    config.write_text(
        "pagerduty: {routing_keys: {primary: {env: PD_PRIMARY}}}\n"
        "notify: {channels: {ops: {kind: webhook, url: {env: OPS_URL}}}}\n"
    )
    assert main(["check", str(rules), "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert out.out == "ok: 1 rules in 1 file(s), 2 warning(s)\n"
    assert (
        f"{rules}:2: warning: rule 'r': escalation[1]: page 'nobody' is not in pagerduty.routing_keys"
        in out.err
    )
    assert (
        f"{rules}:2: warning: rule 'r': notify.channel 'chat' is not in notify.channels of {config}"
        in out.err
    )
    assert "primary" not in out.err
    config.write_text(
        "pagerduty: {routing_keys: {primary: {env: PD_PRIMARY}, nobody: {env: PD_NOBODY}}}\n"
        "notify: {channels: {chat: {kind: webhook, url: {env: CHAT_URL}}}}\n"
    )
    assert main(["check", str(rules), "--config", str(config)]) == 0
    assert capsys.readouterr() == ("ok: 1 rules in 1 file(s)\n", "")
