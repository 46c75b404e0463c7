"""Settings load strictly; secrets are references resolved from env or files; flags win."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.cli import bind_address
from remediator.config import SecretRef, Settings, config_path, load_settings
from remediator.errors import ConfigError


def test_shipped_config_is_the_defaults(repo: Path) -> None:
    assert load_settings(repo / "config" / "remediator.yaml") == Settings()


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("guards:\n  cooldwn: 5m\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: guards\.cooldwn: Extra inputs are not permitted"):
        load_settings(f)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("http:\n  listen: [\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: invalid YAML"):
        load_settings(f)


def test_durations_read_as_seconds(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("guards: {cooldown: 1h30m}\nkubernetes: {call_timeout: 500ms}\n")
    s = load_settings(f)
    assert s.guards.cooldown == 5400 and s.kubernetes.call_timeout == 0.5


def test_secret_refs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", " s3cret\n")
    assert SecretRef(env="X_TOKEN").resolve() == "s3cret"
    monkeypatch.delenv("X_TOKEN")
    assert SecretRef(env="X_TOKEN").resolve() is None
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert SecretRef(file=f).resolve() == "from-file"
    with pytest.raises(ConfigError, match="secret file"):
        SecretRef(file=tmp_path / "missing").resolve()
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef(env="A", file=f)


def test_secret_values_never_appear_in_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATOR_WEBHOOK_TOKEN", "very-secret-value")
    assert "very-secret-value" not in repr(Settings())


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REMEDIATOR_CONFIG", raising=False)
    assert config_path(None) is None
    monkeypatch.setenv("REMEDIATOR_CONFIG", "/etc/r.yaml")
    assert config_path(None) == Path("/etc/r.yaml")
    assert config_path("mine.yaml") == Path("mine.yaml")


@pytest.mark.parametrize(
    ("listen", "token", "insecure", "expected"),
    [
        ("0.0.0.0:8080", None, False, ("127.0.0.1", 8080)),
        ("0.0.0.0:8080", None, True, ("0.0.0.0", 8080)),
        ("0.0.0.0:8080", "t", False, ("0.0.0.0", 8080)),
        ("127.0.0.1:9000", None, False, ("127.0.0.1", 9000)),
    ],
)
def test_no_token_means_loopback_only(
    listen: str, token: str | None, insecure: bool, expected: tuple[str, int]
) -> None:
    s = Settings.model_validate({"http": {"listen": listen, "insecure": insecure}})
    assert bind_address(s, webhook_token=token) == expected
