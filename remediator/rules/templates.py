"""Templated strings in rules: `"{{ labels.namespace }}"`, `"{{ labels.service }}-worker"`.

Plain lookups only, never code: the only thing allowed inside `{{ }}` is `labels.NAME` or
`annotations.NAME`. An alert is input from the network; a template language that can call
functions would let a label value reach further than a string substitution. Anything else
between braces is a load-time error, so a Jinja habit (`{{ labels.x | lower }}`) fails at
`remediator check`, not at 3 a.m.

Rendering never raises: a missing (or empty) field gives a `RenderError` with the reason, and
the engine records the decision as skipped (`invalid_target`). Rendered Kubernetes names are
validated here too (`render_target`), because a label value is whatever Prometheus saw.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from remediator.model import Alert, Target, WorkloadKind

FieldSource = Literal["labels", "annotations"]

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_REF = re.compile(r"\s*(labels|annotations)\.([A-Za-z_][A-Za-z0-9_]*)\s*")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_ENV_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SELECTOR_EQ = re.compile(r"\s*([^\s=!,()]+)\s*(==|=|!=)\s*([^\s=!,()]*)\s*")
_SELECTOR_SET = re.compile(r"\s*([^\s=!,()]+)\s+(in|notin)\s*\(([^()]*)\)\s*")
_SELECTOR_EXISTS = re.compile(r"\s*(!?)\s*([^\s=!,()]+)\s*")


def is_dns1123_label(s: str) -> bool:
    """A namespace or container name: at most 63 of `[a-z0-9-]`, alphanumeric at both ends."""
    return len(s) <= 63 and _DNS1123_LABEL.fullmatch(s) is not None


def is_dns1123_subdomain(s: str) -> bool:
    """An object name (Deployment, Pod...): at most 253 characters, dot-separated DNS labels."""
    return len(s) <= 253 and _DNS1123_SUBDOMAIN.fullmatch(s) is not None


def is_env_var_name(s: str) -> bool:
    """A C identifier. Kubernetes accepts more, but shells and most runtimes only read these."""
    return _ENV_VAR_NAME.fullmatch(s) is not None


def is_label_key(s: str) -> bool:
    """`name` or `prefix/name`, as Kubernetes label keys."""
    prefix, slash, name = s.rpartition("/")
    if slash and not (prefix and is_dns1123_subdomain(prefix)):
        return False
    return len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None


def is_label_value(s: str) -> bool:
    return len(s) <= 63 and _LABEL_VALUE.fullmatch(s) is not None


def label_selector_problem(s: str) -> str | None:
    """Why `s` is not a usable Kubernetes label selector, or None when it is.

    Beyond syntax, a selector must pin at least one label (`key=value` or `key in (...)`):
    a selector made only of `!=`/`notin`/existence tests can match most of a namespace, and
    a remediation that deletes pods must not be that broad.
    """
    if not s.strip():
        return "selector is empty"
    positive = False
    for part in _split_selector(s):
        if m := _SELECTOR_EQ.fullmatch(part):
            key, op, value = m.groups()
            if not is_label_key(key):
                return f"{key!r} is not a valid label key"
            if not is_label_value(value):
                return f"{value!r} is not a valid label value"
            positive = positive or (op != "!=" and value != "")
        elif m := _SELECTOR_SET.fullmatch(part):
            key, op, values = m.groups()
            if not is_label_key(key):
                return f"{key!r} is not a valid label key"
            items = [v.strip() for v in values.split(",")]
            bad = [v for v in items if not is_label_value(v)]
            if bad:
                return f"{bad[0]!r} is not a valid label value"
            positive = positive or (op == "in" and all(items))
        elif m := _SELECTOR_EXISTS.fullmatch(part):
            if not is_label_key(m.group(2)):
                return f"{m.group(2)!r} is not a valid label key"
        else:
            return f"{part.strip()!r} is not a label selector requirement"
    if not positive:
        return "selector must pin at least one label with key=value or key in (...)"
    return None


def _split_selector(s: str) -> list[str]:
    """Split on commas that are not inside `in (...)` lists."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(s):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return parts


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
