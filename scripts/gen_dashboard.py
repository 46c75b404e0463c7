"""Builds dashboards/remediator.json (and the chart copy) with grafana-foundation-sdk builders.

Run after changing panels: python scripts/gen_dashboard.py; tests/ship/test_dashboard.py checks the result."""
import json, sys
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import timeseries, stat, statetimeline
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.cog.encoder import JSONEncoder

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'namespace=~"$namespace", job=~"$job"'
RI = "$__rate_interval"

def q(expr, legend="__auto", ref="A", instant=False):
    b = prom.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)
    if instant:
        b = b.instant()
    return b

def ts(title, desc, unit, *targets, stack=False, w=12, h=8):
    p = (timeseries.Panel().title(title).description(desc).datasource(DS).unit(unit)
         .height(h).span(w).fill_opacity(10).line_width(1).min(0)
         .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE).placement(cm.LegendPlacement.BOTTOM).show_legend(True).calcs(["mean", "max", "lastNotNull"])))
    if stack:
        p = p.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    for t in targets:
        p = p.with_target(t)
    return p

def st(title, desc, unit, target, steps, w=4, h=4, mappings=None):
    p = (stat.Panel().title(title).description(desc).datasource(DS).unit(unit).height(h).span(w)
         .with_target(target)
         .color_mode(cm.BigValueColorMode.BACKGROUND)
         .graph_mode(cm.BigValueGraphMode.NONE)
         .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
         .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
             [dm.Threshold(value=v, color=c) for v, c in steps])))
    if mappings:
        p = p.mappings(mappings)
    return p

def vmap(d):
    return dm.ValueMap(options={k: dm.ValueMappingResult(text=t, color=c, index=i) for i, (k, (t, c)) in enumerate(d.items())})

d = (db.Dashboard("remediator")
     .uid("remediator-overview")
     .description("remediator: alerts received, decisions, actions, guards and webhook health (metrics remediator_*).")
     .tags(["remediator", "alertmanager", "remediation"])
     .editable()
     .tooltip(dm.DashboardCursorSync.CROSSHAIR)
     .refresh("30s")
     .time("now-6h", "now")
     .timezone("browser")
     .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
     .with_variable(db.QueryVariable("namespace").label("Namespace").datasource(DS)
                    .query({"query": "label_values(remediator_build_info, namespace)", "refId": "namespace"})
                    .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).include_all(True).all_value(".*").multi(True)
                    .sort(dm.VariableSort.ALPHABETICAL_ASC))
     .with_variable(db.QueryVariable("job").label("Job").datasource(DS)
                    .query({"query": 'label_values(remediator_build_info{namespace=~"$namespace"}, job)', "refId": "job"})
                    .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).include_all(True).all_value(".*").multi(True)
                    .sort(dm.VariableSort.ALPHABETICAL_ASC))
)

# ---- status row
d = d.with_row(db.Row("Status"))
d = d.with_panel(st("Version", "remediator_build_info: the running version.", "none",
                    q(f"max by (version) (remediator_build_info{{{SEL}}})", "{{version}}", instant=True),
                    [(None, "blue")]).text_mode(cm.BigValueTextMode.NAME))
d = d.with_panel(st("Rules loaded", "remediator_rules_loaded: rules in the active rule set.", "none",
                    q(f"sum(remediator_rules_loaded{{{SEL}}})", instant=True), [(None, "red"), (1, "green")]))
d = d.with_panel(st("Paused", "remediator_paused: 1 while automation is paused globally.", "none",
                    q(f"max(remediator_paused{{{SEL}}})", instant=True), [(None, "green"), (1, "orange")],
                    mappings=[vmap({"0": ("running", "green"), "1": ("PAUSED", "orange")})]))
d = d.with_panel(st("Open breakers", "Rules whose circuit breaker is open (remediator_circuit_breaker_state == 2).", "none",
                    q(f"count(remediator_circuit_breaker_state{{{SEL}}} == 2) or vector(0)", instant=True),
                    [(None, "green"), (1, "red")]))
d = d.with_panel(st("Queue depth", "remediator_queue_depth: accepted payloads not yet processed.", "none",
                    q(f"sum(remediator_queue_depth{{{SEL}}})", instant=True), [(None, "green"), (100, "orange"), (1000, "red")]))
d = d.with_panel(st("Last alert received", "Time since the last alert (remediator_last_alert_received_timestamp_seconds).", "s",
                    q(f"time() - max(remediator_last_alert_received_timestamp_seconds{{{SEL}}})", instant=True),
                    [(None, "green"), (21600, "orange"), (86400, "red")]))

# ---- alerts & decisions
d = d.with_row(db.Row("Alerts and decisions"))
d = d.with_panel(ts("Alerts received", "remediator_alerts_received_total per second, by source and status.", "reqps",
                    q(f"sum by (source, status) (rate(remediator_alerts_received_total{{{SEL}}}[{RI}]))", "{{source}} {{status}}")))
d = d.with_panel(ts("Rule matches", "remediator_rule_matches_total per second, by rule.", "reqps",
                    q(f"sum by (rule) (rate(remediator_rule_matches_total{{{SEL}}}[{RI}]))", "{{rule}}")))
