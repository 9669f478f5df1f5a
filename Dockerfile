# syntax=docker/dockerfile:1
# One image for every paymentsvc process; the command picks which:
#   docker run IMAGE                          -> billing-server (the default)
#   docker run IMAGE webhook-gateway          -> the webhook gateway
#   docker run IMAGE billing-admin migrate    -> any operator command
#   docker run IMAGE stripe-emulator ...      -> the local Stripe emulator
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: wheels for the project and its client library ------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Every dependency ships a manylinux wheel today; the compiler is here only so
# that a dependency without one still builds. It never reaches the final image.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every package pyproject.toml lists under [tool.setuptools.packages.find]
# (tests/deploy/test_image_install.py builds and runs exactly this set).
COPY clients/python/ clients/python/
COPY pyproject.toml README.md ./
COPY billing_server/ billing_server/
COPY paymentsvc_observability/ paymentsvc_observability/
COPY stripe_emulator/ stripe_emulator/
COPY webhook_gateway/ webhook_gateway/
# Both local projects in one resolve: the directory requirement is the only
# candidate pip accepts for paymentsvc-client, so a package of that name on a
# public index can never replace it. The emulator extra: one image runs
# every console script, stripe-emulator included.
RUN pip wheel --wheel-dir /wheels ./clients/python '.[emulator]'

# --- runtime: the wheels, a non-root user, nothing to compile with -----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --system --gid 10001 paymentsvc \
    && useradd --system --uid 10001 --gid paymentsvc --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin paymentsvc
# --no-index: only the wheels built above are installed; the bind mount keeps
# them out of the image's layers.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels 'paymentsvc[emulator]'
WORKDIR /app
# Listen on every interface of the container; the code's defaults are loopback.
ENV PAYMENTSVC_GRPC_ADDRESS=0.0.0.0:50051 \
    PAYMENTSVC_METRICS_ADDRESS=0.0.0.0:9464 \
    PAYMENTSVC_GATEWAY_HOST=0.0.0.0
# 50051 gRPC (billing-server), 9464 Prometheus metrics (billing-server),
# 8080 HTTP (webhook-gateway).
EXPOSE 50051 9464 8080
# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# The default command's health: billing-probe imports grpc alone and answers
# in a fraction of a second, so the timeout holds on a loaded host. Other
# commands bring their own check (docker-compose.yml) or none (one-shots).
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
    CMD ["billing-probe", "--timeout", "5"]
# No ENTRYPOINT: the command is the console script to run. Both servers
# handle SIGTERM themselves (drain, then exit 0).
CMD ["billing-server"]
