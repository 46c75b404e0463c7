"""Synthetic but realistic inputs for every benchmark: rule files and Alertmanager v4 payloads.

Deterministic (seeded), so two runs drive the daemon with the same work. Alerts look like
Alertmanager's: eight labels, four annotations, a `generatorURL`, a fingerprint, and each one
distinct (a per-alert `pod` label), spread over many namespace/deployment targets so neither
the journal nor the cooldown guard sees the same thing twice unless a benchmark says so.

Rule set of `n` rules (what `make_rules` writes and `expected_rule_names` lists):

* `n - 4` generated rules, `bench-NNNNN`, each selecting `alertname = "BenchNNNNN"` (or the
  literal alternation `alertname =~ "BenchNNNNN|BenchNNNNNSlow"` for one rule in five) plus one
  or two further matchers in a mix of `=`, `!=` and real regexes (`namespace =~ "team-[0-9]+"`),
  half of them with a `when:` threshold; actions alternate rollout_restart and scale.
* 2 rules the index cannot file under a label value (only real regexes): scanned for every alert.
* 2 storm rules on `alertname = "BenchStormCrashLoop"`: `bench-storm-restart` acts
  (rollout_restart, cooldown 15m) and `bench-storm-scale-if-hot` never does (`when: value > 1000`
  while storm alerts carry 5): every storm alert makes two decisions and one act per target.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STORM_ALERTNAME = "BenchStormCrashLoop"
STORM_ACTING_RULE = "bench-storm-restart"
UNROUTED_PREFIX = "Unrouted"
_RULES_PER_FILE = 250
_SPECIAL_RULES = 4
_GO_ZERO = "0001-01-01T00:00:00Z"

try:  # orjson only speeds up generating the inputs; the daemon never sees the difference.
    import orjson

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - orjson is optional

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class TargetRef:
    namespace: str
    deployment: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/Deployment/{self.deployment}"


def targets(count: int, *, per_namespace: int = 50) -> list[TargetRef]:
    """`count` distinct Deployments, `per_namespace` in each namespace (`team-000/svc-000`, ...)."""
    return [TargetRef(f"team-{i // per_namespace:03d}", f"svc-{i % per_namespace:03d}") for i in range(count)]


def generated_alertname(i: int) -> str:
    return f"Bench{i:05d}"


def generated_count(n: int) -> int:
    """How many `bench-NNNNN` rules a set of `n` rules holds (the rest are the four special ones)."""
    return max(n - _SPECIAL_RULES, 1)


def _generated_rule(i: int) -> str:
    name = generated_alertname(i)
    family = i % 10
    if family in (6, 7):
        matchers = [f'alertname =~ "{name}|{name}Slow"', 'namespace =~ "team-[0-9]+"']
    elif family == 8:
        matchers = [f'alertname = "{name}"', 'namespace != "kube-system"', 'deployment =~ "svc-.*"']
    elif family == 9:
        matchers = [f'alertname = "{name}"', 'severity =~ "critical|warning"']
    elif family in (3, 4, 5):
        matchers = [f'alertname = "{name}"', 'severity = "critical"', 'namespace =~ "team-.+"']
    else:
        matchers = [f'alertname = "{name}"', 'severity = "critical"']
    when = "    when: value > 10/min\n" if i % 2 == 0 else ""
    action = "rollout_restart: {}" if i % 3 else "scale: {by: 1, min: 2, max: 10}"
    match = "".join(f"      - '{m}'\n" for m in matchers)
    return (
        f"  - name: bench-{i:05d}\n"
        f"    description: generated rule {i} for the benchmarks\n"
        f"    match:\n{match}{when}"
        "    target:\n"
        "      kind: Deployment\n"
        '      namespace: "{{ labels.namespace }}"\n'
        '      name: "{{ labels.deployment }}"\n'
        f"    actions:\n      - {action}\n"
    )


_SPECIAL = f"""\
  - name: bench-scan-oom
    description: only real regexes, so the index cannot file it; scanned for every alert
    match:
      - 'alertname =~ ".*OOMKill.*"'
      - 'namespace =~ "team-.*"'
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions:
      - rollout_restart: {{}}
  - name: bench-scan-disk
    description: only negative matchers and a real regex; scanned for every alert
    match:
      - 'alertname =~ "Disk(Full|Pressure)[0-9]*"'
      - 'severity != "info"'
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions:
      - rollout_restart: {{}}
  - name: {STORM_ACTING_RULE}
    description: crash-looping pods -> rolling restart, once per target per cooldown
    match:
      - 'alertname = "{STORM_ALERTNAME}"'
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions:
      - rollout_restart: {{}}
    guards: {{cooldown: 15m}}
  - name: bench-storm-scale-if-hot
    description: matches every storm alert, never acts (value 5 is not above 1000)
    match:
      - 'alertname = "{STORM_ALERTNAME}"'
      - 'severity =~ "critical|warning"'
    when: value > 1000
    target: {{kind: Deployment, namespace: "{{{{ labels.namespace }}}}", name: "{{{{ labels.deployment }}}}"}}
    actions:
      - scale: {{by: 1, max: 10}}
