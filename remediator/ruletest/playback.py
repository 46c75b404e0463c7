"""Playing a rule test's script into the daemon: alerts, approvals and acknowledgements at their times.

Alerts enter as Alertmanager v4 payloads through `journal.accept`, exactly where the webhook puts
them, with `startsAt` kept as Alertmanager keeps it; approvals and acknowledgements go through the
same services the API calls. Separate from the runner, which builds the world and compares the
outcome, because this is the part that imitates the outside callers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby

from remediator.app import Application
from remediator.ruletest.schema import AcknowledgeSpec, AlertSpec, ApprovalSpec
from remediator.ruletest.timeline import EPOCH, SimClock, advance, settle

_GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class RuleTestRunError(Exception):
    """The test's script cannot be played (an approval with nothing pending): the test fails with it."""


async def play(
    app: Application,
    clock: SimClock,
    alerts: Sequence[AlertSpec],
    approvals: Sequence[ApprovalSpec | AcknowledgeSpec] = (),
) -> None:
    """Send the alerts, give the approvals and acknowledgements at their times: at the same time alerts
    first, in file order, each step settled before the next."""
    steps: list[tuple[float, int, AlertSpec | ApprovalSpec | AcknowledgeSpec]] = [
        (t, i, a) for i, a in enumerate(alerts) for t in a.at
    ]
    steps += [(a.at, len(alerts) + i, a) for i, a in enumerate(approvals)]
    timeline = sorted(steps, key=lambda e: (e[0], e[1]))
    episodes: dict[tuple[tuple[str, str], ...], datetime] = {}
    now = 0.0
    for at, step in groupby(timeline, key=lambda e: e[0]):
        if at > now:
            await advance(app, clock, at - now)  # what is due by `at` happens before its alerts
            now = at
        for _, _, item in step:
            if isinstance(item, ApprovalSpec):
                await _approve(app, item)
            elif isinstance(item, AcknowledgeSpec):
                await _acknowledge(app, item)
            else:
                await app.journal.accept("alertmanager", payload(item, sent=clock.now(), episodes=episodes))
            await settle(app, clock)


async def _approve(app: Application, approval: ApprovalSpec) -> None:
    """Approve the oldest pending approval of the rule, as `POST /api/v1/approvals/{id}/approve` does."""
    assert app.operator is not None
    pending = [a for a in await app.journal.approvals(status="pending") if a["rule"] == approval.rule]
    if not pending:
        raise RuleTestRunError(
            f"approve at {approval.at:g}s: no pending approval of rule {approval.rule!r} to approve"
        )
    oldest = min(pending, key=lambda a: int(a["id"]))
    await app.operator.approve(actor=approval.by, approval_id=int(oldest["id"]), reason="rule test")


async def _acknowledge(app: Application, ack: AcknowledgeSpec) -> None:
    """Acknowledge the rule's incident, as `POST /api/v1/incident-board/{id}/acknowledge` does."""
    live = [i for i in app.desk.live() if i.rule == ack.rule and i.state != "resolved"]
    if not live:
        raise RuleTestRunError(f"acknowledge at {ack.at:g}s: no incident of rule {ack.rule!r} to acknowledge")
    await app.desk.acknowledge(live[0].id, by=ack.by, reason="rule test")


def payload(
    alert: AlertSpec, *, sent: datetime, episodes: dict[tuple[tuple[str, str], ...], datetime]
) -> bytes:
    """One Alertmanager v4 webhook body carrying one alert.

    `startsAt` behaves as Alertmanager's: repeats of a firing alert keep the time it started
    firing, its resolution carries it too, and firing again after a resolution starts anew.
    """
    key = tuple(sorted(alert.labels.items()))
    if alert.starts_at is not None:
        starts = EPOCH + timedelta(seconds=alert.starts_at)
    else:
        starts = episodes.get(key, sent)
    if alert.status == "firing":
        episodes.setdefault(key, starts)
    else:
        episodes.pop(key, None)
    name = alert.labels.get("alertname", "")
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "status": alert.status,
        "receiver": "remediator",
        "groupLabels": {"alertname": name},
        "commonLabels": dict(alert.labels),
        "commonAnnotations": dict(alert.annotations),
        "externalURL": "http://alertmanager.test:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": alert.status,
                "labels": dict(alert.labels),
                "annotations": dict(alert.annotations),
                "startsAt": _rfc3339(starts),
                "endsAt": _rfc3339(sent) if alert.status == "resolved" else _GO_ZERO_TIME,
                "generatorURL": "",
                "fingerprint": "",
            }
        ],
    }
    return json.dumps(body).encode()


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
