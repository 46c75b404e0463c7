"""Load a rule-test file: parse, validate against the format, check it against the rules it loads.

`remediator test` reads every test file before running anything, so a typo in a test is a
`file:line: message` (exit 2), never a confusing failure. Beyond the format (`schema.py`):
the rule files exist and load, every rule an expectation names exists, expected objects are
part of the test's cluster, config overrides are valid `Settings` sections the runner does not
own, test names are unique. Everything found is reported at once, rule-file errors first.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from remediator.config import Settings
from remediator.errors import ConfigError, RuleLoadError
from remediator.kubenames import is_dns1123_label
from remediator.rules import RuleSet, load_rules
from remediator.ruletest._positions import Loc, RuleTestError, describe, dotted, kind_of, line_of, parse_yaml
from remediator.ruletest.schema import (
    WORKLOAD_KINDS,
    AcknowledgeSpec,
    AlertSpec,
    ApprovalSpec,
    ClusterSpec,
    DaemonSetSpec,
    DeploymentSpec,
    Expectations,
    FileSpec,
    ServiceAnswer,
    StatefulSetSpec,
    default_image,
)

RUNNER_OWNED_SECTIONS = frozenset(
    {
        "http",
        "auth",
        "journal",
        "kubernetes",
        "rules",
        "alertmanager",
        "prometheus",
        "log",
    }
)
"""Settings sections a test may not override: the runner points them at its temp journal and
fake cluster, and leaves Prometheus and Alertmanager unset so a rule test can never touch a real
cluster. `pagerduty` and `notify` may name services and channels (as the production config does,
for ladders to page and notify), but only their names count: the runner sends every page and
message to its own stand-ins, never to a URL or key the test gives."""


class RuleTestFileError(ConfigError):
    """Every problem found in one test file (and in the rule files it loads)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# --- loaded, checked tests ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTestCase:
    """One test, ready to run: its cluster and config already merged with the file's."""

    name: str
    path: Path
    line: int
    rule_paths: tuple[Path, ...]
    settings: Settings
    """The file's and the test's overrides on the defaults; the runner adds journal and cluster."""
    cluster: ClusterSpec
    alerts: tuple[AlertSpec, ...]
    expect: Expectations
    approvals: tuple[ApprovalSpec, ...] = ()
    acknowledgements: tuple[AcknowledgeSpec, ...] = ()
    until: float | None = None
    """Run the clock to this time (seconds after the start); None: until the executions finish."""
    secrets: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, Mapping[str, Sequence[ServiceAnswer]]] = field(default_factory=dict)
    """Stub HTTP services, the file's with the test's routes on top."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleTestFile:
    path: Path
    rules: RuleSet
    cases: tuple[RuleTestCase, ...]


def load_test_file(path: Path) -> RuleTestFile:
    """Parse and check one test file. Raises RuleTestFileError with every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RuleTestFileError([RuleTestError(path, 1, f"cannot read test file: {e.strerror or e}")]) from e
    except UnicodeDecodeError as e:
        raise RuleTestFileError([RuleTestError(path, 1, f"test file is not UTF-8 text: {e.reason}")]) from e
    errors: list[ConfigError] = []
    parsed = parse_yaml(path, text, errors)
    if parsed is None:
        raise RuleTestFileError(errors)
    checker = _Checker(path, parsed[0], errors)
    loaded = checker.load(parsed[1])
    if errors or loaded is None:
        # Rule-file errors first (the test file's `rule_files` error points at them), then by line.
        errors.sort(key=lambda e: (isinstance(e, RuleTestError), getattr(e, "line", 0)))
        raise RuleTestFileError(errors)
    return loaded


