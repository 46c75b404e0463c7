"""Shared helpers for the shipping tests: repo paths, external tools, rendered Helm manifests."""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "remediator"
ALL_ON_VALUES = CHART_DIR / "ci" / "all-on-values.yaml"
PROMETHEUS_DIR = REPO / "config" / "prometheus"
RELEASE = "remediator"
NAMESPACE = "remediator"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_tool(name: str, package: str) -> str:
    """Path of an external tool. Missing: skip locally, fail in CI (CI installs `package`)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found on PATH (Debian package {package})"
    if in_ci():
        pytest.fail(f"{message}: CI must install it")
    pytest.skip(message)


@functools.cache
def _render_cached(values_json: str) -> tuple[tuple[dict[str, Any], ...], str]:
    helm = pytest.importorskip("helm_python")
    values = json.loads(values_json)
    with helm.Chart.load(str(CHART_DIR)) as chart:
        rendered = chart.render(values or None, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    notes = ""
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return tuple(docs), notes


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The chart's manifests for `values` (overrides on values.yaml), rendered once per value set."""
    docs, _ = _render_cached(json.dumps(values or {}, sort_keys=True))
    return [json.loads(json.dumps(d)) for d in docs]  # callers may mutate their copy


def render_notes(values: dict[str, Any] | None = None) -> str:
    _, notes = _render_cached(json.dumps(values or {}, sort_keys=True))
    return notes


def all_on_values() -> dict[str, Any]:
    data = yaml.safe_load(ALL_ON_VALUES.read_text())
    assert isinstance(data, dict)
    return data


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]
