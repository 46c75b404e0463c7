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
from datetime import UTC, datetime
from pathlib import Path

import pytest

from remediator.cli import main


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


def test_serve_on_defaults_without_a_cluster(repo: Path, tmp_path: Path, fixtures_dir: Path) -> None:
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
        for _ in range(100):
            try:
                _get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        body = json.loads((fixtures_dir / "alertmanager" / "firing.json").read_bytes())
        # A fresh episode: the captured startsAt is older than max_alert_age on today's clock.
        body["alerts"][0]["startsAt"] = datetime.now(UTC).isoformat()
        req = urllib.request.Request(
            base + "/webhook/alertmanager",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 202
        metrics = ""
        for _ in range(100):
            metrics = _get(base + "/metrics").decode()
            if 'outcome="dry_run"' in metrics and "remediator_executions_total{" in metrics:
                break
            time.sleep(0.1)
        assert 'remediator_alerts_received_total{source="alertmanager",status="firing"} 1.0' in metrics
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"remediator started", "listening", "decided", "execution finished"} <= events
    assert any("every action runs as dry-run" in line["event"] for line in lines)
    decided = [line for line in lines if line["event"] == "decided" and line["outcome"] == "dry_run"]
    assert decided and all("no Kubernetes cluster reachable" in d["reason"] for d in decided)
    assert all(d["alert"] == "4cde567b6413872d" for d in decided)
    assert (work / "data" / "remediator.sqlite").exists()