"""


def make_rules(directory: Path, n: int) -> Path:
    """Write `n` rules (see the module docstring) as YAML files under `directory`; returns it."""
    if n <= _SPECIAL_RULES:
        raise ValueError(f"a benchmark rule set needs more than {_SPECIAL_RULES} rules, got {n}")
    directory.mkdir(parents=True, exist_ok=True)
    count = generated_count(n)
    chunks = [list(range(s, min(s + _RULES_PER_FILE, count))) for s in range(0, count, _RULES_PER_FILE)]
    for k, chunk in enumerate(chunks):
        body = "".join(_generated_rule(i) for i in chunk)
        (directory / f"bench-{k:03d}.yaml").write_text("rules:\n" + body)
    (directory / "bench-special.yaml").write_text("rules:\n" + _SPECIAL)
    return directory


def fingerprint(labels: dict[str, str]) -> str:
    h = hashlib.sha256("\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items())).encode())
    return h.hexdigest()[:16]


def now_rfc3339() -> str:
    """Alerts start "now": older ones would be judged stale by the freshness guard (max_alert_age)."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def alert(
    serial: int, alertname: str, target: TargetRef, *, value: str = "42.5", starts_at: str | None = None
) -> dict[str, Any]:
    """One Alertmanager v4 alert; `serial` makes its label set (and fingerprint) unique."""
    labels = {
        "alertname": alertname,
        "namespace": target.namespace,
        "deployment": target.deployment,
        "pod": f"{target.deployment}-7d9f8c6b5-{serial:07d}",
        "severity": "critical",
        "team": f"owners-{target.namespace[-3:]}",
        "instance": f"10.{serial // 65536 % 256}.{serial // 256 % 256}.{serial % 256}:8080",
        "job": "kubernetes-pods",
    }
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"{target.deployment} in {target.namespace}: {alertname} at {value}",
            "description": f"{alertname} fired for pod {labels['pod']} for more than 2 minutes",
            "runbook_url": f"https://runbooks.example.com/{alertname.lower()}",
            "value": value,
        },
        "startsAt": starts_at or now_rfc3339(),
        "endsAt": _GO_ZERO,
        "generatorURL": "http://prometheus.monitoring:9090/graph?g0.expr=up%3D%3D0&g0.tab=1",
        "fingerprint": fingerprint(labels),
    }


def payload(alerts: Sequence[dict[str, Any]]) -> bytes:
    """An Alertmanager webhook v4 body carrying `alerts` (grouped by alertname, as routes do)."""
    name = alerts[0]["labels"]["alertname"]
    group = {"alertname": name}
    return _dumps(
        {
            "receiver": "remediator",
            "status": "firing",
            "alerts": list(alerts),
            "groupLabels": group,
            "commonLabels": group,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.monitoring:9093",
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}"}}',
            "truncatedAlerts": 0,
        }
    )


@dataclass(frozen=True, slots=True)
class Mix:
    """Which alerts a stream carries: a few active rule alertnames over many targets, some unrouted."""

    rules: int
    """Rules in the loaded set (alertnames are chosen among its generated rules)."""
    active_alertnames: int
    targets: int
    unrouted_fraction: float
    seed: int = 7


def alert_stream(mix: Mix, count: int, *, first_serial: int = 0) -> Iterator[dict[str, Any]]:
    """`count` distinct alerts drawn from `mix` (a seeded random walk, so runs repeat)."""
    rng = random.Random(mix.seed + first_serial)
    pool = targets(mix.targets)
    starts_at = now_rfc3339()
    generated = generated_count(mix.rules)
    step = max(generated // max(mix.active_alertnames, 1), 1)
    names = [generated_alertname((k * step) % generated) for k in range(mix.active_alertnames)]
    for serial in range(first_serial, first_serial + count):
        target = pool[rng.randrange(len(pool))]
        if rng.random() < mix.unrouted_fraction:
            name = f"{UNROUTED_PREFIX}{rng.randrange(50):02d}"
        else:
            name = names[rng.randrange(len(names))]
        yield alert(serial, name, target, starts_at=starts_at)


def payloads(mix: Mix, *, count: int, alerts_per_payload: int, first_serial: int = 0) -> list[bytes]:
    """`count` webhook bodies of `alerts_per_payload` distinct alerts each."""
    stream = alert_stream(mix, count * alerts_per_payload, first_serial=first_serial)
    return [payload([next(stream) for _ in range(alerts_per_payload)]) for _ in range(count)]


def storm_payloads(*, alerts: int, target_count: int, per_payload: int = 100) -> list[bytes]:
    """A storm: `alerts` distinct crash-loop alerts spread round-robin over `target_count` targets,
    batched as Alertmanager does with `max_alerts: 100`."""
    pool = targets(target_count)
    starts_at = now_rfc3339()
    items = [
        alert(i, STORM_ALERTNAME, pool[i % target_count], value="5", starts_at=starts_at)
        for i in range(alerts)
    ]
    return [payload(items[i : i + per_payload]) for i in range(0, len(items), per_payload)]


def count_alerts(body: bytes) -> int:
    return len(json.loads(body)["alerts"])
