"""Find the rules an alert matches, at a cost that does not grow with the number of rules.

Each rule is filed under ONE label value it requires, taken from an equality matcher with a
non-empty value (`alertname` first, since nearly every rule has one and it is the most
selective), or from a regex that is only literal alternatives (`alertname=~"A|B"`, filed under
each). A rule with no such matcher (only `!=`, `!~`, real regexes or `foo=""`) goes on a short
scan list. A lookup gathers the buckets of the alert's own `(label, value)` pairs, adds the
scan list, and checks every matcher of those candidates only: the work is proportional to the
alert's label count plus the rules that could plausibly match, not to the rule count.

`RuleSet` bundles the loaded rules with their index; the engine asks it `match(alert)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from remediator.model import Alert, RuleName
from remediator.rules.compiled import Rule

_PREFERRED_LABELS = ("alertname",)


class RuleIndex:
    """An index over rules, answering `match(alert)` in load order."""

    __slots__ = ("_buckets", "_rules", "_scan")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._buckets: dict[tuple[str, str], list[int]] = {}
        self._scan: list[int] = []
        for position, rule in enumerate(self._rules):
            key = _index_key(rule)
            if key is None:
                self._scan.append(position)
                continue
            label, values = key
            for value in values:
                self._buckets.setdefault((label, value), []).append(position)

    def __len__(self) -> int:
        return len(self._rules)

    @property
    def scan_size(self) -> int:
        """How many rules every lookup checks because they could not be indexed."""
        return len(self._scan)

    def candidates(self, alert: Alert) -> list[Rule]:
        """The rules worth checking for this alert, in load order (a superset of `match`)."""
        positions = set(self._scan)
        buckets = self._buckets
        for item in alert.labels.items():
            bucket = buckets.get(item)
            if bucket:
                positions.update(bucket)
        return [self._rules[p] for p in sorted(positions)]

    def match(self, alert: Alert) -> list[Rule]:
        """Every indexed rule whose matchers all hold for the alert, in load order."""
        return [rule for rule in self.candidates(alert) if rule.matches(alert)]


def _index_key(rule: Rule) -> tuple[str, tuple[str, ...]] | None:
    """The (label, values) to file a rule under: the preferred label first, then the fewest values."""
    best: tuple[int, int, str, tuple[str, ...]] | None = None
    for matcher in rule.matchers:
        values = matcher.index_values()
        if values is None:
            continue
        rank = (0 if matcher.name in _PREFERRED_LABELS else 1, len(values))
        if best is None or rank < best[:2]:
            best = (*rank, matcher.name, values)
    return None if best is None else (best[2], best[3])


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleWarning:
    """Something a loaded rule does that works, but maybe not as its author expects."""

    path: Path
    line: int
    msg: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: warning: {self.msg}"


class RuleSet:
    """The loaded rules (all of them, in load order) and an index of the enabled ones.

    A rule with `enabled: false` is listed (`names`, `get`, the API's rules list) but never
    matches: turning a rule off in the file is how an SRE retires it without deleting it.
    """

    __slots__ = ("_by_name", "files", "index", "rules", "warnings")

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        files: Sequence[Path] = (),
        warnings: Sequence[RuleWarning] = (),
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.files: tuple[Path, ...] = tuple(files)  # the rule files, in load order
        self.warnings: tuple[RuleWarning, ...] = tuple(warnings)
        self._by_name: dict[RuleName, Rule] = {r.name: r for r in self.rules}
        self.index = RuleIndex(r for r in self.rules if r.enabled)

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules from {len(self.files)} files)"

    def names(self) -> list[RuleName]:
        return [r.name for r in self.rules]

    def get(self, name: str) -> Rule | None:
        return self._by_name.get(RuleName(name))

    def match(self, alert: Alert) -> list[Rule]:
        """The enabled rules whose matchers hold for the alert, in load order."""
        return self.index.match(alert)
