"""The Helm chart, rendered by a real Helm (v4, embedded in helm-python-sdk), checked with the
Kubernetes API schemas (kubernetes-validate --strict) and for least privilege."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ship.conftest import (
    CHART_DIR,
    NAMESPACE,
    REPO,
    all_on_values,
    by_kind,
    one,
    render,
    render_notes,
    require_tool,
)

helm = pytest.importorskip("helm_python", reason="PyPI package helm-python-sdk")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="PyPI package kubernetes-validate")
jsonschema = pytest.importorskip("jsonschema")

KUBE_VERSION = "1.30"

FAMILIES = (
    "restart",
    "undo",
    "scale",
    "setEnv",
    "setImage",
    "pauseRollout",
    "deletePod",
    "deletePodForce",
    "runJob",
    "evidence",
)
"""The `actions:` switches of values.yaml, each an RBAC grant of its own."""

# Value sets every structural test runs on.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "all-on": all_on_values(),
    "cluster": {"rbac": {"scope": "cluster"}},
    "no-delete-pod": {"actions": {"deletePod": False}},
    "no-actions": {"actions": dict.fromkeys(FAMILIES, False)},
    "open-network-policy": {
        "networkPolicy": {
            "enabled": True,
            "ingress": {"from": []},
            "egress": {"apiServer": {"cidrs": []}, "dns": False},
        },
        "podDisruptionBudget": {"enabled": True},
    },
    "three-replicas-postgres": {
        "replicaCount": 3,
        "postgresql": {
            "url": "postgresql://remediator@postgres.db.svc:5432/remediator?sslmode=require",
            "existingSecret": "remediator-db",
        },
    },
    "no-persistence-existing-secret": {
        "persistence": {"enabled": False},
        "auth": {"existingSecret": "my-remediator-tokens"},
        "rules": {"builtin": False, "existingConfigMap": "my-rules"},
    },
}

# Custom resources of the Prometheus Operator: not in the core API schemas, so they are checked
# against the small schemas below instead (the fields the chart sets, and nothing else).
_STR = {"type": "string"}
_STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {"name": _STR, "namespace": _STR, "labels": _STRMAP, "annotations": _STRMAP},
    "additionalProperties": False,
}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", "endpoints"],
                "additionalProperties": False,
                "properties": {
                    "selector": {
                        "type": "object",
                        "required": ["matchLabels"],
                        "properties": {"matchLabels": _STRMAP},
                        "additionalProperties": False,
                    },
                    "namespaceSelector": {
                        "type": "object",
                        "properties": {"matchNames": {"type": "array", "items": _STR}},
                        "additionalProperties": False,
                    },
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": _STR,
                                "path": _STR,
                                "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            },
                        },
                    },
                },
            },
        },
    },
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": _STR,
                                "rules": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["alert", "expr"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$"},
                                            "labels": _STRMAP,
                                            "annotations": _STRMAP,
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


SELF_ALERTS_TEST = """
rule_files: [RULES_FILE]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'remediator_build_info{job="remediator", namespace="remediator", version="0.1.0"}'
        values: '1x40'
      - series: 'remediator_circuit_breaker_state{job="remediator", namespace="remediator", rule="rollback"}'
        values: '0x8 2x40'
      - series: 'remediator_circuit_breaker_state{job="remediator", namespace="remediator", rule="restart"}'
        values: '0x48'
      - series: 'remediator_journal_errors_total{job="remediator", namespace="remediator"}'
        values: '0x20 1x20'
      - series: >-
          remediator_executions_total{job="remediator", namespace="remediator",
          action="rollout_undo", status="failed"}
        values: '0+1x40'
    alert_rule_test:
      - {eval_time: 5m, alertname: RemediatorDown, exp_alerts: []}
      - eval_time: 5m
        alertname: RemediatorCircuitBreakerOpen
        exp_alerts:
          - exp_labels: {severity: warning, rule: rollback}
            exp_annotations:
              summary: "remediator's circuit breaker for rule rollback is open"
              description: >-
                Rule rollback failed repeatedly and is suspended until the breaker resets
                (or an admin resets it through the override API). Its alerts need a human.
      - {eval_time: 4m, alertname: RemediatorJournalErrors, exp_alerts: []}
      - eval_time: 5m30s
        alertname: RemediatorJournalErrors
        exp_alerts:
          - exp_labels: {severity: critical, job: remediator, namespace: remediator}
            exp_annotations:
              summary: "remediator cannot write its journal; webhooks are answered 503"
              description: >-
                Alertmanager retries, but alerts are not remediated until the journal volume is
                writable again (full disk, volume detached).
      - {eval_time: 3m, alertname: RemediatorActionsFailing, exp_alerts: []}
      - eval_time: 10m
        alertname: RemediatorActionsFailing
        exp_alerts:
          - exp_labels: {severity: warning, action: rollout_undo}
            exp_annotations:
              summary: "remediator's rollout_undo actions keep failing (40 in 15 minutes)"
              description: >-
                The executions in the override API (/api/v1/) show the errors; a 403 means the
                action family is disabled in the chart's `actions` values.
