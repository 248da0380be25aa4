# The product's one image: the worker (`python -m workers`, the default command), the
# one-shot `complaints migrate` job and every other `complaints` command, and the HTTP API
# (`complaints serve`). docker-compose.yml runs it; configuration is by environment only
# (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE, DATABASE_URL, SMTP_HOST, SMTP_PORT,
# MAIL_FROM, COMPLAINTS_POLICY, COMPLAINTS_TEMPLATES, WORKFLOW_CACHE_SIZE, METRICS_PORT,
# LOG_FORMAT).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COMPLAINTS_TEMPLATES=/app/templates

WORKDIR /app
# The source (see .dockerignore for what stays out), installed with its runtime
# dependencies only: the dev extra (embedded PostgreSQL, Temporal dev server) is for laptops.
COPY . .
# `--build-arg PIP_EXTRAS='[otel]'`: an image that traces (OTEL_EXPORTER_OTLP_ENDPOINT).
ARG PIP_EXTRAS=""
RUN pip install ".${PIP_EXTRAS}" \
    && useradd --system --uid 10001 --home-dir /app complaints
USER complaints

# SIGTERM lets activities in hand finish (workers/worker.py); compose waits 15 s for it.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "workers"]
