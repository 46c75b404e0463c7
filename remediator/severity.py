"""One severity scale for rules, alerts, incidents and PagerDuty.

Teams write severity three ways: P0-P4, SEV0-SEV4 and Prometheus' critical/error/warning/info.
Everything maps onto P0 (worst) .. P4, so incidents sort and ladders key on one scale, and
`critical` goes to PagerDuty for P0/P1/SEV1 ("page now" in the runbooks). A rule or config that
names an unknown word is refused at load (`remediator check`); an alert's `severity` label is
input, so an unknown word there only means "unknown", never an error.
"""

from __future__ import annotations

from typing import Literal

Priority = Literal["P0", "P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P0", "P1", "P2", "P3", "P4")
PagerDutySeverity = Literal["critical", "error", "warning", "info"]

UNKNOWN_RANK = len(PRIORITIES)
"""Rank of an unknown severity: after every known one when sorting by severity."""

_WORDS: dict[str, Priority] = {
    **{p.lower(): p for p in PRIORITIES},
    "sev0": "P0",
    "sev1": "P1",
    "sev2": "P2",
    "sev3": "P3",
    "sev4": "P4",
    "critical": "P1",
    "error": "P2",
    "warning": "P3",
    "info": "P4",
}
SEVERITY_WORDS: tuple[str, ...] = (
    *PRIORITIES,
    "SEV0",
    "SEV1",
    "SEV2",
    "SEV3",
    "SEV4",
    "critical",
    "error",
    "warning",
    "info",
)
"""Every word accepted, as a message lists them."""

_PAGERDUTY: dict[Priority, PagerDutySeverity] = {
    "P0": "critical",
    "P1": "critical",
    "P2": "error",
    "P3": "warning",
    "P4": "info",
}


def priority_of(word: str | None) -> Priority | None:
    """The priority a severity word means (case and surrounding space ignored); None if unknown."""
    if not word:
        return None
    return _WORDS.get(word.strip().lower())


def check_severity(word: str) -> str:
    """`word` if it is on the scale (or empty: no severity), else ValueError listing the words."""
    if word and priority_of(word) is None:
        raise ValueError(f"unknown severity {word!r}; use one of {', '.join(SEVERITY_WORDS)}")
    return word


def rank(word: str | None) -> int:
    """0 for P0 .. 4 for P4, `UNKNOWN_RANK` for anything else: the sort key "most severe first"."""
    p = priority_of(word)
    return PRIORITIES.index(p) if p is not None else UNKNOWN_RANK


def most_severe(*words: str | None) -> Priority | None:
    """The worst priority among the words given (unknown words ignored)."""
    known = [p for w in words if (p := priority_of(w)) is not None]
    return min(known, key=PRIORITIES.index) if known else None


def pagerduty_severity(word: str | None) -> PagerDutySeverity:
    """PagerDuty's severity: critical for P0/P1 (SEV0/SEV1, critical), down to info; unknown is info."""
    p = priority_of(word)
    return _PAGERDUTY[p] if p is not None else "info"
