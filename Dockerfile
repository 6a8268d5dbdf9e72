# PVARA: one image for every role (`pvara api`, `pvara bridge`, `pvara worker --pool NAME`,
# `pvara scheduler`, `pvara migrate`). Build: `make image` (README, k8s/README.md).
#
# BASE is a slim Python 3.11 image pinned by digest; refresh the digest with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# (Dependabot proposes new digests, .github/dependabot.yml). Any Debian-like image with
# python3 (venv included) and useradd works: the smoke test builds on a local base made with
# debootstrap (ops/image.py), since no registry of base images is reachable there.
ARG BASE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# --- build: a virtualenv with the locked dependencies and PVARA -----------------------------
FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/pvara
# Exact versions and hashes only: a changed or unlisted file fails the build. Wheels only,
# except openapi-ui-bundles (Swagger UI's static files), which PyPI has only as a pure-Python
# sdist; it is built here, in the build stage. Behind a TLS-inspecting proxy, pass its CA as
# the build secret `pip-ca` (never stored in a layer):
#   docker build --secret id=pip-ca,src=/etc/ssl/certs/ca-certificates.crt .
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    /opt/pvara/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        --no-binary=openapi-ui-bundles -r /tmp/requirements.lock
COPY pyproject.toml /src/
COPY core /src/core
COPY ingest /src/ingest
COPY tasks /src/tasks
COPY screening /src/screening
COPY scheduler /src/scheduler
COPY api /src/api
COPY ops /src/ops
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    /opt/pvara/bin/pip install --no-deps /src \
 && /opt/pvara/bin/pip uninstall --yes pip setuptools wheel \
 && find /opt/pvara -name '__pycache__' -prune -exec rm -rf {} +

# --- runtime: the virtualenv and a non-root user, nothing else -------------------------------
FROM ${BASE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pvara" \
      org.opencontainers.image.description="High-volume job-application intake and AI screening" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Proprietary"
# UID/GID 10001, as the Kubernetes manifests expect (runAsUser/runAsGroup).
RUN groupadd --system --gid 10001 pvara \
 && useradd --system --uid 10001 --gid pvara --home-dir /var/lib/pvara --create-home \
        --shell /usr/sbin/nologin pvara
COPY --from=build /opt/pvara /opt/pvara
ENV PATH=/opt/pvara/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PVARA_HOME=/var/lib/pvara \
    PVARA_AUTO_INSTALL=0 \
    PVARA_API_HOST=0.0.0.0 \
    PVARA_API_PORT=8000
USER 10001:10001
WORKDIR /var/lib/pvara
EXPOSE 8000
# The API answers /health/live; a worker checks its own heartbeat in Redis; the bridge and the
# scheduler are healthy while they run (ops/healthcheck.py). Kubernetes uses its own probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["pvara", "healthcheck"]
ENTRYPOINT ["pvara"]
CMD ["api"]
