# syntax=docker/dockerfile:1
# The portal's image: `docker build -t alias-portal .` (docs/DEPLOY.md, "The image").
# One image, three commands (bin/entrypoint.sh): web (the default), worker and migrate.

# --- build: the virtualenv and the collected static files ------------------------------
FROM python:3.11-slim-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Every pin in requirements.txt ships wheels for amd64 and arm64, so no compiler is needed;
# should one ever need building, install build-essential here, never in the final stage.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings that load; these values exist only for this build step and
# never reach the final image.
RUN DEBUG=false SECRET_KEY=collectstatic-only VICIDIAL_API_PASS=collectstatic-only \
    AUDIT_HMAC_KEYS=build:Y29sbGVjdHN0YXRpYy1vbmx5LCBuZXZlciBzaWducyBhbiBldmVudA== \
    python manage.py collectstatic --noinput \
 && python -m compileall -q aliases portal

# --- final: no compiler, no pip cache, not root ----------------------------------------
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=portal.settings PORT=8000
RUN groupadd --system --gid 10001 portal \
 && useradd --system --uid 10001 --gid portal --home-dir /nonexistent --no-create-home portal
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Owned by root and read-only to the portal user: a compromised worker cannot rewrite code.
COPY --from=build /app /app
USER 10001:10001

EXPOSE 8000
# Healthy while /healthz/live answers 200: gunicorn and the database answer; a VICIdial
# outage restarts nothing (/healthz reports it: aliases/views/health.py). A worker or
# migrate container has nothing to probe.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/app/bin/healthcheck.py"]
# `docker stop` sends SIGTERM: gunicorn drains requests for GUNICORN_GRACEFUL_TIMEOUT, a
# worker finishes its VICIdial call first, so give it time: `--stop-timeout 40`.
ENTRYPOINT ["/app/bin/entrypoint.sh"]
CMD ["web"]
