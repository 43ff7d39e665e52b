# mcpgate's container image: the runtime of the GitHub Action (action.yml) and the image for
# `docker run`, GitLab CI and Jenkins.
#
#   docker build -t mcpgate .
#   docker run --rm mcpgate run --url https://mcp.example.com/mcp --profile smoke
#   docker run --rm -e INPUT_URL=... -e INPUT_PROFILE=smoke mcpgate      # as the action runs it
#
# The base comes from a build argument: the published image uses the official slim Python image,
# while a machine that cannot pull from a registry builds on a local base
# (tests/container/build-and-test.sh passes BASE_IMAGE=localhost/bookworm-python:local).
# Both stages must use the same base: the virtual environment built in the first stage points at
# the base's interpreter.
ARG BASE_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------------------------
# Build stage: the virtual environment /opt/mcpgate with mcpgate and its dependencies.
FROM ${BASE_IMAGE} AS build

# Packages to build from source even where a wheel exists, e.g. "hdrhistogram": exercises on
# x86_64 the path an arm64 build always takes (hdrhistogram ships no aarch64 wheels).
ARG BUILD_FROM_SOURCE=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src

# Dependencies first (their own layer, rebuilt only when pyproject.toml changes), from wheels.
# Only when a wheel is missing (hdrhistogram on aarch64) does this stage install a compiler, plus
# the Python headers when the base lacks them (the official images have them, Debian's python3
# does not). None of it reaches the final stage.
COPY pyproject.toml ./
# DL3008: the compiler is whatever the base's Debian release ships; SC2086: $packages is a list.
# hadolint ignore=DL3008,SC2086
RUN set -eu; \
    python3 -m venv /opt/mcpgate; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt; \
    if ! /opt/mcpgate/bin/pip install --only-binary=:all: ${BUILD_FROM_SOURCE:+--no-binary="$BUILD_FROM_SOURCE"} \
            -r /tmp/requirements.txt; then \
        echo "a dependency has no wheel here: installing a compiler to build it"; \
        packages="gcc libc6-dev"; \
        python3 -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' \
            2>/dev/null || packages="$packages python3-dev"; \
        apt-get update; \
        apt-get install -y --no-install-recommends $packages; \
        /opt/mcpgate/bin/pip install ${BUILD_FROM_SOURCE:+--no-binary="$BUILD_FROM_SOURCE"} -r /tmp/requirements.txt; \
    fi

# Then mcpgate itself (a plain, non-editable install: the source tree is not needed afterwards).
# Installers leave the environment: the final image runs mcpgate, it installs nothing. pip goes,
# and so do pbr and setuptools, which hdrhistogram declares but only its build uses (hdrh imports
# neither; the import check below proves it): about 9 MB.
COPY README.md ./
COPY mcpgate ./mcpgate
RUN set -eu; \
    /opt/mcpgate/bin/pip install --no-deps . ; \
    /opt/mcpgate/bin/pip uninstall -y pbr setuptools wheel pip; \
    /opt/mcpgate/bin/python -c 'import importlib, pkgutil, mcpgate; \
        [importlib.import_module(m.name) for m in pkgutil.walk_packages(mcpgate.__path__, "mcpgate.") \
         if not m.name.endswith("__main__")]; \
        from hdrh.histogram import HdrHistogram; h = HdrHistogram(1, 60000, 3); h.record_value(5); h.encode()'

# ---------------------------------------------------------------------------------------------
# Final stage: the base image, the virtual environment and the entrypoint; no build tools.
FROM ${BASE_IMAGE}

ARG VERSION=dev
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="Load-test gate for MCP servers: the real protocol flow under staged load, k6-style thresholds, a CI verdict." \
      org.opencontainers.image.source="https://github.com/mcpgate/mcpgate" \
      org.opencontainers.image.url="https://github.com/mcpgate/mcpgate" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

ENV PATH=/opt/mcpgate/bin:$PATH \
    PYTHONUNBUFFERED=1

COPY --from=build /opt/mcpgate /opt/mcpgate
COPY entrypoint.py /entrypoint.py
COPY examples/mcpgate.yaml /usr/share/mcpgate/examples/mcpgate.yaml

# No USER: GitHub runs docker actions as the image's default user and requires root ("Docker
# actions must be run by the default Docker user (root)"): the runner's /github/file_commands
# files are root-owned. Outside Actions, `docker run --user UID` works too.
#
# No init (tini, dumb-init): the entrypoint's Python process is PID 1 and handles SIGTERM and
# SIGINT itself (mcpgate run stops new iterations, writes results and exits 105), and it reaps the
# processes it starts. A command it hands over to (`sh`, `cat`) is exec'd and becomes PID 1.
# `docker run --init` remains available for anyone who wants one anyway.
#
# Exec form: Python receives the signals, not a shell. entrypoint.py runs the action when called
# with no arguments, runs mcpgate for an mcpgate verb (`run`, `probe`, ...), and execs any other
# command, so GitLab (`sh` with the job script) and Jenkins (`cat`) can use the image as it is.
ENTRYPOINT ["/opt/mcpgate/bin/python", "/entrypoint.py"]
