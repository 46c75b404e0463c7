"""Escalate: hand the incident to humans when automation cannot fix it, and tell them what it does.

`escalation.Escalator` runs a rule's `on_failure` steps (PagerDuty, a channel, a webhook) once per
rule and target, and resolves the page when the alert clears; `incident.IncidentComms` silences
the alert in Alertmanager while a fix is verified and tells the rule's channel the story. They
speak to the world through `pagerduty.PagerDutyEvents` (Events API v2), `notify.Notifier` (Slack
or a webhook, from templates) and `silence.AlertmanagerSilences` (API v2), all retried by the
actions' retry policy over `_http`. The executor (actions/runner.py) calls them through the
protocols it declares; `app.py` wires them in.
"""
