# remediator's container image. Plain Dockerfile syntax (no heredocs, no RUN --mount), so every
# builder reads it: BuildKit, the classic builder of Debian's docker.io 20.10, podman and buildah.
#   docker build -t remediator:dev .
#   docker run --read-only -v remediator-data:/var/lib/remediator \
#     -e REMEDIATOR_WEBHOOK_TOKEN=... -p 8080:8080 remediator:dev
# Pin the base by digest for reproducible builds: --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------
# builder: build remediator's wheel and install it with its dependencies into a self-contained venv.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# A venv without pip or setuptools: the final image gets only remediator and its dependencies.
RUN python -m venv --without-pip /opt/venv

COPY pyproject.toml README.md ./
COPY remediator/ remediator/
# Wheels only for the dependencies (the final image has no compiler). Byte-compile everything now:
# the final image runs with a read-only root filesystem.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip --python /opt/venv/bin/python install --only-binary=:all: /wheels/*.whl \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------------------------
# final: the slim Python runtime, the venv, the default rules and config. No compiler, no pip.
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="remediator" \
      org.opencontainers.image.description="Alert-driven auto-remediation: Alertmanager/PagerDuty alerts -> YAML rules -> guarded Kubernetes actions" \
      org.opencontainers.image.licenses="Apache-2.0"

# Writes go only to the journal volume (and /tmp, an emptyDir in Kubernetes): the root filesystem
# can be mounted read-only. Bytecode was compiled in the builder.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REMEDIATOR_CONFIG=/etc/remediator/remediator.yaml

RUN groupadd --system --gid 10001 remediator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin remediator \
 && mkdir -p /var/lib/remediator /etc/remediator \
 && chown 10001:10001 /var/lib/remediator \
 && chmod 0750 /var/lib/remediator

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Defaults shipped with the image: the repository's rules and example configuration.
COPY rules/ /app/rules/
COPY config/ /app/config/

# The container's configuration: listen on all interfaces (a webhook token is then required, or it
# refuses to start: set REMEDIATOR_WEBHOOK_TOKEN), journal on the volume, the built-in rules. The Helm
# chart mounts its own configuration instead.
COPY config/container.yaml /etc/remediator/remediator.yaml

USER 10001:10001
VOLUME ["/var/lib/remediator"]
EXPOSE 8080

# No curl in the slim image: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["remediator"]
CMD ["serve", "--config", "/etc/remediator/remediator.yaml"]
