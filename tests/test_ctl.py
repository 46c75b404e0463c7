"""`remediator ctl` against a running daemon: the on-call's moves, as they would type them.

The in-process daemon (tests/api/conftest.py) serves on 127.0.0.1; ctl is a blocking urllib
client, so each command runs in a thread. The last test runs `remediator serve` as a process to
check that SIGHUP reloads the rules.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from remediator import ctl
from remediator.cli import main as cli_main
from tests.api import conftest as _daemon
from tests.api.conftest import ADMIN, ADMIN_NAME, READER, Api, am_alert

# The daemon with API tokens, as tests/api/ runs it.
api_rules_dir = _daemon.api_rules_dir
api_clock = _daemon.api_clock
api_kube = _daemon.api_kube
api_settings = _daemon.api_settings
api_app = _daemon.api_app
api = _daemon.api

COMMANDS = (
    "status",
    "pause",
    "resume",
    "dry-run",
    "trigger",
    "executions",
    "approvals",
    "approve",
    "reject",
    "breakers",
    "reset",
    "reload",
    "rules",
    "audit",
    "incidents",
    "board",
    "acknowledge",
    "resolve",
    "deferred",
    "timers",
)


async def run_ctl(
    api: Api | None, *argv: str, token: str | None = ADMIN, url: str | None = None
) -> tuple[int, str]:
    env = {}
    if url is not None or api is not None:
        env["REMEDIATOR_URL"] = url or str(api.client.make_url("/")).rstrip("/")  # type: ignore[union-attr]
    if token:
        env["REMEDIATOR_TOKEN"] = token
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(ctl.main, list(argv), out=out, err=err, environ=env)
    return code, out.getvalue() + err.getvalue()


def test_help_says_what_and_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ctl", "--help"], *(["ctl", c, "--help"] for c in COMMANDS)):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert (
            "example:\n  remediator ctl" in text
            or "example:\n  export" in text
            or "REMEDIATOR_TOKEN=" in text
        ), argv
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    assert "ctl" in capsys.readouterr().out


async def test_pause_everything_and_resume(api: Api) -> None:
    code, out = await run_ctl(api, "pause", "--reason", "database migration", "--for", "1h")
    assert code == 0, out
    assert out.startswith(f"paused everything by {ADMIN_NAME} until ") and "database migration" in out
    code, out = await run_ctl(api, "status", token=READER)
    assert code == 0, out
    assert out.splitlines()[0].split(None, 1) == [
        "mode",
        f"paused (by {ADMIN_NAME} until " + out.split(" until ")[1].splitlines()[0],
    ]
    assert "kubernetes     connected" in out
    code, out = await run_ctl(api, "status", "-o", "json")
    assert json.loads(out)["mode"] == "paused"
    code, out = await run_ctl(api, "resume", "--reason", "done")
    assert code == 0 and out.strip() == "resumed everything"
    assert api.app.mode.paused is None


async def test_dry_run_one_rule(api: Api) -> None:
    code, out = await run_ctl(api, "dry-run", "on", "--rule", "restart-on-errors", "--reason", "watching")
    assert code == 0 and out.strip() == "dry-run on for rule restart-on-errors"
    assert api.app.mode.dry_run_rules == {"restart-on-errors"}
    code, out = await run_ctl(api, "rules")
    row = next(line for line in out.splitlines() if line.startswith("restart-on-errors"))
    assert "dry-run" in row and "rules.yaml:3" in row


async def test_read_what_was_done(api: Api) -> None:
    await api.alert(am_alert(severity="critical"))
    code, out = await run_ctl(
        api, "trigger", "scale-workers", "--target", "shop/image-gen-worker", "--reason", "try"
    )
    assert code == 0, out
    assert "outcome   dry_run (dry-run)" in out and "execution #2" in out
    await api.app.drained()
    code, out = await run_ctl(api, "executions", "--since", "1h", token=READER)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "CREATED", "RULE", "TARGET", "ACTIONS", "STATUS", "WHO", "REASON"]
    assert lines[1].split()[:3] == ["2", "2026-11-23", "00:01:00"]
    assert "planned (dry-run)" in lines[1] and ADMIN_NAME in lines[1]
    assert "restart-on-errors" in lines[2] and "succeeded" in lines[2] and "remediator" in lines[2]
    code, out = await run_ctl(api, "executions", "1")
    assert code == 0 and "rule       restart-on-errors" in out and "changes:" in out
    # the change as kubectl diff shows it: the object's YAML, not Python reprs
    diff = out.split("changes:\n", 1)[1].splitlines()
    assert diff[:2] == [
        "  --- live/apps.v1.Deployment.shop.checkout",
        "  +++ applied/apps.v1.Deployment.shop.checkout",
    ]
    assert "         annotations:" in diff
    assert any(line.startswith("  +        kubectl.kubernetes.io/restartedAt: '2026-11-23T") for line in diff)
    assert "->" not in out and "None" not in out
    code, out = await run_ctl(api, "executions", "2")
    assert "  +++ planned/apps.v1.Deployment.shop.image-gen-worker" in out and "  -  replicas: " in out
    code, out = await run_ctl(api, "executions", "--limit", "1", "-o", "json")
    data = json.loads(out)
    assert [e["id"] for e in data["executions"]] == [2] and data["next"] == "2"
    code, out = await run_ctl(api, "executions", "--limit", "1")
    assert out.rstrip().endswith("more: --cursor 2")
    code, out = await run_ctl(api, "audit")
    assert "trigger" in out and "try" in out and ADMIN_NAME in out


async def test_approve_reject_and_breakers(api: Api) -> None:
    await api.alert(am_alert("CacheStale"), am_alert("CacheStale", deployment="search"))
    code, out = await run_ctl(api, "approvals", "--status", "pending")
    assert code == 0 and len(out.splitlines()) == 3
    code, out = await run_ctl(api, "approve", "1", "--reason", "checked")
    assert code == 0, out
    assert out.startswith("approved #1") and "outcome   act" in out
    code, out = await run_ctl(api, "reject", "2", "--reason", "not now")
    assert code == 0 and out.strip() == "rejected #2 (flush-cache on shop/Deployment/search)"
    code, out = await run_ctl(api, "reject", "2", "--reason", "again")
    assert code == 1 and "HTTP 409" in out and "rejected by" in out
    await api.app.drained()

    target = "shop/Deployment/checkout"
    api.app.breaker.load([("restart-on-errors", target, False, api.clock.now())] * 3, api.app.rules.get)
    code, out = await run_ctl(api, "breakers")
    assert f"restart-on-errors:{target}" in out and "open" in out
    code, out = await run_ctl(api, "reset", f"restart-on-errors:{target}", "--reason", "fixed")
    assert code == 0 and out.strip() == f"breaker restart-on-errors:{target} reset (was open)"
    code, out = await run_ctl(api, "breakers")
    assert out.strip() == "no breakers"


async def test_reload_errors_and_failures_are_readable(api: Api, api_rules_dir: Path) -> None:
    code, out = await run_ctl(api, "reload")
    assert code == 0 and out.strip() == "reloaded: 3 rules from 1 file(s) (no rule changed)"
    (api_rules_dir / "bad.yaml").write_text("rules:\n  - name: x\n    matchh: []\n")
    code, out = await run_ctl(api, "reload", "--reason", "new rules")
    assert code == 1
    assert "HTTP 422" in out and f"{api_rules_dir / 'bad.yaml'}:3: rule 'x'" in out

    code, out = await run_ctl(api, "pause", "--reason", "x", token=READER)
    assert code == 1 and "HTTP 403" in out
    code, out = await run_ctl(api, "status", token="wrong")
    assert code == 1 and "HTTP 401" in out
    code, out = await run_ctl(api, "status", token=None)
    assert code == 2 and "REMEDIATOR_TOKEN" in out
    code, out = await run_ctl(None, "status", url=f"http://127.0.0.1:{_free_port()}")
    assert code == 2 and "cannot reach the daemon" in out
    code, out = await run_ctl(api, "trigger", "scale-workers", "--target", "nope")
    assert code == 2 and "NAMESPACE/NAME" in out


async def test_incidents_list_show_and_postmortem(api: Api) -> None:
    await api.alert(am_alert(severity="critical"))
    await api.app.drained()
    code, out = await run_ctl(api, "incidents", token=READER)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SEVERITY", "ALERT", "WHERE", "STARTED", "ENDED", "ALERTS"]
    assert "firing" in lines[1] and "HighErrorRate" in lines[1] and "shop/checkout" in lines[1]
    code, out = await run_ctl(api, "incidents", "-o", "json")
    [incident] = json.loads(out)["incidents"]
    code, out = await run_ctl(api, "incidents", incident["id"])
    assert code == 0, out
    assert out.splitlines()[0].split() == ["incident", incident["id"], "(firing,", "ongoing)"]
    assert "restart-on-errors -> act" in out and "rollout_restart on shop/Deployment/checkout" in out
    code, out = await run_ctl(api, "incidents", incident["id"], "--markdown")
    assert code == 0 and out.startswith("# Postmortem: HighErrorRate on shop/checkout")
    code, out = await run_ctl(api, "incidents", incident["id"], "--markdown", "-o", "yaml")
    assert yaml.safe_load(out)["markdown"].startswith("# Postmortem:")
    code, out = await run_ctl(api, "incidents", "--markdown")
    assert code == 2 and "needs an incident" in out
    code, out = await run_ctl(api, "incidents", "nope-1")
    assert code == 1 and "HTTP 404" in out


async def test_the_incident_board_deferred_work_and_timers(api: Api) -> None:
    # A restart acts on checkout; the approval-gated rule on the same target waits for it (deferred).
    await api.alert(am_alert(severity="critical"), am_alert("CacheStale"))
    for _ in range(1000):  # the scheduler decides it again once the restart ends
        await api.app.drained()
        if api.app.journal.deferred_waiting() == 0:
            break
        await asyncio.sleep(0.01)
    await api.app.drained()
    code, out = await run_ctl(api, "board", token=READER)
    assert code == 0, out
    head, row = out.splitlines()
    assert head.split() == ["ID", "SEV", "STATE", "TITLE", "OPENED", "NEXT", "ESCALATION"]
    incident = row.split()[0]
    assert "mitigated" in row and "shop/Deployment/checkout" in row
    code, out = await run_ctl(api, "board", incident)
    assert code == 0, out
    assert out.splitlines()[0].split() == ["incident", incident, "(mitigated)"]
    assert "rollout_restart on shop/Deployment/checkout" in out
    assert "flush-cache: deferred: deferred until a slot frees" in out, "its timeline"
    code, out = await run_ctl(api, "deferred")
    assert code == 0 and out.splitlines() == ["nothing deferred", "0 waiting"], out
    code, out = await run_ctl(api, "deferred", "--status", "redecided")
    assert code == 0 and "flush-cache" in out.splitlines()[1] and "redecided" in out.splitlines()[1], out
    code, out = await run_ctl(api, "timers", "--state", "done")
    assert code == 0 and "deferrals" in out.splitlines()[1], out
    code, out = await run_ctl(api, "acknowledge", incident, "--reason", "on it", token=READER)
    assert code == 1 and "HTTP 403" in out, out
    code, out = await run_ctl(api, "acknowledge", incident, "--reason", "on it")
    assert (code, out.strip()) == (0, f"{incident}: acknowledged (mitigated)")
    code, out = await run_ctl(api, "board", incident)
    assert f"acknowledged  2026-11-23 00:01:00 by {ADMIN_NAME}" in out, out
    code, out = await run_ctl(api, "resolve", incident, "--reason", "fixed by hand")
    assert (code, out.strip()) == (0, f"{incident}: resolved (resolved)")
    code, out = await run_ctl(api, "board")
    assert (code, out.strip()) == (0, "no incidents"), "the board lists what is not resolved"
    code, out = await run_ctl(api, "board", "--state", "resolved")
    assert incident in out
    code, out = await run_ctl(api, "board", "20990101-000000-000000")
    assert code == 1 and "HTTP 404" in out


async def test_every_command_answers_as_json_or_yaml(api: Api) -> None:
    await api.alert(am_alert(severity="critical"))
    await api.app.drained()
    for argv in (
        ["status"],
        ["executions"],
        ["rules"],
        ["breakers"],
        ["approvals"],
        ["audit"],
        ["incidents"],
        ["board"],
        ["deferred"],
        ["timers", "--state", "done"],
    ):
        code, as_json = await run_ctl(api, *argv, "-o", "json")
        assert code == 0, as_json
        code, as_yaml = await run_ctl(api, *argv, "--output", "yaml")
        assert code == 0, as_yaml
        assert yaml.safe_load(as_yaml) == json.loads(as_json), argv
    code, out = await run_ctl(api, "pause", "--reason", "x", "-o", "yaml")
    assert yaml.safe_load(out)["paused"] is True
    with pytest.raises(SystemExit):
        ctl.main(["executions", "--outcome", "exploded"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sighup_reloads_the_rules(tmp_path: Path, repo: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    rule = textwrap.dedent(
        """
        rules:
          - name: {name}
            match: ['alertname = "X"']
            target: {{kind: Deployment, namespace: shop, name: x}}
            actions: [{{rollout_restart: {{}}}}]
        """
    )
    (rules / "a.yaml").write_text(rule.format(name="first"))
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            auth:
              webhook_token: null
              api_tokens: [{{name: ops, scope: admin, env: CTL_TEST_TOKEN}}]
            journal: {{path: {tmp_path / "journal.sqlite"}, synchronous: normal}}
            kubernetes: {{mode: none}}
            rules: [{rules}]
            """
        )
    )
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDIATOR_", "KUBERNETES_"))}
    env.update(CTL_TEST_TOKEN="s3cret", PYTHONPATH=str(repo))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "remediator",
            "serve",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ctl_env = {"REMEDIATOR_URL": f"http://127.0.0.1:{port}", "REMEDIATOR_TOKEN": "s3cret"}

    def rule_names() -> list[str]:
        out = io.StringIO()
        assert ctl.main(["rules", "-o", "json"], out=out, err=out, environ=ctl_env) == 0, out.getvalue()
        return [r["name"] for r in json.loads(out.getvalue())["rules"]]

    try:
        for _ in range(100):
            out = io.StringIO()
            if ctl.main(["status"], out=out, err=out, environ=ctl_env) == 0:
                break
            time.sleep(0.1)
        assert rule_names() == ["first"]
        (rules / "b.yaml").write_text(rule.format(name="second"))
        proc.send_signal(signal.SIGHUP)
        for _ in range(100):
            if rule_names() == ["first", "second"]:
                break
            time.sleep(0.05)
        assert rule_names() == ["first", "second"]
        (rules / "b.yaml").write_text("rules: [oops")
        proc.send_signal(signal.SIGHUP)
        out = io.StringIO()
        for _ in range(100):
            out = io.StringIO()
            ctl.main(["audit", "-o", "json"], out=out, err=out, environ=ctl_env)
            if len(json.loads(out.getvalue())["audit"]) == 2:
                break
            time.sleep(0.05)
        audit = json.loads(out.getvalue())["audit"]
        assert [(a["actor"], a["detail"]["result"]) for a in audit] == [
            ("SIGHUP", "failure"),
            ("SIGHUP", "success"),
        ]
        assert rule_names() == ["first", "second"]
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output.decode()
    assert b"rule reload failed; previous rules stay active" in output
