"""What the real API server refuses, and with which code.

Two layers, as in kube-apiserver: decoding (400 BadRequest, e.g. a naive datetime
or an int where a string belongs, which the Python client sends without complaint)
and validation (422 Invalid, with `field: detail` causes). The rules are the subset
that remediation writes can trip over: names, label syntax, replicas, selectors,
containers, immutable fields and the Event API's required fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from remediator.testing._errors import Cause, bad_request
from remediator.testing._selectors import selector_matches

TIME_FIELDS = frozenset(
    {
        "creationTimestamp",
        "deletionTimestamp",
        "firstTimestamp",
        "lastTimestamp",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "lastTransitionTime",
        "lastUpdateTime",
        "lastProbeTime",
        "lastHeartbeatTime",
        "startTime",
        "startedAt",
        "finishedAt",
    }
)
"""`metav1.Time` fields: RFC 3339 with a zone; fractional seconds optional."""

MICRO_FIELDS = frozenset({"eventTime", "lastObservedTime", "acquireTime", "renewTime"})
"""`metav1.MicroTime` fields: exactly six fractional digits and a zone ("...05.000000Z07:00")."""

_FREE_FORM = frozenset({"labels", "annotations", "data", "binaryData", "stringData", "nodeSelector"})

_TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)", re.DOTALL)
_ZONE_RE = re.compile(r"Z|[+-]\d{2}:\d{2}")

_DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(_DNS_LABEL)
_DNS_SUBDOMAIN = _DNS_LABEL + r"(\." + _DNS_LABEL + ")*"
_DNS_SUBDOMAIN_RE = re.compile(_DNS_SUBDOMAIN)
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_RE = re.compile(_QUALIFIED)

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    f"validation is '{_DNS_SUBDOMAIN}')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    f"validation is '{_DNS_LABEL}')"
)
_QUALIFIED_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    f"an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
    f"is '{_QUALIFIED}')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
    f"regex used for validation is '(({_QUALIFIED})?')"
)

# --- decoding (400) ------------------------------------------------------------------------------


def _time_problem(value: Any, micro: bool) -> str | None:
    layout = "2006-01-02T15:04:05.000000Z07:00" if micro else "2006-01-02T15:04:05Z07:00"
    if not isinstance(value, str):
        return f"json: cannot unmarshal {type(value).__name__} into Go value of type string"
    prefix = f'parsing time "{value}" as "{layout}": cannot parse'
    m = _TIME_RE.fullmatch(value)
    if m is None:
        return f'{prefix} "{value}" as "2006"'
    frac, zone = m.group(2) or "", m.group(3)
    if micro and len(frac) < 7:
        return f'{prefix} "{value[len(m.group(1)) :]}" as ".000000"'
    if micro and len(frac) > 7:
        return f'{prefix} "{frac[7:]}{zone}" as "Z07:00"'
    if not _ZONE_RE.fullmatch(zone):
        return f'{prefix} "{zone}" as "Z07:00"'
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        return f'parsing time "{value}": {exc}'
    return None


def _decode_problems(value: Any, path: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if item is None:
                continue
            if key in TIME_FIELDS or key in MICRO_FIELDS:
                problem = _time_problem(item, key in MICRO_FIELDS)
                if problem:
                    yield problem
            elif key in _FREE_FORM and isinstance(item, dict):
                for k, v in item.items():
                    if not isinstance(v, str) and v is not None:
                        yield (
                            f"json: cannot unmarshal {_json_type(v)} into Go struct field "
                            f"{where}.{k} of type string"
                        )
            elif key == "replicas" and (isinstance(item, bool) or not isinstance(item, int)):
                if not (isinstance(item, float) and item.is_integer()):
                    got = _json_type(item)
                    yield f"json: cannot unmarshal {got} into Go struct field {where} of type int32"
            elif key == "env" and isinstance(item, list):
                for i, var in enumerate(item):
                    if isinstance(var, dict) and "value" in var and not isinstance(var["value"], str | None):
                        yield (
                            f"json: cannot unmarshal {_json_type(var['value'])} into Go struct field "
                            f"EnvVar.{where}[{i}].value of type string"
                        )
            else:
                yield from _decode_problems(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _decode_problems(item, f"{path}[{i}]")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def check_decodable(obj: Mapping[str, Any], *, kind: str, version: str) -> None:
    """Raise 400 as `transformDecodeError` does for values Go's decoder rejects."""
    for problem in _decode_problems(obj):
        raise bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: {problem}')


# --- names and labels ----------------------------------------------------------------------------


def subdomain_problems(name: str) -> list[str]:
    out = []
    if len(name) > 253:
        out.append("must be no more than 253 characters")
    if not _DNS_SUBDOMAIN_RE.fullmatch(name):
        out.append(_SUBDOMAIN_MSG)
    return out


def label_problems(name: str) -> list[str]:
    out = []
    if len(name) > 63:
        out.append("must be no more than 63 characters")
    if not _DNS_LABEL_RE.fullmatch(name):
        out.append(_LABEL_MSG)
    return out