d = d.with_panel(ts("Decisions by outcome", "remediator_decisions_total per second, by outcome (act, dry_run or the skip reason).", "reqps",
                    q(f"sum by (outcome) (rate(remediator_decisions_total{{{SEL}}}[{RI}]))", "{{outcome}}"), stack=True))
d = d.with_panel(ts("Actions by rule", "Decisions that acted (outcome act or dry_run), by rule and action, per interval.", "short",
                    q(f'sum by (rule, action) (increase(remediator_decisions_total{{{SEL}, outcome=~"act|dry_run"}}[{RI}]))', "{{rule}} {{action}}"), stack=True))

# ---- actions
d = d.with_row(db.Row("Actions"))
d = d.with_panel(ts("Time to remediate", "From the alert's start to a verified remediation (remediator_time_to_remediate_seconds).", "s",
                    q(f"histogram_quantile(0.5, sum by (le) (rate(remediator_time_to_remediate_seconds_bucket{{{SEL}}}[{RI}])))", "p50", "A"),
                    q(f"histogram_quantile(0.9, sum by (le) (rate(remediator_time_to_remediate_seconds_bucket{{{SEL}}}[{RI}])))", "p90", "B"),
                    q(f"histogram_quantile(0.99, sum by (le) (rate(remediator_time_to_remediate_seconds_bucket{{{SEL}}}[{RI}])))", "p99", "C")))
d = d.with_panel(ts("Action duration p90", "remediator_action_duration_seconds, 90th percentile by action, retries included.", "s",
                    q(f"histogram_quantile(0.9, sum by (action, le) (rate(remediator_action_duration_seconds_bucket{{{SEL}}}[{RI}])))", "{{action}}")))
d = d.with_panel(ts("Executions by status", "remediator_executions_total per interval, by action and status (failed ones count toward the breakers).", "short",
                    q(f"sum by (action, status) (increase(remediator_executions_total{{{SEL}}}[{RI}]))", "{{action}} {{status}}"), stack=True))
d = d.with_panel(statetimeline.Panel().title("Circuit breakers").description("remediator_circuit_breaker_state by rule: 0 closed, 1 half-open, 2 open.")
                 .datasource(DS).height(8).span(12)
                 .with_target(q(f"max by (rule) (remediator_circuit_breaker_state{{{SEL}}})", "{{rule}}"))
                 .mappings([vmap({"0": ("closed", "green"), "1": ("half-open", "orange"), "2": ("open", "red")})])
                 .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([dm.Threshold(value=None, color="green"), dm.Threshold(value=1, color="orange"), dm.Threshold(value=2, color="red")]))
                 .show_value(cm.VisibilityMode.NEVER).merge_values(True).line_width(0).fill_opacity(80))
d = d.with_panel(ts("Escalations", "remediator_escalations_total per interval, by destination and result.", "short",
                    q(f"sum by (to, result) (increase(remediator_escalations_total{{{SEL}}}[{RI}]))", "{{to}} {{result}}"), stack=True))
d = d.with_panel(ts("Queue depth", "remediator_queue_depth: accepted payloads waiting for the engine.", "short",
                    q(f"sum(remediator_queue_depth{{{SEL}}})", "queued")))

# ---- webhooks & journal
d = d.with_row(db.Row("Webhooks and journal"))
d = d.with_panel(ts("Webhook latency p99", "remediator_webhook_request_duration_seconds p99 by route (journal write included).", "s",
                    q(f"histogram_quantile(0.99, sum by (route, le) (rate(remediator_webhook_request_duration_seconds_bucket{{{SEL}}}[{RI}])))", "{{route}}")))
d = d.with_panel(ts("Webhook errors", "Share of webhook requests answered 5xx (load shedding, journal errors) and 4xx (bad token, bad payload), by route.", "percentunit",
                    q(f'sum by (route) (rate(remediator_webhook_requests_total{{{SEL}, code=~"5.."}}[{RI}])) / sum by (route) (rate(remediator_webhook_requests_total{{{SEL}}}[{RI}]))', "{{route}} 5xx", "A"),
                    q(f'sum by (route) (rate(remediator_webhook_requests_total{{{SEL}, code=~"4.."}}[{RI}])) / sum by (route) (rate(remediator_webhook_requests_total{{{SEL}}}[{RI}]))', "{{route}} 4xx", "B")))
d = d.with_panel(ts("Journal errors", "remediator_journal_errors_total per interval: failed journal writes (the webhook answered 503).", "short",
                    q(f"sum(increase(remediator_journal_errors_total{{{SEL}}}[{RI}]))", "errors")))
d = d.with_panel(ts("Config reloads", "remediator_config_reload_total per interval, by result.", "short",
                    q(f"sum by (result) (increase(remediator_config_reload_total{{{SEL}}}[{RI}]))", "{{result}}")))

built = d.build()
for i, p in enumerate(built.panels, start=1):
    p.id_val = i
out = json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=False)
sys.stdout.write(out + "\n")
