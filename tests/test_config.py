"""Settings load strictly; secrets are references resolved from env or files; flags win."""

from __future__ import annotations

from pathlib import Path

import pytest

from remediator.cli import bind_address
from remediator.config import SecretRef, Settings, config_path, is_loopback, load_settings
from remediator.errors import ConfigError
from remediator.secrets import Secret


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
    assert SecretRef(env="X_TOKEN").resolve() == Secret("s3cret")
    monkeypatch.delenv("X_TOKEN")
    assert SecretRef(env="X_TOKEN").resolve() is None
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert SecretRef(file=f).resolve() == Secret("from-file")
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
        ("0.0.0.0:8080", None, True, ("0.0.0.0", 8080)),
        ("0.0.0.0:8080", "a-long-webhook-token", False, ("0.0.0.0", 8080)),
        ("127.0.0.1:9000", None, False, ("127.0.0.1", 9000)),
        ("127.0.0.2:9000", None, False, ("127.0.0.2", 9000)),
        ("[::1]:9000", None, False, ("::1", 9000)),
        ("localhost:9000", None, False, ("localhost", 9000)),
    ],
)
def test_listening_is_exactly_what_was_asked(
    listen: str, token: str | None, insecure: bool, expected: tuple[str, int]
) -> None:
    s = Settings.model_validate({"http": {"listen": listen, "insecure": insecure}})
    assert bind_address(s, webhook_token=Secret(token) if token else None) == expected


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "[::]:8080", "10.1.2.3:8080", ":8080"])
def test_no_token_beyond_loopback_refuses_to_start_naming_the_way_out(listen: str) -> None:
    """Asking for all interfaces must never silently give 127.0.0.1 (nor be taken for loopback)."""
    s = Settings.model_validate({"http": {"listen": listen}})
    with pytest.raises(ConfigError) as e:
        bind_address(s, webhook_token=None)
    assert "REMEDIATOR_WEBHOOK_TOKEN" in str(e.value) and "--insecure" in str(e.value)
    assert "\n" not in str(e.value)


def test_a_name_is_loopback_only_if_it_resolves_only_to_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.9.9.9")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.1")
    with pytest.raises(ConfigError, match="cannot resolve host"):
        is_loopback("127.0.0.1.no-such-host.invalid")  # a name that starts like loopback is still a name


def test_journal_url_names_postgresql_and_never_holds_the_password(tmp_path: Path) -> None:
    config = tmp_path / "remediator.yaml"
    config.write_text(
        "journal:\n  url: postgresql://remediator@db:5432/remediator?sslmode=require\n"
        "  password: {env: PGPASSWORD}\n  lease: 20s\n"
    )
    j = load_settings(config).journal
    assert (j.url, j.password, j.lease) == (
        "postgresql://remediator@db:5432/remediator?sslmode=require",
        SecretRef(env="PGPASSWORD"),
        20.0,
    )
    config.write_text("journal: {url: 'postgresql://remediator:hunter2@db/remediator'}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(config)
    assert "must not hold the password" in str(e.value) and "hunter2" not in str(e.value)
    config.write_text("journal: {url: 'mysql://db/remediator'}\n")
    with pytest.raises(ConfigError, match="must be a postgresql:// URL"):
        load_settings(config)


def test_a_shared_journal_lease_outlives_a_kubernetes_call(tmp_path: Path) -> None:
    """A replica whose lease can lapse during one API call could see its write land after another
    replica took the execution over: refused at load, naming both keys."""
    config = tmp_path / "remediator.yaml"
    config.write_text("journal: {url: 'postgresql://remediator@db/remediator', lease: 8s}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(config)
    assert "journal.lease (8s) must be longer than kubernetes.call_timeout (10s)" in str(e.value)
    config.write_text(
        "journal: {url: 'postgresql://remediator@db/remediator', lease: 8s}\nkubernetes: {call_timeout: 5s}\n"
    )
    assert load_settings(config).journal.lease == 8.0
    config.write_text("journal: {lease: 8s}\n")  # SQLite: one process, no take-over while it runs
    assert load_settings(config).journal.lease == 8.0
