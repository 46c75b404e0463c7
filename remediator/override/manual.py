"""Alerts made up by a human: a manual trigger's alert, from labels or from the target to act on."""

from __future__ import annotations

import hashlib
from datetime import datetime

from remediator.model import Alert
from remediator.override.errors import BadRequest
from remediator.rules import Rule
from remediator.rules.matchers import MatchOp
from remediator.rules.templates import FieldRef, Template


def fingerprint_of(labels: dict[str, str]) -> str:
    """Stable for a label set, as the Alertmanager receiver computes it when a sender omits one."""
    h = hashlib.sha256("\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items())).encode())
    return h.hexdigest()[:16]


def manual_alert(
    *,
    labels: dict[str, str],
    annotations: dict[str, str],
    now: datetime,
    fingerprint: str | None = None,
    starts_at: datetime | None = None,
) -> Alert:
    return Alert(
        source="manual",
        fingerprint=fingerprint or fingerprint_of(labels),
        status="firing",
        labels=labels,
        annotations=annotations,
        starts_at=starts_at or now,
    )


def alert_for_target(
    rule: Rule,
    *,
    namespace: str,
    name: str,
    kind: str | None,
    labels: dict[str, str],
    annotations: dict[str, str],
    now: datetime,
) -> Alert:
    """A made-up alert whose labels render to this target through the rule's templates.

    The rule's equality matchers give the rest of the labels (so the alert reads like the real
    one: alertname, severity). Raises BadRequest saying why when the templates cannot produce the
    target: a literal that differs, fixed text around the label that the name lacks, or two labels
    in one name with no way to tell where one ends.
    """
    if kind is not None and kind != rule.target.kind:
        raise BadRequest(f"rule {rule.name!r} acts on a {rule.target.kind}, not a {kind}")
    assigned: dict[FieldRef, str] = {}
    for what, template, value in (
        ("namespace", rule.target.namespace, namespace),
        ("name", rule.target.name, name),
    ):
        problem = _invert(template, value, assigned)
        if problem:
            raise BadRequest(f"rule {rule.name!r} cannot target {what} {value!r}: {problem}")
    lab = {m.name: m.value for m in rule.matchers if m.op is MatchOp.EQ and m.value}
    ann: dict[str, str] = {}
    for ref, value in assigned.items():
        (lab if ref.source == "labels" else ann)[ref.key] = value
    for given, into, source in ((labels, lab, "labels"), (annotations, ann, "annotations")):
        for key, value in given.items():
            needed = assigned.get(FieldRef("labels" if source == "labels" else "annotations", key))
            if needed is not None and needed != value:
                raise BadRequest(
                    f"{source}.{key}={value!r} contradicts the target (it renders from {needed!r})"
                )
            into[key] = value
    alert = manual_alert(labels=lab, annotations=ann, now=now)
    rendered = rule.render_target(alert)
    if isinstance(rendered, str):
        raise BadRequest(f"rule {rule.name!r} cannot target {namespace}/{name}: {rendered}")
    if (rendered.namespace, rendered.name) != (namespace, name):
        raise BadRequest(
            f"rule {rule.name!r} renders {rendered.namespace}/{rendered.name} from these labels, "
            f"not {namespace}/{name}"
        )
    return alert


def _invert(template: Template, value: str, assigned: dict[FieldRef, str]) -> str | None:
    """Fill `assigned` so that `template` renders `value`; the reason it cannot, or None."""
    parts: list[str | FieldRef] = [
        assigned[p] if isinstance(p, FieldRef) and p in assigned else p for p in template.parts
    ]
    open_refs = [p for p in parts if isinstance(p, FieldRef)]
    if not open_refs:
        text = "".join(p for p in parts if isinstance(p, str))
        return None if text == value else f"the rule's template {template.source!r} always gives {text!r}"
    if len(set(open_refs)) > 1:
        return (
            f"template {template.source!r} joins {', '.join(sorted({str(r) for r in open_refs}))}; "
            "send the alert's labels instead"
        )
    ref = open_refs[0]
    at = parts.index(ref)
    prefix = "".join(p for p in parts[:at] if isinstance(p, str))
    rest = parts[at + 1 :]
    # The same label twice ("{{ labels.a }}-{{ labels.a }}") is not solved here.
    rest_text = None if ref in rest else "".join(p for p in rest if isinstance(p, str))
    if not value.startswith(prefix):
        return f"template {template.source!r} starts with {prefix!r}"
    if rest_text is not None:
        if not value.endswith(rest_text) or len(value) <= len(prefix) + len(rest_text):
            return f"template {template.source!r} ends with {rest_text!r}"
        assigned[ref] = value[len(prefix) : len(value) - len(rest_text)]
        return None
    return f"template {template.source!r} uses {ref} more than once; send the alert's labels instead"
