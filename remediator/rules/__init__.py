"""Rules: load, validate, compile and index the YAML rule files (the pipeline's `match` stage input).

The app calls `load_rules(settings.rules)` at start-up and on reload; a bad file raises
`RuleLoadError` with every error as `path:line: msg` and the previous rule set stays in force.
The engine asks the resulting `RuleSet.match(alert)` for candidate rules, then per rule
`check_condition`, `render_target` and `render_actions`, each of which returns a reason
instead of raising, so a strange alert becomes a recorded skip, never a crash.

Modules: `matchers` (Alertmanager syntax), `thresholds` (`when:`), `templates`
(`{{ labels.x }}` lookups; Kubernetes name checks are `remediator.kubenames`), `schema` (the file format),
`compiled` (the frozen `Rule`), `index` (`RuleIndex`, `RuleSet`), `loader`, and `book` (`RuleBook`:
the rule set in force, swapped whole on reload).
"""

from remediator.rules.book import RuleBook
from remediator.rules.compiled import (
    BreakerPolicy,
    ConfirmSpec,
    FollowUp,
    MaxActions,
    RetryPolicy,
    Rule,
    RuleGuards,
    RuleStatus,
    VerifySpec,
    compile_rule,
)
from remediator.rules.index import RuleIndex, RuleSet, RuleWarning
from remediator.rules.loader import find_rule_files, load_rules, load_rules_text
from remediator.rules.matchers import Matcher, MatchOp, parse_matcher, parse_matchers
from remediator.rules.templates import (
    RenderError,
    TargetTemplate,
    Template,
    render_target,
)
from remediator.rules.thresholds import ConditionResult, Threshold, parse_threshold

__all__ = [
    "BreakerPolicy",
    "ConditionResult",
    "ConfirmSpec",
    "FollowUp",
    "MatchOp",
    "Matcher",
    "MaxActions",
    "RenderError",
    "RetryPolicy",
    "Rule",
    "RuleBook",
    "RuleGuards",
    "RuleIndex",
    "RuleSet",
    "RuleStatus",
    "RuleWarning",
    "TargetTemplate",
    "Template",
    "Threshold",
    "VerifySpec",
    "compile_rule",
    "find_rule_files",
    "load_rules",
    "load_rules_text",
    "parse_matcher",
    "parse_matchers",
    "parse_threshold",
    "render_target",
]
