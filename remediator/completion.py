"""Shell completion for `remediator`: `remediator completion bash|zsh` prints a script.

Generated from the argparse parser itself, so every subcommand (`ctl pause`, `ctl dry-run`...),
option and choice completes as the command line defines it, and a new option completes without
touching this file. One bash function serves both shells: zsh loads it through `bashcompinit`.

    source <(remediator completion bash)          # ~/.bashrc
    source <(remediator completion zsh)           # ~/.zshrc (after compinit)

Option values: choices complete as choices; files and directories for options and arguments that
name paths (`--config`, `--rules`, `check`'s and `test`'s paths); nothing for free text (`--reason`).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field

SHELLS = ("bash", "zsh")
# Destinations whose values are paths: complete files there (other values are free text).
_PATH_DESTS = frozenset({"config", "rules", "paths", "path", "file", "kubeconfig", "output_file"})


@dataclass(frozen=True, slots=True, kw_only=True)
class _Command:
    path: str  # "" for `remediator`, "ctl pause" for `remediator ctl pause`
    words: tuple[str, ...]  # subcommands, options and positional choices
    valued: dict[str, str] = field(default_factory=dict)  # option -> "choices ..." | "files" | ""
    files: bool = False  # positional arguments are paths


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for `shell` (bash or zsh)."""
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}: expected one of {', '.join(SHELLS)}")
    commands = list(_walk(parser, ""))
    body = _bash_function(commands, prog=parser.prog)
    if shell == "bash":
        return f"# bash completion for {parser.prog}: source <({parser.prog} completion bash)\n{body}"
    return (
        f"#compdef {parser.prog}\n"
        f"# zsh completion for {parser.prog}: source <({parser.prog} completion zsh), after compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n"
        f"{body}"
    )


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[_Command]:
    words: list[str] = []
    valued: dict[str, str] = {}
    files = False
    children: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                children.append((name, sub))
            continue
        if action.option_strings:
            words.extend(action.option_strings)
            if action.nargs != 0:  # takes a value
                for opt in action.option_strings:
                    valued[opt] = _value_kind(action)
            continue
        if action.choices:
            words.extend(str(c) for c in action.choices)
        elif action.dest in _PATH_DESTS:
            files = True
    yield _Command(path=path, words=tuple(words), valued=valued, files=files)
    for name, sub in children:
        yield from _walk(sub, f"{path} {name}".strip())


def _value_kind(action: argparse.Action) -> str:
    if action.choices:
        return "choices " + " ".join(str(c) for c in action.choices)
    return "files" if action.dest in _PATH_DESTS else ""


def _bash_function(commands: list[_Command], *, prog: str) -> str:
    name = "_" + prog.replace("-", "_")
    paths = " ".join(f"|{c.path}|" for c in commands)  # inside double quotes: `|ctl pause|`
    cases: list[str] = []
    for c in commands:
        value_cases = "".join(
            f"          {shlex.quote(opt)}) kind={shlex.quote(kind)} ;;\n"
            for opt, kind in sorted(c.valued.items())
        )
        cases.append(
            f"    {shlex.quote(c.path)})\n"
            f"      words={shlex.quote(' '.join(c.words))}\n"
            f"      files={'1' if c.files else ''}\n"
            f'      case "$prev" in\n{value_cases}      esac\n'
            "      ;;\n"
        )
    return f"""{name}() {{
  local cur prev path="" w i words="" files="" kind="-"
  cur="${{COMP_WORDS[COMP_CWORD]}}"
  prev="${{COMP_WORDS[COMP_CWORD-1]}}"
  # The subcommand path so far: words that extend a known command path (options and values skipped).
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    case " {paths} " in
      *" |${{path:+$path }}$w| "*) path="${{path:+$path }}$w" ;;
    esac
  done
  case "$path" in
{"".join(cases)}  esac
  COMPREPLY=()
  case "$kind" in
    -) ;;
    files) COMPREPLY=( $(compgen -f -- "$cur") ); return 0 ;;
    "choices "*) COMPREPLY=( $(compgen -W "${{kind#choices }}" -- "$cur") ); return 0 ;;
    *) return 0 ;;
  esac
  if [[ "$cur" != -* && -n "$files" ]]; then
    COMPREPLY=( $(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur") )
  else
    COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  fi
  return 0
}}
complete -F {name} {prog}
"""
