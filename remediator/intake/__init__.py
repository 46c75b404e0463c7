"""Webhooks acknowledged by a process of their own (`intake.processes: 1`).

The main process (`remediator serve`) decides, acts and serves everything else; one intake process
serves POST /webhook/alertmanager and /webhook/pagerduty with the same handlers (api/webhooks.py,
api/pagerduty.py) and writes the payloads into the same journal, so acknowledging and deciding run on
two cores. `supervisor` (main side) starts, watches and stops it; `child` is the process itself;
`channel` carries wake-ups and the backlog between them; `lifeline` ends the child with its parent.
"""
