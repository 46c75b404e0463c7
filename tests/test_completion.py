"""`remediator completion bash|zsh`: the script completes commands, options and choices in a real shell.

The completion function is called as the shell's completion system calls it (COMP_WORDS and
COMP_CWORD set, COMPREPLY read back). zsh loads it through bashcompinit, whose compgen leaves the
prefix filtering to zsh's own matcher: the test filters zsh's answer by the typed prefix as zsh does.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from remediator.cli import main
from tests.ship.conftest import require_tool

CASES = [
    (
        ["remediator", ""],
        {"serve", "check", "test", "demo", "ctl", "completion", "--version", "--help", "-h"},
    ),
    (["remediator", "c"], {"check", "ctl", "completion"}),
    (["remediator", "ctl", "pa"], {"pause"}),
    (["remediator", "ctl", "--url", "http://127.0.0.1:8080", "exec"], {"executions"}),
    (["remediator", "ctl", "dry-run", "o"], {"on", "off"}),
    (["remediator", "ctl", "executions", "-o", ""], {"table", "json", "yaml"}),
    (["remediator", "ctl", "executions", "--s"], {"--since"}),
    (["remediator", "ctl", "pause", "--reason", ""], set()),  # free text: nothing to offer
    (["remediator", "serve", "--config", "conf"], {"config.yaml"}),  # a path: files
    (["remediator", "check", "ru"], {"rules"}),
    (["remediator", "completion", ""], {"bash", "zsh", "-h", "--help"}),
]


def completion_script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def ask(shell: list[str], setup: str, words: list[str], cwd: Path) -> set[str]:
    quoted = " ".join(shlex.quote(w) for w in words)
    call = (
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _remediator; "
        "printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run([*shell, f"{setup}\n{call}"], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return {line for line in out.stdout.splitlines() if line}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text("")
    (tmp_path / "rules").mkdir()
    return tmp_path


def test_bash(capsys: pytest.CaptureFixture[str], workdir: Path, tmp_path: Path) -> None:
    bash = require_tool("bash", "bash")
    script = tmp_path / "remediator.bash"
    script.write_text(completion_script("bash", capsys))
    assert "complete -F _remediator remediator" in script.read_text()
    for words, expected in CASES:
        assert ask([bash, "-c"], f"source {script}", words, workdir) == expected, words


def test_zsh(capsys: pytest.CaptureFixture[str], workdir: Path, tmp_path: Path) -> None:
    zsh = require_tool("zsh", "zsh")
    script = tmp_path / "_remediator"
    script.write_text(completion_script("zsh", capsys))
    assert script.read_text().startswith("#compdef remediator\n")
    assert subprocess.run([zsh, "-n", str(script)], capture_output=True).returncode == 0
    # as bashcompinit's wrapper runs it: sh emulation (0-based arrays)
    setup = f"autoload -U compinit && compinit -u -D\nsource {script}\nemulate sh\nsetopt kshglob noshglob"
    for words, expected in CASES:
        offered = ask([zsh, "-f", "-c"], setup, words, workdir)
        assert {w for w in offered if w.startswith(words[-1])} == expected, words


def test_unknown_shell_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["completion", "fish"])
    assert "invalid choice: 'fish'" in capsys.readouterr().err
