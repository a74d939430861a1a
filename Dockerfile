FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# collectstatic needs settings that load; these values exist only for this build step.
RUN DEBUG=false SECRET_KEY=collectstatic-only VICIDIAL_API_PASS=collectstatic-only \
    AUDIT_HMAC_KEYS=build:Y29sbGVjdHN0YXRpYy1vbmx5LCBuZXZlciBzaWducyBhbiBldmVudA== \
    python manage.py collectstatic --noinput \
 && useradd --system --home /app portal && chown -R portal /app
USER portal

EXPOSE 8000
# The web container. The task worker is the same image with another command, one container
# per worker (docs/DEPLOY.md, Task workers); `docker stop` sends SIGTERM, and the worker
# finishes its call first, so give it time: `--stop-timeout 40`.
#   docker run -d --env-file /etc/portal/env --stop-timeout 40 alias-portal python manage.py portal_worker
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn portal.wsgi:application --bind 0.0.0.0:8000 --workers ${GUNICORN_WORKERS:-4} --timeout ${GUNICORN_TIMEOUT:-60} --access-logfile -"]
