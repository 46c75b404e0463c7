"""Rule unit tests, like `promtool test rules`: given this cluster and these alerts, expect these decisions.

`remediator test FILE_OR_DIR...` runs each test through the real daemon (`open_app`, a journal in a
temporary directory, kubernetes-asyncio against an in-process fake API server) on a simulated
clock, so an hour of cooldowns runs in milliseconds and every guard, action and reason is the
production one. It prints one line per test, a diff for each failure and `N passed, M failed`.
Exit status: 0 all passed, 1 a test failed, 2 a test file is invalid (every problem as
`file:line: message`, like `remediator check`).

A test file (the shipped ones are in `rules-tests/`, one per file in `rules/`):

```yaml
rule_files: [../rules/traffic.yaml]      # relative to this file; files or directories

config:                                  # optional: overrides of config/remediator.yaml, any section
  guards: {denied_namespaces: [kube-system]}   # but those the runner owns (journal, kubernetes, ...)

cluster:                                 # the cluster before each test (a test can add to it)
  namespaces:
    shop: {labels: {team: search}}
  deployments:
    shop/search:                         # namespace/name
      image: search:v2                   # every container; default <name>:v1
      revisions: [search:v1]             # older revisions, oldest first (what rollout_undo goes back to)
      rolled_out: -20m                   # the current revision's rollout; default -1d (not recent)
      replicas: 2                        # default 2
      env: {RATE_LIMIT_MODE: direct}
      # also: containers: [app, proxy], labels, annotations, paused: true
  statefulsets:
    shop/redis: {image: redis:7, replicas: 3}
  pods:                                  # extra pods by name (an alert's `pod` label), also daemonsets:
    shop/search-oom-1: {labels: {app: search}, phase: Running, owner: Deployment/search}
                                         # owner: one of that workload's pods (delete_pod deletes no other)
  disruption_budgets:                    # PodDisruptionBudgets: delete_pod evicts, the budget decides
    shop/search: {selector: {app: search}, min_available: 1}   # or max_unavailable; a number or "50%"

tests:
  - name: p99 above 5s adds two replicas; firing again within 10m it waits for the cooldown
    alerts:
      - at: 0s                           # when Alertmanager sends it
        labels: &search-p99 {alertname: HighLatency, namespace: shop, deployment: search, quantile: "0.99"}
        annotations: {value: "7.3"}      # read in the threshold's unit: 7.3s
      - {at: 4m, labels: *search-p99, status: resolved}    # the alert resolves
      - at: [6m, 11m]                    # fires again, re-sent 5m later (or once: `at: 6m`)
        labels: *search-p99
        annotations: {value: "6.1"}
        # starts_at: -10m                # default: when it started firing, as Alertmanager sends it
      - {at: 13m, labels: *search-p99, status: resolved}
    expect:
      decisions:                         # every decision made, in any order; [] means none
        - {at: 0s, rule: scale-up-on-high-latency, outcome: act, execution: succeeded}
        - {at: 4m, rule: scale-up-on-high-latency, outcome: resolved}
        - at: 6m
          rule: scale-up-on-high-latency
          outcome: cooldown
          target: shop/Deployment/search # namespace/Kind/name
          reason: "cooldown 10m"         # a substring of the decision's reason
        - {at: 11m, rule: scale-up-on-high-latency, outcome: act, execution_reason: "4 -> 6"}
        - {at: 13m, rule: scale-up-on-high-latency, outcome: resolved}
      cluster:                           # only the fields named are compared
        deployments:
          shop/search:
            replicas: 6
            image: search:v2             # or images: {app: search:v2}
            env: {RATE_LIMIT_MODE: direct, FALLBACK_ENABLED: null}   # null: not set
            restarted: false             # the kubectl.kubernetes.io/restartedAt annotation
        pods:
          shop/search-oom-1: present     # or absent

  - name: in dry-run the switch to queued requests is planned, not made
    config: {guards: {dry_run: true}}    # on top of the file's config
    alerts:
      - at: 0s
        labels: {alertname: RateLimited, namespace: shop, deployment: search}
        annotations: {value: "12"}       # read in the threshold's unit: 12/min
    expect:
      decisions:
        - {rule: queue-requests-when-rate-limited, outcome: dry_run, execution: planned}
      cluster:
        deployments:
          shop/search: {env: {RATE_LIMIT_MODE: direct}}
```

Times: `at` is when an alert is sent, after the start (`0s`, `5m`, `1h30m`); `rolled_out` and
`starts_at` may be before it (`-20m`). The test starts at 2026-01-01T00:00:00Z. Alerts behave
as Alertmanager sends them: a re-sent alert keeps the `startsAt` of when it started firing (the
same alert again, which the engine records as `duplicate`), its resolution carries it too, and
firing after a resolution is a new occurrence. Between alert times the clock moves and whatever
waits on it (verification, retry backoff) runs; after the last alert it keeps moving (up to a
day) until every execution has finished, then the test compares. Rules that verify their
action (`resolved_within`) need the alert to resolve in time, as it would once the fix works;
otherwise the execution ends `failed` with "not verified".

An expected decision names `rule` and `outcome` (act, dry_run, cooldown, duplicate, in_flight,
not_applicable, resolved, condition_false, invalid_target, outside_allowed_namespaces, ...),
and optionally `at`, `target` (`namespace/Kind/name`), `reason` (a substring), `execution` (how
the action ended: succeeded, failed, planned in dry-run, ...) and `execution_reason` (a
substring of why it failed, or of its summary, e.g. "2 -> 4"). The list must account for every
decision made, so a rule that starts matching an alert it should not fails the test.

Each alert is one Alertmanager v4 webhook payload accepted into the journal, the way the
webhook accepts it. A test never reaches anything outside the process: Prometheus and
Alertmanager are left unconfigured whatever the environment holds (`confirm` queries cannot
confirm), and PagerDuty and chat are the runner's stand-ins (below).

Incidents over time (escalation ladders, updates, the watch; README "Incidents over time"): a test
file's `config` may set `incidents`, and name PagerDuty services (`pagerduty.routing_keys`) and chat
channels (`notify.channels`) as the production config does. Only the names count: the runner sends
every page and message to its own stand-ins in the process, whatever keys and URLs the config gives.
A test can then run the clock on and expect what was paged and said, and when:

```yaml
rule_files: [../rules/auth.yaml]
config:
  incidents:
    escalation:
      P1: [{after: 0m, page: primary}, {after: 15m, page: secondary}, {after: 30m, notify: team-lead}]
    updates: {every: 30m, channel: ops}
    watch: 30m
  pagerduty: {routing_keys: {primary: {env: PD_PRIMARY}, secondary: {env: PD_SECONDARY}}}
  notify:
    channels: {ops: {kind: slack, url: {env: SLACK_OPS}}, team-lead: {kind: slack, url: {env: SLACK_LEAD}}}
cluster: {deployments: {shop/image-gen: {}}}
tests:
  - name: not fixed by the restart; acknowledged at 20m
    alerts:
      - at: 0s
        labels: {alertname: AuthFailures, namespace: shop, deployment: image-gen, status_code: "401"}
        annotations: {value: "3"}
    acknowledge:                       # a human acknowledges the rule's incident (the ladder stops)
      - {at: 20m, rule: restart-on-auth-failures, by: dana}
    until: 1h5m                        # run the clock to here (default: until the executions end)
    expect:
      pages:                           # every PagerDuty event, in order; [] means none
        - {at: 10m, page: default, action: trigger, severity: critical}   # the rule's on_failure
        - {at: 10m, page: primary}     # the ladder's first step (action: trigger by default)
      notifications:                   # every message, in order (text: a substring)
        - {at: 30m, channel: ops, text: "acknowledged by dana"}
        - {at: 1h, channel: ops, text: "[P1] Update"}
      incidents:                       # every incident, in the order they opened
        - {state: open, severity: P1, acknowledged_by: dana,
           events: [opened, acting, failed, escalated, paged, acknowledged, update, update]}
```

`pages` name the service as the config does (`default`: `pagerduty.routing_key`, which
`escalate: {to: pagerduty}` pages) with `action` (trigger, acknowledge, resolve) and optionally `at`
and `severity`. An expected incident names its `state` (open, mitigated, watching, resolved) and
optionally `rule`, `severity`, `reopened` (times a re-fire within the watch re-opened it),
`acknowledged_by` and `events`, its timeline's kinds in order. Deferrals are decisions
(`outcome: deferred`, then the decision that ended the wait at its time); a re-fire within the watch
is a decision with `outcome: escalated`. `rules-tests/incidents.yaml` has the ladder and the watch.

`run_rule_tests(paths, out=..., verbose=...)` is the entry point (`run_rule_tests_async` inside
a running event loop); `--verbose` adds each passing test's decisions and a failing test's
engine log.
"""

from remediator.ruletest.runner import run_rule_tests, run_rule_tests_async

__all__ = ["run_rule_tests", "run_rule_tests_async"]