class _Checker:
    """Validates one parsed file, collecting errors with the line of the node they are about."""

    def __init__(self, path: Path, root: yaml.Node, errors: list[ConfigError]) -> None:
        self.path = path
        self.root = root
        self.errors = errors

    def err(self, loc: Loc, msg: str) -> None:
        self.errors.append(RuleTestError(self.path, line_of(self.root, loc), msg))

    def load(self, data: Any) -> RuleTestFile | None:
        if not isinstance(data, dict):
            self.err(
                (), f"a rule test file is a mapping with 'rule_files:' and 'tests:', not {kind_of(data)}"
            )
            return None
        if "rules" in data and "rule_files" not in data:
            self.err(
                ("rules",),
                "this is a rule file, not a rule test file (`remediator check` validates rule files; "
                "a test file names them under 'rule_files:')",
            )
            return None
        try:
            spec = FileSpec.model_validate(data)
        except ValidationError as e:
            for detail in e.errors():
                self.err(*describe(detail, FileSpec))
            return None
        rules = self._load_rules(spec)
        file_config_ok = self._check_config(spec.config, ("config",))
        self._check_cluster(spec.cluster, ("cluster",))
        cases: list[RuleTestCase] = []
        first: dict[str, int] = {}
        for i, case in enumerate(spec.tests):
            at: Loc = ("tests", i)
            if case.name in first:
                self.err(
                    (*at, "name"),
                    f"tests[{i}]: duplicate test name {case.name!r} (first: tests[{first[case.name]}])",
                )
            first.setdefault(case.name, i)
            self._check_cluster(case.cluster, (*at, "cluster"))
            cluster = spec.cluster.merged(case.cluster)
            self._check_expectations(case.expect, (*at, "expect"), cluster, rules)
            script: tuple[tuple[str, Sequence[ApprovalSpec | AcknowledgeSpec]], ...] = (
                ("approve", case.approve),
                ("acknowledge", case.acknowledge),
            )
            for key, steps in script:
                for j, step in enumerate(steps):
                    if rules is not None and rules.get(step.rule) is None:
                        where = (*at, key, j, "rule")
                        self.err(where, f"{dotted(where)}: unknown rule {step.rule!r}")
            settings = None
            if self._check_config(case.config, (*at, "config")) and file_config_ok:
                try:
                    settings = Settings.model_validate(_deep_merge(spec.config, case.config))
                except ValidationError as e:
                    self.err((*at, "config"), f"tests[{i}].config: {e.errors()[0]['msg']}")
            if settings is not None:
                cases.append(
                    RuleTestCase(
                        name=case.name,
                        path=self.path,
                        line=line_of(self.root, at),
                        rule_paths=tuple(self.path.parent / p for p in spec.rule_files),
                        settings=settings,
                        cluster=cluster,
                        alerts=tuple(case.alerts),
                        expect=case.expect,
                        approvals=tuple(case.approve),
                        acknowledgements=tuple(case.acknowledge),
                        until=case.until,
                        secrets={**spec.secrets, **case.secrets},
                        services={
                            host: {**spec.services.get(host, {}), **case.services.get(host, {})}
                            for host in {*spec.services, *case.services}
                        },
                    )
                )
        if rules is None:
            return None
        return RuleTestFile(path=self.path, rules=rules, cases=tuple(cases))

    def _load_rules(self, spec: FileSpec) -> RuleSet | None:
        paths = [self.path.parent / p for p in spec.rule_files]
        missing = False
        for i, p in enumerate(paths):
            if not p.exists():
                self.err(("rule_files", i), f"rule_files[{i}]: no such rule file or directory: {str(p)!r}")
                missing = True
        if missing:
            return None
        try:
            return load_rules(paths)
        except RuleLoadError as e:
            self.errors.extend(e.errors)
            self.err(
                ("rule_files",), f"rule_files: {len(e.errors)} error(s) in the rule files (listed above)"
            )
            return None

    def _check_config(self, config: Mapping[str, Any], loc: Loc) -> bool:
        """Overrides are `Settings` sections (`guards: {cooldown: 5m}`); the runner owns the rest."""
        ok = True
        for key in config:
            if key in RUNNER_OWNED_SECTIONS:
                allowed = ", ".join(k for k in Settings.model_fields if k not in RUNNER_OWNED_SECTIONS)
                self.err(
                    (*loc, key), f"{dotted((*loc, key))}: set by the test runner (a test may set: {allowed})"
                )
                ok = False
        try:
            Settings.model_validate({k: v for k, v in config.items() if k not in RUNNER_OWNED_SECTIONS})
        except ValidationError as e:
            for detail in e.errors():
                self.err(*describe(detail, Settings, prefix=loc))
            ok = False
        return ok

    def _check_cluster(self, cluster: ClusterSpec, loc: Loc) -> None:
        for key, dep in cluster.deployments.items():
            if dep is None:
                continue
            at = (*loc, "deployments", key)
            image = dep.image or default_image(key)
            for i, revision in enumerate(dep.revisions):
                if revision in (*dep.revisions[i + 1 :], image):
                    self.err(
                        (*at, "revisions", i),
                        f"{dotted((*at, 'revisions', i))}: {revision!r} repeats a later revision or the "
                        "current image (every revision needs its own image)",
                    )
            if len(set(dep.containers)) != len(dep.containers):
                self.err((*at, "containers"), f"{dotted((*at, 'containers'))}: container names repeat")
            for i, name in enumerate(dep.containers):
                if not is_dns1123_label(name):
                    self.err(
                        (*at, "containers", i),
                        f"{dotted((*at, 'containers', i))}: {name!r} is not a valid container name",
                    )

    def _check_expectations(
        self, expect: Expectations, loc: Loc, cluster: ClusterSpec, rules: RuleSet | None
    ) -> None:
        for j, d in enumerate(expect.decisions or ()):
            if rules is not None and rules.get(d.rule) is None:
                names = rules.names()
                close = difflib.get_close_matches(d.rule, names, n=1, cutoff=0.6)
                hint = (
                    f"did you mean {close[0]!r}?" if close else f"rules loaded: {', '.join(names) or 'none'}"
                )
                at = (*loc, "decisions", j, "rule")
                self.err(at, f"{dotted(at)}: unknown rule {d.rule!r} ({hint})")
        if expect.cluster is None:
            return
        for section, kind in WORKLOAD_KINDS.items():
            seeded: Mapping[str, Any] = getattr(cluster, section)
            for key, want in getattr(expect.cluster, section).items():
                at = (*loc, "cluster", section, key)
                if key not in seeded:
                    self.err(
                        at,
                        f"{dotted(at)}: no {kind} {key!r} in the test's cluster (under cluster.{section})",
                    )
                    continue
                containers = _containers(seeded[key])
                if want.image is not None and want.images is not None:
                    self.err(at, f"{dotted(at)}: give 'image' (every container) or 'images', not both")
                if kind == "DaemonSet" and want.replicas is not None:
                    self.err(
                        (*at, "replicas"), f"{dotted(at)}: a DaemonSet has no replicas (one pod per node)"
                    )
                for name in [*(want.images or {}), *([want.container] if want.container else [])]:
                    if name not in containers:
                        self.err(
                            at, f"{dotted(at)}: no container {name!r} (containers: {', '.join(containers)})"
                        )
        for key in expect.cluster.pods:
            if key not in cluster.pods:
                at = (*loc, "cluster", "pods", key)
                self.err(
                    at,
                    f"{dotted(at)}: only pods listed under cluster.pods can be expected "
                    "(the fake cluster names a workload's own pods at random)",
                )


def _containers(spec: DeploymentSpec | StatefulSetSpec | DaemonSetSpec | None) -> list[str]:
    return list(spec.containers) if isinstance(spec, DeploymentSpec) else ["app"]


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """The test's config on top of the file's, section by section and key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
