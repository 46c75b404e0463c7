"""The mode: who paused what until when, and why each action is a dry-run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from remediator.engine.mode import Mode, Pause

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def test_dry_run_reasons_in_order_of_precedence() -> None:
    assert Mode().dry_run_for("r1", rule_dry_run=None) == (False, "")
    assert Mode().dry_run_for("r1", rule_dry_run=True) == (True, "dry-run: rule 'r1' sets guards.dry_run")
    assert (
        Mode(dry_run_rules={"r1"}).dry_run_for("r1", rule_dry_run=None)[1]
        == "dry-run: rule 'r1' is in dry-run"
    )
    assert Mode(dry_run=True, dry_run_rules={"r1"}).dry_run_for("r1", rule_dry_run=None)[1] == (
        "dry-run: global dry-run is on"
    )
    no_cluster = Mode(dry_run=True, no_cluster="kubernetes.mode is none")
    assert no_cluster.dry_run_for("r1", rule_dry_run=None)[1].startswith("dry-run: no Kubernetes cluster")


def test_pauses_expire_and_the_global_one_covers_every_rule() -> None:
    mode = Mode(
        paused=Pause(by="alice", reason="migration", until=T0 + timedelta(hours=1)),
        paused_rules={"r2": Pause(by="bob", reason="leak")},
    )
    assert mode.pause_for("r1", T0) is mode.paused
    assert mode.pause_for("r1", T0 + timedelta(hours=1)) is None and mode.paused is None
    assert mode.pause_for("r2", T0 + timedelta(days=1)) == Pause(by="bob", reason="leak")
