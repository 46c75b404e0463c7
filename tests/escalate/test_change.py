"""A change folds the alerts fired on its incident in when the record is read: the record it gives
is the one copying it at every alert gave (the way the desk did it before)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from remediator.escalate._change import Change
from remediator.store.incidents import IncidentRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SEVERITIES = ("", "P1", "P2", "P3")


def _incident(firing: tuple[str, ...]) -> IncidentRecord:
    return IncidentRecord(
        id="inc-1",
        key="group:a",
        title="t",
        severity="P3",
        state="open",
        rule="r",
        target=None,
        opened_at=T0,
        updated_at=T0,
        firing=firing,
    )


def _fired(i: IncidentRecord, fingerprint: str, severity: str) -> IncidentRecord:
    """The record copied for one alert, as the desk's change did it."""
    if fingerprint in i.firing and severity == i.severity:
        return i
    firing = i.firing if fingerprint in i.firing else (*i.firing, fingerprint)
    return replace(i, firing=firing, severity=severity)


def test_random_fires_reads_and_replacements_give_the_record_copied_at_every_alert() -> None:
    rng = random.Random(7)
    for _ in range(200):
        expected = _incident(tuple(f"fp{n}" for n in range(rng.randrange(5))))
        change = Change(expected)
        for step in range(60):
            roll = rng.random()
            if roll < 0.6:
                fp, sev = f"fp{rng.randrange(12)}", rng.choice(SEVERITIES)
                change.fire(fp, sev)
                expected = _fired(expected, fp, sev)
            elif roll < 0.75:  # an alert resolved: the desk replaces the record it read
                gone = f"fp{rng.randrange(12)}"
                i = change.incident
                change.incident = replace(i, firing=tuple(fp for fp in i.firing if fp != gone))
                expected = replace(expected, firing=tuple(fp for fp in expected.firing if fp != gone))
            elif roll < 0.85:  # an acting decision: another field changes
                change.incident = replace(change.incident, acting=change.incident.acting + 1)
                expected = replace(expected, acting=expected.acting + 1)
            elif roll < 0.9:  # another record altogether, set without reading this one
                expected = _incident(tuple(f"fp{rng.randrange(12)}" for _ in range(rng.randrange(4))))
                change.incident = expected
            else:
                assert change.incident == expected, step
            assert change.severity == expected.severity, step
            assert change.state == expected.state and change.id == expected.id
        assert change.incident == expected