"""


def _rbac_rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for d in docs if d["kind"] in ("Role", "ClusterRole") for rule in d.get("rules", [])]


def _verbs(docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) -> verbs granted, over every Role and ClusterRole."""
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in _rbac_rules(docs):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def _deployment(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = _deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _daemon_config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = next(d for d in by_kind(docs, "ConfigMap") if "remediator.yaml" in d.get("data", {}))
    return yaml.safe_load(cm["data"]["remediator.yaml"])


# ------------------------------------------------------------------------------------------ lint


@pytest.mark.parametrize("variant", ["default", "all-on"])
def test_helm_lint_strict(variant: str) -> None:
    report = helm.lint(
        str(CHART_DIR), VARIANTS[variant] or None, strict=True, kube_version=f"v{KUBE_VERSION}.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [], report["errors"]
    assert problems == [], problems


def test_values_schema_rejects_typos_and_bad_values() -> None:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        chart.validate_schema(VARIANTS["all-on"])
        for bad in (
            {"actoins": {"restart": True}},  # unknown top-level key
            {"actions": {"restart": "yes"}},  # wrong type
            {"actions": {"reboot": True}},  # unknown action family
            {"rbac": {"scope": "global"}},
            {"rbac": {"namespaces": ["Not_A_Namespace"]}},
            {"persistence": {"size": "lots"}},
            {"config": {"http": {"listne": "0.0.0.0:8080"}}},
            {"config": {"log": {"level": "verbose"}}},
            {"rules": {"files": {"no-extension": "rules: []"}}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(bad)


# ------------------------------------------------------------------------- schema validation


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_manifest_validates_strictly(variant: str) -> None:
    docs = render(VARIANTS[variant])
    assert docs
    checked_by_crd_schema: set[str] = set()
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc["kind"] in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[doc["kind"]])
            checked_by_crd_schema.add(doc["kind"])
            continue
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{variant}: {name} is invalid at {path}: {e.message}")
    # Only the Prometheus Operator's kinds bypass the core schemas, and only when enabled.
    assert checked_by_crd_schema <= set(CRD_SCHEMAS)
    if variant == "all-on":
        assert checked_by_crd_schema == set(CRD_SCHEMAS)


def test_all_on_renders_every_template() -> None:
    kinds = {d["kind"] for d in render(VARIANTS["all-on"])}
    assert kinds == {
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    }
    configmaps = {d["metadata"]["name"] for d in by_kind(render(VARIANTS["all-on"]), "ConfigMap")}
    assert configmaps == {"remediator", "remediator-rules", "remediator-dashboard"}


def test_default_render_is_minimal() -> None:
    kinds = sorted(d["kind"] for d in render())
    assert kinds == sorted(
        [
            "ConfigMap",
            "Deployment",
            "PersistentVolumeClaim",
            "Role",
            "RoleBinding",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )


# ------------------------------------------------------------------------- least privilege


def test_no_wildcards_anywhere() -> None:
    for variant, values in VARIANTS.items():
        for rule in _rbac_rules(render(values)):
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], f"{variant}: wildcard in {field}: {rule}"
            assert not any("*" in r for r in rule["resources"]), rule
            assert "nonResourceURLs" not in rule


def test_all_actions_grant_exactly_what_the_actions_call() -> None:
    """The full table: any broadening (a new verb, a new resource) fails here."""
    assert _verbs(render(VARIANTS["all-on"])) == {
        ("apps", "deployments"): {"get", "patch"},
        ("apps", "statefulsets"): {"get", "patch"},
        ("apps", "daemonsets"): {"get", "patch"},
        ("apps", "replicasets"): {"list"},
        ("apps", "deployments/scale"): {"get", "patch"},
        ("apps", "statefulsets/scale"): {"get", "patch"},
        ("", "pods"): {"get", "list", "delete"},
        ("", "pods/eviction"): {"create"},
        ("", "pods/log"): {"get"},
        ("batch", "jobs"): {"create", "get", "delete"},
        ("", "events"): {"list"},
        ("", "namespaces"): {"get"},
        ("events.k8s.io", "events"): {"create"},
    }


def test_no_actions_means_read_only_plus_events() -> None:
    assert _verbs(render(VARIANTS["no-actions"])) == {
        ("apps", "deployments"): {"get"},
        ("apps", "statefulsets"): {"get"},
        ("apps", "daemonsets"): {"get"},
        ("", "namespaces"): {"get"},
        ("events.k8s.io", "events"): {"create"},
    }


def test_delete_pod_off_removes_eviction_and_pod_reads() -> None:
    granted = _verbs(render(VARIANTS["no-delete-pod"]))
    assert ("", "pods/eviction") not in granted
    assert "get" not in granted.get(("", "pods"), set())
    assert all("delete" not in verbs for verbs in granted.values())


def test_pods_are_evicted_by_default_and_deleted_only_when_forced() -> None:
    """The Eviction API respects PodDisruptionBudgets; a delete bypasses them: only on request."""
    default = _verbs(render({}))
    assert default[("", "pods/eviction")] == {"create"}
    assert "delete" not in default[("", "pods")]
    forced = _verbs(render({"actions": {"deletePodForce": True}}))
    assert "delete" in forced[("", "pods")]


def test_jobs_are_off_by_default() -> None:
    """Creating Jobs runs any image in the namespace: a grant the operator turns on knowingly."""
    default = _verbs(render({}))
    assert ("batch", "jobs") not in default


FAMILY_GRANTS: dict[str, dict[tuple[str, str], set[str]]] = {
    "restart": {
        ("apps", "deployments"): {"patch"},
        ("apps", "statefulsets"): {"patch"},
        ("apps", "daemonsets"): {"patch"},
        ("apps", "replicasets"): {"list"},
    },
    "undo": {("apps", "deployments"): {"patch"}, ("apps", "replicasets"): {"list"}},
    "scale": {
        ("apps", "deployments/scale"): {"get", "patch"},
        ("apps", "statefulsets/scale"): {"get", "patch"},
    },
    "setEnv": {
        ("apps", "deployments"): {"patch"},
        ("apps", "statefulsets"): {"patch"},
        ("apps", "daemonsets"): {"patch"},
    },
    "setImage": {
        ("apps", "deployments"): {"patch"},
        ("apps", "statefulsets"): {"patch"},
        ("apps", "daemonsets"): {"patch"},
    },
    "pauseRollout": {("apps", "deployments"): {"patch"}, ("apps", "replicasets"): {"list"}},
    "deletePod": {
        ("", "pods"): {"get", "list"},
        ("", "pods/eviction"): {"create"},
        ("apps", "replicasets"): {"list"},
    },
    "deletePodForce": {("", "pods"): {"get", "list", "delete"}, ("apps", "replicasets"): {"list"}},
    "runJob": {
        ("batch", "jobs"): {"create", "get", "delete"},
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
    },
    "evidence": {
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
        ("", "events"): {"list"},
        ("apps", "replicasets"): {"list"},
    },
}
"""What each switch adds on top of none: exactly, so a broadening of any family fails here."""


def _added(granted: dict[tuple[str, str], set[str]]) -> dict[tuple[str, str], set[str]]:
    none = _verbs(render(VARIANTS["no-actions"]))
    added = {key: verbs - none.get(key, set()) for key, verbs in granted.items()}
    return {key: verbs for key, verbs in added.items() if verbs}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_switch_on_alone_adds_exactly_its_verbs(family: str) -> None:
    only = {k: k == family for k in FAMILIES}
    assert _added(_verbs(render({"actions": only}))) == FAMILY_GRANTS[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_switch_off_takes_away_what_no_other_family_needs(family: str) -> None:
    others = {k: k != family for k in FAMILIES}
    granted = _verbs(render({"actions": others}))
    needed_by_others: dict[tuple[str, str], set[str]] = {}
    for other, grants in FAMILY_GRANTS.items():
        if other != family:
            for key, verbs in grants.items():
                needed_by_others.setdefault(key, set()).update(verbs)
    for key, verbs in FAMILY_GRANTS[family].items():
        assert granted.get(key, set()) & verbs <= needed_by_others.get(key, set()), (family, key)


def test_namespaced_scope_has_no_cluster_roles() -> None:
    for variant in ("default", "all-on", "no-delete-pod"):
        kinds = {d["kind"] for d in render(VARIANTS[variant])}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, variant


def test_namespaced_scope_binds_one_role_per_namespace() -> None:
    docs = render(VARIANTS["all-on"])
    roles = {d["metadata"]["namespace"] for d in by_kind(docs, "Role")}
    bindings = by_kind(docs, "RoleBinding")
    assert roles == {"prod-api", "prod-workers"}
    assert {b["metadata"]["namespace"] for b in bindings} == roles
    for b in bindings:
        assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "remediator"}
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "remediator-sa", "namespace": NAMESPACE}]
    # Each Role may read only its own Namespace object.
    for role in by_kind(docs, "Role"):
        ns_rules = [r for r in role["rules"] if "namespaces" in r["resources"]]
        assert ns_rules == [
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "resourceNames": [role["metadata"]["namespace"]],
                "verbs": ["get"],
            }
        ]
    # The daemon is told the same namespaces, so it skips others instead of failing with 403.
    assert _daemon_config(docs)["guards"]["allowed_namespaces"] == ["prod-api", "prod-workers"]


