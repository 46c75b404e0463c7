"""Templated strings in rules: `"{{ labels.namespace }}"`, `"{{ labels.service }}-worker"`.

Plain lookups only, never code: the only thing allowed inside `{{ }}` is `labels.NAME` or
`annotations.NAME`. An alert is input from the network; a template language that can call
functions would let a label value reach further than a string substitution. Anything else
between braces is a load-time error, so a Jinja habit (`{{ labels.x | lower }}`) fails at
`remediator check`, not at 3 a.m.

Rendering never raises: a missing (or empty) field gives a `RenderError` with the reason, and
the engine records the decision as skipped (`invalid_target`). Rendered Kubernetes names are
validated here too (`render_target`, with the rules of `remediator.kubenames`), because a label
value is whatever Prometheus saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from remediator.kubenames import is_dns1123_label, is_dns1123_subdomain
from remediator.model import Alert, Target, WorkloadKind

FieldSource = Literal["labels", "annotations"]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_REF = re.compile(r"\s*(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)\s*")


@dataclass(frozen=True, slots=True)
class FieldRef:
    """One `{{ labels.NAME }}` / `{{ annotations.NAME }}` placeholder."""

    source: FieldSource
    key: str

    def __str__(self) -> str:
        return f"{self.source}.{self.key}"

    def lookup(self, alert: Alert) -> str | None:
        """The field's value; an empty value counts as missing, as in Alertmanager matchers."""
        fields = alert.labels if self.source == "labels" else alert.annotations
        return fields.get(self.key) or None


@dataclass(frozen=True, slots=True)
class RenderError:
    """Why a template could not be rendered for this alert (a reason, never an exception)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and field references, in order. Build with `parse`."""

    source: str
    parts: tuple[str | FieldRef, ...]

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse `text`; anything but a plain lookup between `{{ }}` raises ValueError."""
        parts: list[str | FieldRef] = []
        pos = 0
        for m in _PLACEHOLDER.finditer(text):
            parts.append(text[pos : m.start()])
            ref = _REF.fullmatch(m.group(1))
            if ref is None:
                raise ValueError(
                    f"template {text!r}: {{{{{m.group(1)}}}}} is not a plain lookup; "
                    "only {{ labels.NAME }} and {{ annotations.NAME }} are allowed"
                )
            source: FieldSource = "labels" if ref.group(1) == "labels" else "annotations"
            parts.append(FieldRef(source, ref.group(2)))
            pos = m.end()
        parts.append(text[pos:])
        literal = "".join(p for p in parts if isinstance(p, str))
        if "{{" in literal:
            raise ValueError(f"template {text!r}: '{{{{' is not closed by '}}}}'")
        return cls(source=text, parts=tuple(p for p in parts if p != ""))

    @property
    def refs(self) -> tuple[FieldRef, ...]:
        return tuple(p for p in self.parts if isinstance(p, FieldRef))

    @property
    def is_literal(self) -> bool:
        return not self.refs

    def literal_text(self) -> str:
        """The text outside placeholders (for load-time checks of characters a name can never hold)."""
        return "".join(p for p in self.parts if isinstance(p, str))

    def render(self, alert: Alert, *, escape: Callable[[str], str] | None = None) -> str | RenderError:
        """Substitute the alert's fields. `escape` is applied to substituted values only
        (e.g. PromQL string escaping for a confirm query)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.lookup(alert)
            if value is None:
                return RenderError(f"{part.source[:-1]} {part.key!r} missing")
            out.append(escape(value) if escape else value)
        return "".join(out)

    def __str__(self) -> str:
        return self.source


def check_name_template(template: Template, *, what: Literal["namespace", "name"]) -> None:
    """Load-time check of a target template: a literal must be valid as is; a template's literal
    text must only hold characters the rendered name can contain. Raises ValueError."""
    valid = is_dns1123_label if what == "namespace" else is_dns1123_subdomain
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789-" + ("" if what == "namespace" else ".")
    if template.is_literal:
        if not valid(template.source):
            raise ValueError(f"{template.source!r} is not a valid Kubernetes {what}")
        return
    bad = sorted({c for c in template.literal_text() if c not in allowed})
    if bad:
        raise ValueError(
            f"template {template.source!r}: {''.join(bad)!r} can never be part of a Kubernetes {what}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetTemplate:
    """A rule's `target:`: the workload kind, and templates for its namespace and name."""

    kind: WorkloadKind
    namespace: Template
    name: Template

    def render(self, alert: Alert) -> Target | str:
        return render_target(self, alert)


def render_target(template: TargetTemplate, alert: Alert) -> Target | str:
    """The concrete Target for this alert, or the reason there is none (missing label, bad name)."""
    namespace = template.namespace.render(alert)
    if isinstance(namespace, RenderError):
        return f"target namespace: {namespace.reason}"
    name = template.name.render(alert)
    if isinstance(name, RenderError):
        return f"target name: {name.reason}"
    if not is_dns1123_label(namespace):
        return f"rendered namespace {namespace!r} is not a valid Kubernetes namespace"
    if not is_dns1123_subdomain(name):
        return f"rendered name {name!r} is not a valid Kubernetes name"
    return Target(kind=template.kind, namespace=namespace, name=name)
