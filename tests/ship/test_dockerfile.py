"""The Dockerfile builds with every builder: BuildKit, and the classic ones (Debian's docker.io 20.10,
podman 4.3, buildah 1.28), which know no heredocs, no `RUN --mount` and no `# syntax=` frontends.

Read with dockerfile-parse, which parses as the classic builders do: a heredoc's lines come out as
instructions of their own (`HTTP:`, `LISTEN:`), exactly what makes those builders fail.
"""

from __future__ import annotations

import io
import json
import shlex
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from remediator.config import load_settings
from tests.ship.conftest import REPO

# Every instruction the classic builders know (Dockerfile reference, without BuildKit extensions).
CLASSIC = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
# Flags the classic builders accept, per instruction (`COPY --chmod`, `--link`, `RUN --mount`,
# `--network`, `--security` are BuildKit's).
CLASSIC_FLAGS = {"COPY": {"--from", "--chown"}, "ADD": {"--chown"}, "FROM": {"--platform"}}


def instructions() -> list[dict[str, Any]]:
    parser = DockerfileParser(fileobj=io.BytesIO((REPO / "Dockerfile").read_bytes()))
    return [i for i in parser.structure if i["instruction"] != "COMMENT"]


def final_stage() -> list[dict[str, Any]]:
    found = instructions()
    last_from = max(n for n, i in enumerate(found) if i["instruction"] == "FROM")
    return found[last_from:]


def test_only_classic_syntax() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "<<" not in text, "heredocs are BuildKit-only"
    assert not any(line.lower().startswith("# syntax=") for line in text.splitlines())
    for i in instructions():
        assert i["instruction"] in CLASSIC, f"line {i['startline'] + 1}: {i['instruction']} {i['value']}"
        flags = {w.split("=", 1)[0] for w in shlex.split(i["value"]) if w.startswith("--")}
        if i["instruction"] in ("COPY", "ADD", "FROM"):
            assert flags <= CLASSIC_FLAGS[i["instruction"]], i
        if i["instruction"] == "RUN":
            assert not i["value"].lstrip().startswith("--"), f"RUN flags are BuildKit-only: {i['value']}"


def test_runs_as_non_root_with_the_journal_on_a_volume() -> None:
    final = final_stage()
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users == ["10001:10001"], "a numeric non-root user, so runAsNonRoot can verify it"
    assert [json.loads(i["value"]) for i in final if i["instruction"] == "VOLUME"] == [
        ["/var/lib/remediator"]
    ]
    assert [json.loads(i["value"]) for i in final if i["instruction"] == "ENTRYPOINT"] == [["remediator"]]
    # nothing after USER runs as root
    after_user = final[[i["instruction"] for i in final].index("USER") :]
    assert not [i for i in after_user if i["instruction"] in ("RUN", "COPY", "ADD")]


def test_copied_sources_exist_and_the_image_config_loads(tmp_path: Path) -> None:
    for i in instructions():
        if i["instruction"] != "COPY" or i["value"].startswith("--from="):
            continue
        *sources, _dest = shlex.split(i["value"])
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the build context"
    copy = next(i for i in instructions() if i["value"].endswith(" /etc/remediator/remediator.yaml"))
    image_config = REPO / shlex.split(copy["value"])[0]
    settings = load_settings(image_config)  # strict: unknown keys are errors
    assert settings.http.listen == "0.0.0.0:8080"
    assert str(settings.journal.path) == "/var/lib/remediator/remediator.sqlite"
    assert [str(p) for p in settings.rules] == ["/app/rules"]