def test_default_namespaced_scope_is_the_release_namespace() -> None:
    docs = render()
    assert [r["metadata"]["namespace"] for r in by_kind(docs, "Role")] == [NAMESPACE]
    assert _daemon_config(docs)["guards"]["allowed_namespaces"] == [NAMESPACE]


def test_cluster_scope() -> None:
    docs = render(VARIANTS["cluster"])
    kinds = {d["kind"] for d in docs}
    assert {"ClusterRole", "ClusterRoleBinding"} <= kinds
    assert not kinds & {"Role", "RoleBinding"}
    binding = one(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "remediator", "namespace": NAMESPACE}]
    assert _daemon_config(docs)["guards"]["allowed_namespaces"] == []


# ------------------------------------------------------------------------- pod hardening


@pytest.mark.parametrize("variant", ["default", "all-on"])
def test_security_context(variant: str) -> None:
    docs = render(VARIANTS[variant])
    pod = _deployment(docs)["spec"]["template"]["spec"]
    container = _container(docs)
    assert pod["automountServiceAccountToken"] is True  # it calls the Kubernetes API
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "add" not in sc["capabilities"]
    # A read-only root needs writable mounts for exactly the journal and /tmp.
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/remediator", "/tmp"}
    # The ServiceAccount itself does not hand tokens to other pods.
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False


