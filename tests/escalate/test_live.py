"""The desk's live-incident index answers exactly what a scan of every live incident answered."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from remediator.escalate._live import LiveIncidents
from remediator.store.incidents import IncidentRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _incident(i: int, *, key: str, firing: tuple[str, ...]) -> IncidentRecord:
    return IncidentRecord(
        id=f"inc-{i}",
        key=key,
        title="t",
        severity="P2",
        state="open",
        rule="r",
        target=None,
        opened_at=T0,
        updated_at=T0,
        firing=firing,
    )


def _scan(live: dict[str, IncidentRecord], fingerprint: str, key: str) -> IncidentRecord | None:
    fallback = None
    for i in live.values():
        if fingerprint in i.firing:
            return i
        if i.key == key:
            fallback = i
    return fallback


def test_find_prefers_the_first_incident_holding_the_alert_then_the_last_with_its_key() -> None:
    a = _incident(1, key="group:a", firing=("fp1",))
    b = _incident(2, key="group:a", firing=("fp2", "fp1"))
    c = _incident(3, key="group:a", firing=())
    live = LiveIncidents([a, b, c])
    assert live.find(fingerprint="fp1", key="group:x") is a
    assert live.find(fingerprint="fp2", key="group:a") is b
    assert live.find(fingerprint="fp9", key="group:a") is c
    assert live.find(fingerprint="fp9", key="group:b") is None


def test_replacing_keeps_the_place_and_popping_forgets() -> None:
    a = _incident(1, key="k", firing=("fp1",))
    b = _incident(2, key="k", firing=("fp1",))
    live = LiveIncidents([a, b])
    a2 = _incident(1, key="k2", firing=("fp1", "fp3"))
    live.put(a2)
    assert live.find(fingerprint="fp1", key="k") is a2  # still first in order
    assert live.find(fingerprint="fp9", key="k") is b
    assert live.pop("inc-1") is a2
    assert "inc-1" not in live and len(live) == 1
    assert live.find(fingerprint="fp3", key="k2") is None
    assert live.find(fingerprint="fp1", key="k") is b
    live.put(a)  # back again: now last in order
    assert live.find(fingerprint="fp1", key="k") is b
    assert live.find(fingerprint="fp9", key="k") is a


def test_random_changes_agree_with_a_scan() -> None:
    rng = random.Random(3)
    live = LiveIncidents()
    mirror: dict[str, IncidentRecord] = {}
    for step in range(3000):
        n = rng.randrange(40)
        if rng.random() < 0.25:
            live.pop(f"inc-{n}")
            mirror.pop(f"inc-{n}", None)
        else:
            firing = tuple(f"fp{rng.randrange(30)}" for _ in range(rng.randrange(4)))
            rec = _incident(n, key=f"k{rng.randrange(8)}", firing=firing)
            live.put(rec)
            mirror[rec.id] = rec
        fp, key = f"fp{rng.randrange(32)}", f"k{rng.randrange(9)}"
        assert live.find(fingerprint=fp, key=key) == _scan(mirror, fp, key), step
        assert list(live.values()) == list(mirror.values())


def test_incidents_growing_by_appended_alerts_agree_with_a_scan() -> None:
    """A batch's save appends the alerts it fired (indexed by the tail alone); other changes
    (resolved alerts, a tail that repeats one already held) are indexed by difference."""
    rng = random.Random(5)
    live = LiveIncidents()
    mirror: dict[str, IncidentRecord] = {}
    for step in range(3000):
        n = rng.randrange(12)
        old = mirror.get(f"inc-{n}")
        held = old.firing if old is not None else ()
        roll = rng.random()
        if roll < 0.1:
            live.pop(f"inc-{n}")
            mirror.pop(f"inc-{n}", None)
            continue
        if roll < 0.7:
            firing = (*held, *(f"fp{rng.randrange(60)}" for _ in range(rng.randrange(1, 4))))
        elif roll < 0.85:
            firing = tuple(fp for fp in held if rng.random() < 0.8)
        else:
            firing = held
        rec = _incident(n, key=f"k{rng.randrange(4)}", firing=firing)
        live.put(rec)
        mirror[rec.id] = rec
        for _ in range(3):
            fp, key = f"fp{rng.randrange(62)}", f"k{rng.randrange(5)}"
            assert live.find(fingerprint=fp, key=key) == _scan(mirror, fp, key), step