def qualified_name_problems(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    out = []
    if "/" in prefix:
        return ["a qualified name must consist of a name part and an optional DNS subdomain prefix"]
    if key.endswith("/") or (prefix == "" and "/" in key):
        out.append("prefix part must be non-empty" if prefix == "" else "name part must be non-empty")
    if prefix:
        out.extend(f"prefix part {p}" for p in subdomain_problems(prefix))
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_RE.fullmatch(name):
        out.append(_QUALIFIED_MSG)
    return out


def _metadata_causes(meta: Mapping[str, Any], *, name_is_label: bool, path: str = "metadata") -> list[Cause]:
    causes: list[Cause] = []
    name = meta.get("name")
    if name is not None:
        for problem in label_problems(name) if name_is_label else subdomain_problems(name):
            causes.append(Cause.invalid(f"{path}.name", name, problem))
    for key, value in (meta.get("labels") or {}).items():
        for problem in qualified_name_problems(key):
            causes.append(Cause.invalid(f"{path}.labels", key, problem))
        if len(value) > 63:
            causes.append(Cause.invalid(f"{path}.labels", value, "must be no more than 63 characters"))
        elif value and not _QUALIFIED_RE.fullmatch(value):
            causes.append(Cause.invalid(f"{path}.labels", value, _LABEL_VALUE_MSG))
    for key in meta.get("annotations") or {}:
        for problem in qualified_name_problems(key):
            causes.append(Cause.invalid(f"{path}.annotations", key, problem))
    return causes


# --- objects (422) -------------------------------------------------------------------------------


def _go_map(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def _pod_spec_causes(spec: Mapping[str, Any], path: str) -> list[Cause]:
    causes: list[Cause] = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append(Cause.required(f"{path}.containers"))
    seen: set[str] = set()
    for i, c in enumerate([*containers, *(spec.get("initContainers") or [])]):
        where = (
            f"{path}.containers[{i}]"
            if i < len(containers)
            else f"{path}.initContainers[{i - len(containers)}]"
        )
        name = c.get("name") or ""
        if not name:
            causes.append(Cause.required(f"{where}.name"))
        else:
            causes.extend(Cause.invalid(f"{where}.name", name, p) for p in label_problems(name))
            if name in seen:
                causes.append(Cause.duplicate(f"{where}.name", name))
            seen.add(name)
        if not c.get("image"):
            causes.append(Cause.required(f"{where}.image"))
        for j, var in enumerate(c.get("env") or []):
            var_name = var.get("name") or ""
            if not var_name:
                causes.append(Cause.required(f"{where}.env[{j}].name"))
            elif "=" in var_name or not var_name.isprintable() or not var_name.isascii():
                causes.append(
                    Cause.invalid(
                        f"{where}.env[{j}].name",
                        var_name,
                        "a valid environment variable name must consist only of printable ASCII characters "
                        "other than '='",
                    )
                )
    return causes


def _workload_causes(kind: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if kind != "DaemonSet" and isinstance(replicas, int) and replicas < 0:
        causes.append(Cause.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(Cause.required("spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(Cause.invalid("spec.selector", "", f"empty selector is invalid for {kind.lower()}"))
    elif not selector_matches(selector, labels):
        causes.append(
            Cause(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    causes.extend(
        _metadata_causes(template.get("metadata") or {}, name_is_label=False, path="spec.template.metadata")
    )
    causes.extend(_pod_spec_causes(template.get("spec") or {}, "spec.template.spec"))
    if old is not None:
        old_spec = old.get("spec") or {}
        if old_spec.get("selector") != selector:
            rendered = json.dumps(selector, sort_keys=True, separators=(",", ":"))
            causes.append(
                Cause("spec.selector", "FieldValueInvalid", f"Invalid value: {rendered}: field is immutable")
            )
        if kind == "StatefulSet":
            for field in ("serviceName", "volumeClaimTemplates", "podManagementPolicy"):
                if old_spec.get(field) != spec.get(field):
                    causes.append(
                        Cause.forbidden(
                            "spec",
                            "updates to statefulset spec for fields other than 'replicas', 'ordinals', "
                            "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
                            "'minReadySeconds' are forbidden",
                        )
                    )
                    break
    return causes


def _pod_update_causes(obj: Mapping[str, Any], old: Mapping[str, Any]) -> list[Cause]:
    new_spec, old_spec = dict(obj.get("spec") or {}), dict(old.get("spec") or {})

    def without_images(spec: dict[str, Any]) -> dict[str, Any]:
        spec = dict(spec)
        for field in ("containers", "initContainers"):
            spec[field] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get(field) or []]
        spec.pop("activeDeadlineSeconds", None)
        spec.pop("tolerations", None)
        return spec

    if without_images(new_spec) != without_images(old_spec):
        return [
            Cause.forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                "(allow it to be set to 1 if it was previously negative)",
            )
        ]
    return []


def event_causes(event: Mapping[str, Any], *, strict: bool) -> list[Cause]:
    """ValidateEventCreate on a core-shaped Event; `strict` when it came through events.k8s.io/v1."""
    causes: list[Cause] = []
    meta = event.get("metadata") or {}
    namespace = meta.get("namespace", "")
    involved = event.get("involvedObject") or {}
    involved_ns = involved.get("namespace", "")
    controller_field = "reportingController" if strict else "reportingComponent"
    controller = event.get("reportingComponent", "")
    mismatch = Cause.invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and involved_ns != namespace
        ):
            causes.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            causes.append(mismatch)
        if not controller:
            causes.append(Cause.required(controller_field))
        else:
            causes.extend(
                Cause.invalid(controller_field, controller, p) for p in qualified_name_problems(controller)
            )
        for field, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
            value = event.get(field) or ""
            if not value:
                causes.append(Cause.required(field))
            elif len(value) > limit:
                causes.append(Cause.invalid(field, "", f"can have at most {limit} characters"))
        if len(event.get("message") or "") > 1024:
            causes.append(Cause.invalid("message", "", "can have at most 1024 characters"))
    if strict:
        causes.extend(_metadata_causes(meta, name_is_label=False))
        series = event.get("series")
        if series is not None:
            if (series.get("count") or 0) < 2:
                causes.append(Cause.invalid("series.count", "", "should be at least 2"))
            if not series.get("lastObservedTime"):
                causes.append(Cause.required("series.lastObservedTime"))
        if not event.get("eventTime"):
            causes.append(Cause.required("eventTime"))
        if event.get("type") not in ("Normal", "Warning"):
            causes.append(Cause.invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
        for field in ("firstTimestamp", "lastTimestamp", "count"):
            if event.get(field):
                causes.append(Cause.invalid(field, "", "needs to be unset"))
        source = event.get("source") or {}
        if source.get("component") or source.get("host"):
            causes.append(Cause.invalid("source", "", "needs to be unset"))
    return causes


def _immutable(path: str, value: Any) -> Cause:
    rendered = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return Cause(path, "FieldValueInvalid", f"Invalid value: {rendered}: field is immutable")


def _job_causes(job: Mapping[str, Any], old: Mapping[str, Any] | None) -> list[Cause]:
    spec = job.get("spec") or {}
    template = spec.get("template") or {}
    causes: list[Cause] = []
    for field in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds"):
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            causes.append(Cause.invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never"):
        causes.append(
            Cause(
                "spec.template.spec.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{policy or ""}": supported values: "OnFailure", "Never"',
            )
        )
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(Cause.required("spec.selector"))
    elif not selector_matches(selector, labels):
        causes.append(
            Cause(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    causes.extend(_pod_spec_causes(template.get("spec") or {}, "spec.template.spec"))
    if old is not None:
        old_spec = old.get("spec") or {}
        for field in ("selector", "template", "completions", "completionMode"):
            if old_spec.get(field) != spec.get(field):
                causes.append(_immutable(f"spec.{field}", spec.get(field)))
    return causes


def _int_or_percent_causes(path: str, value: Any) -> list[Cause]:
    if isinstance(value, str):
        if not value.endswith("%") or not value[:-1].isdigit():
            return [
                Cause.invalid(
                    path,
                    value,
                    "a valid percent string must be a numeric string followed by an ending '%' "
                    "(e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                )
            ]
        if int(value[:-1]) > 100:
            return [Cause.invalid(path, value, "must not be greater than 100%")]
    elif isinstance(value, int) and value < 0:
        return [Cause.invalid(path, value, "must be greater than or equal to 0")]
    return []


def _pdb_causes(pdb: Mapping[str, Any]) -> list[Cause]:
    spec = pdb.get("spec") or {}
    causes: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        causes.append(
            Cause(
                "spec",
                "FieldValueInvalid",
                'Invalid value: "{...}": minAvailable and maxUnavailable cannot be both set',
            )
        )
    for field in ("minAvailable", "maxUnavailable"):
        if spec.get(field) is not None:
            causes.extend(_int_or_percent_causes(f"spec.{field}", spec[field]))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("IfHealthyBudget", "AlwaysAllow"):
        causes.append(
            Cause(
                "spec.unhealthyPodEvictionPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{policy}": supported values: "AlwaysAllow", "IfHealthyBudget"',
            )
        )
    return causes


def validate(
    kind: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None, *, strict_event: bool = False
) -> list[Cause]:
    """All 422 causes for storing `obj` (created when `old` is None, else updated from `old`)."""
    meta = obj.get("metadata") or {}
    if kind == "Event":
        return _metadata_causes(meta, name_is_label=False) + (
            event_causes(obj, strict=strict_event) if old is None else []
        )
    causes = _metadata_causes(meta, name_is_label=kind == "Namespace")
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        causes.extend(_workload_causes(kind, obj, old))
    elif kind == "Job":
        causes.extend(_job_causes(obj, old))
    elif kind == "PodDisruptionBudget":
        causes.extend(_pdb_causes(obj))
    elif kind == "Pod":
        if old is None:
            causes.extend(_pod_spec_causes(obj.get("spec") or {}, "spec"))
        else:
            causes.extend(_pod_update_causes(obj, old))
    return causes