@pytest.mark.parametrize("variant", ["default", "all-on"])
def test_single_replica_probes_and_resources(variant: str) -> None:
    docs = render(VARIANTS[variant])
    deploy = _deployment(docs)
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    container = _container(docs)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]


def test_pod_restarts_when_config_changes() -> None:
    a = _deployment(render())["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    b = _deployment(render({"config": {"log": {"level": "debug"}}}))["spec"]["template"]["metadata"][
        "annotations"
    ]["checksum/config"]
    assert a != b


# ------------------------------------------------------------------------- config, secrets, rules


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_rendered_config_is_accepted_by_the_daemon(variant: str, tmp_path: Path) -> None:
    from remediator.config import load_settings  # the daemon's own strict loader

    docs = render(VARIANTS[variant])
    cm = next(d for d in by_kind(docs, "ConfigMap") if "remediator.yaml" in d.get("data", {}))
    path = tmp_path / "remediator.yaml"
    path.write_text(cm["data"]["remediator.yaml"])
    settings = load_settings(path)
    assert settings.http.listen == "0.0.0.0:8080"
    assert str(settings.journal.path) == "/var/lib/remediator/remediator.sqlite"
    assert settings.kubernetes.mode == "incluster"
    # The container runs the file the ConfigMap mounts.
    container = _container(docs)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert container["args"] == ["serve", "--config", f"{mount['mountPath']}/remediator.yaml"]
    # Listening on 0.0.0.0 needs a webhook token: it always comes from the Secret.
    env = {e["name"]: e for e in container["env"]}
    ref = env["REMEDIATOR_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref["key"] == "webhook-token"
    assert "optional" not in ref
    assert settings.auth.webhook_token is not None
    assert settings.auth.webhook_token.env == "REMEDIATOR_WEBHOOK_TOKEN"


def test_rule_directories() -> None:
    assert _daemon_config(render())["rules"] == ["/app/rules"]
    docs = render(VARIANTS["all-on"])
    assert _daemon_config(docs)["rules"] == ["/app/rules", "/etc/remediator/rules"]
    mounts = {m["name"]: m["mountPath"] for m in _container(docs)["volumeMounts"]}
    assert mounts["rules"] == "/etc/remediator/rules"
    docs = render(VARIANTS["no-persistence-existing-secret"])
    assert _daemon_config(docs)["rules"] == ["/etc/remediator/rules"]
    volumes = {v["name"]: v for v in _deployment(docs)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["rules"]["configMap"]["name"] == "my-rules"


def test_inline_rule_files_are_valid_rules() -> None:
    from remediator.rules.loader import load_rules_text

    docs = render(VARIANTS["all-on"])
    rules_cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-rules"))
    assert set(rules_cm["data"]) == set(all_on_values()["rules"]["files"])
    for name, text in rules_cm["data"].items():
        ruleset = load_rules_text(text, name)
        assert len(ruleset) >= 1


def test_secret_tokens() -> None:
    secret = one(render(VARIANTS["all-on"]), "Secret")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "webhook-token": "ci-webhook-token",
        "admin-token": "ci-admin-token",
        "read-token": "ci-read-token",
        "pagerduty-webhook-secret": "ci-pd-webhook-secret",
        "pagerduty-routing-key": "ci-pd-routing-key",
    }
    # Generated when not given: long random tokens for the webhook and the admin API.
    generated = one(render(), "Secret")["data"]
    assert set(generated) == {"webhook-token", "admin-token"}
    assert all(len(base64.b64decode(v)) >= 32 for v in generated.values())


def test_existing_secret_and_no_persistence() -> None:
    docs = render(VARIANTS["no-persistence-existing-secret"])
    assert not by_kind(docs, "Secret")
    assert not by_kind(docs, "PersistentVolumeClaim")
    env = _container(docs)["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
    assert refs == {"my-remediator-tokens"}
    volumes = {v["name"]: v for v in _deployment(docs)["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["journal"]
    assert _deployment(docs)["spec"]["strategy"]["type"] == "Recreate"


def test_persistent_journal_volume() -> None:
    docs = render(VARIANTS["all-on"])
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOncePod"]
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    volumes = {v["name"]: v for v in _deployment(docs)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["journal"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


# ------------------------------------------------------------------------- network, monitoring


def test_network_policy() -> None:
    values = all_on_values()
    policy = one(render(values), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert len(spec["ingress"]) == 1
    ingress = spec["ingress"][0]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert ingress["from"] == values["networkPolicy"]["ingress"]["from"]
    egress = spec["egress"]
    api = egress[0]
    assert {p["port"] for p in api["ports"]} == {443, 6443}
    assert [t["ipBlock"]["cidr"] for t in api["to"]] == ["10.0.0.1/32", "172.18.0.2/32"]
    dns = egress[1]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert egress[2:] == values["networkPolicy"]["egress"]["extra"]


def test_service_monitor_scrapes_metrics() -> None:
    docs = render(VARIANTS["all-on"])
    sm = one(docs, "ServiceMonitor")
    assert sm["spec"]["endpoints"][0]["port"] == "http"
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    assert sm["spec"]["selector"]["matchLabels"].items() <= one(docs, "Service")["metadata"]["labels"].items()
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_prometheus_rule_alerts() -> None:
    rule = one(render(VARIANTS["all-on"]), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {
        "RemediatorDown",
        "RemediatorCircuitBreakerOpen",
        "RemediatorActionsFailing",
        "RemediatorJournalErrors",
        "RemediatorWebhookErrors",
        "RemediatorNoAlertsReceived",
    } <= set(alerts)
    # Every expression is scoped to this release's metrics.
    for name, r in alerts.items():
        assert 'job="remediator"' in r["expr"] and f'namespace="{NAMESPACE}"' in r["expr"], name
        assert r["labels"]["severity"] in ("critical", "warning", "info"), name
        assert r["annotations"]["summary"], name
    assert "> 43200" in alerts["RemediatorNoAlertsReceived"]["expr"]
    assert "> 5" in alerts["RemediatorActionsFailing"]["expr"]
    assert "> 0.1" in alerts["RemediatorWebhookErrors"]["expr"]
    off = one(render({"prometheusRule": {"enabled": True, "noAlertsForSeconds": 0}}), "PrometheusRule")
    assert "RemediatorNoAlertsReceived" not in {r["alert"] for g in off["spec"]["groups"] for r in g["rules"]}


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    rule = one(render(VARIANTS["all-on"]), "PrometheusRule")
    rules_file = tmp_path / "remediator-self.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    check = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # And the main alerts behave: a promtool unit test on the rendered rules.
    test_file = tmp_path / "remediator-self_test.yaml"
    test_file.write_text(SELF_ALERTS_TEST.replace("RULES_FILE", rules_file.name))
    run = subprocess.run(
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_grafana_dashboard_configmap() -> None:
    docs = render(VARIANTS["all-on"])
    cm = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard"))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "SRE"
    shipped = json.loads((CHART_DIR / "dashboards" / "remediator.json").read_text())
    assert json.loads(cm["data"]["remediator.json"]) == shipped


def test_notes_carry_the_alertmanager_receiver() -> None:
    notes = render_notes()
    assert "url: http://remediator.remediator.svc:8080/webhook/alertmanager" in notes
    assert "max_alerts: 100" in notes
    assert "send_resolved: true" in notes
    assert "type: Bearer" in notes
    assert "credentials_file:" in notes
    assert "webhook-token" in notes
    # The snippet is valid YAML of Alertmanager's shape.
    snippet = notes.split("configuration\n", 1)[1].split("\n\n", 2)[1]
    parsed = yaml.safe_load(snippet)
    receiver = parsed["receivers"][0]["webhook_configs"][0]
    assert receiver["max_alerts"] == 100
    assert receiver["http_config"]["authorization"]["type"] == "Bearer"


def test_notes_say_the_shipped_job_rules_need_run_job() -> None:
    assert "actions.runJob=true" in render_notes()
    assert "actions.runJob=true" not in render_notes({"actions": {"runJob": True}})
    assert "actions.runJob=true" not in render_notes({"rules": {"builtin": False}})


# ------------------------------------------------------------------------- image <-> chart


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines: list[tuple[str, str]] = []
    text = (REPO / "Dockerfile").read_text()
    text = re.sub(r"<<EOF\n.*?\nEOF\n", "<<EOF\n", text, flags=re.S)  # heredoc bodies
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += stripped[:-1] + " " if stripped.endswith("\\") else stripped
        if not stripped.endswith("\\"):
            instruction, _, args = current.partition(" ")
            lines.append((instruction.upper(), args.strip()))
            current = ""
    return lines


def test_image_matches_the_chart() -> None:
    instructions = _dockerfile()
    froms = [args for ins, args in instructions if ins == "FROM"]
    assert len(froms) >= 2, "multi-stage build"
    assert froms[-1] == "${PYTHON_IMAGE}"
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in instructions
    final = instructions[max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM") :]
    args = dict(reversed(final))  # first occurrence wins
    docs = render()
    container = _container(docs)
    # The user the chart enforces is the image's user.
    assert args["USER"].split(":")[0] == str(container["securityContext"]["runAsUser"]) == "10001"
    # The journal volume is where the chart mounts its PVC.
    assert json.loads(args["VOLUME"]) == ["/var/lib/remediator"]
    assert args["EXPOSE"] == str(container["ports"][0]["containerPort"])
    assert json.loads(args["ENTRYPOINT"]) == ["remediator"]
    assert json.loads(args["CMD"]) == ["serve", "--config", "/etc/remediator/remediator.yaml"]
    assert "urllib.request" in args["HEALTHCHECK"] and "/healthz" in args["HEALTHCHECK"]
    assert "curl" not in args["HEALTHCHECK"]
    env = " ".join(a for ins, a in final if ins == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    copies = [a for ins, a in final if ins == "COPY"]
    assert any(c.startswith("rules/") for c in copies) and any(c.startswith("config/") for c in copies)
    # The chart's built-in rules directory is where the image puts rules/.
    assert "/app/rules" in _daemon_config(docs)["rules"]
    assert any(c == "rules/ /app/rules/" for c in copies)


# ------------------------------------------------------------------------- several replicas


def test_replicas_beyond_one_need_the_postgresql_journal() -> None:
    with helm.Chart.load(str(CHART_DIR)) as chart:
        chart.validate_schema(VARIANTS["three-replicas-postgres"])
        chart.validate_schema({"replicaCount": 1})
        for bad in (
            {"replicaCount": 2},  # two SQLite writers would each act on the same alert
            {"replicaCount": 3, "postgresql": {"url": ""}},
            {"replicaCount": 0},
            {"postgresql": {"url": "postgresql://remediator:hunter2@db/remediator"}},  # password in the URL
            {"postgresql": {"url": "mysql://db/remediator"}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(bad)


def test_three_replicas_on_postgresql() -> None:
    docs = render(VARIANTS["three-replicas-postgres"])
    deploy = _deployment(docs)
    spec = deploy["spec"]
    assert spec["replicas"] == 3
    # A new pod is ready before an old one goes: webhooks always have a replica to answer them.
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == spec["selector"]
    term = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]
    assert by_kind(docs, "PersistentVolumeClaim") == [], "the journal is the database's, not a volume's"
    container = _container(docs)
    env = {e["name"]: e for e in container["env"]}
    assert env["REMEDIATOR_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "remediator-db",
        "key": "password",
    }
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # a journal write (api/health.py)
    journal = _daemon_config(docs)["journal"]
    assert journal["url"] == "postgresql://remediator@postgres.db.svc:5432/remediator?sslmode=require"
    assert journal["password"] == {"env": "REMEDIATOR_DB_PASSWORD"}
    required = render({**VARIANTS["three-replicas-postgres"], "spreadAcrossNodes": "required"})
    anti = _deployment(required)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert list(anti) == ["requiredDuringSchedulingIgnoredDuringExecution"]
